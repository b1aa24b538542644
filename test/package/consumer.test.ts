import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { jobId as sourceJobId } from '../../src/queue/jobs.js';
import { openWeights } from '../../src/weights/index.js';
import { filesUnder, modulePage, pageResult, withBrowserPage } from '../support/browser.js';
import { ensureTinyModel } from '../support/tiny-model.js';

// geolens as a user gets it: `npm pack` (which builds on prepack), then `npm install <tarball>` into a fresh
// project under a temporary folder (npm resolves the declared dependencies itself, from its cache when it
// holds them, else the registry), and apps in that project built or run with their own tools and no extra
// config: the bin from node_modules/.bin, Node scripts, TypeScript, and bundles run in headless Chromium.
// A dependency missing from package.json is missing there too.
const ROOT = process.cwd();
const TOOLS = join(ROOT, 'node_modules');
const FIXTURES = resolve('test/fixtures/generated/api');
const KAUAI = resolve('../shared/data/geoclip/Kauai.png');
const WORK = mkdtempSync(join(tmpdir(), 'geolens-consumer-'));

interface Packed {
  tarball: string;
  files: string[];
  manifest: { version: string; dependencies: Record<string, string>; main: string; browser: string; bin: Record<string, string>; exports: Record<string, Record<string, string> | string>; scripts: Record<string, string> };
}

let packed: Packed | null = null;

function pack(): Packed {
  if (packed) return packed;
  const report = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', WORK], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { filename: string; files: { path: string }[] }[];
  const tarball = join(WORK, report[0]!.filename);
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as Packed['manifest'];
  packed = { tarball, files: report[0]!.files.map((file) => file.path).sort(), manifest };
  return packed;
}

let project: string | null = null;

/** A fresh project with the tarball installed by `npm install <tarball>`, once for every test here. */
function installedProject(): string {
  if (project) return project;
  const { tarball } = pack();
  const dir = join(WORK, 'project');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'geolens-consumer', private: true, type: 'module' }));
  const started = performance.now();
  const run = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error', tarball], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
  assert.is(run.status, 0, `npm install ${tarball} failed:\n${run.stdout}\n${run.stderr}`);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.ok(manifest.dependencies.geolens?.startsWith('file:'), `the project depends on the tarball: ${JSON.stringify(manifest.dependencies)}`);
  console.log(`  npm install <tarball>: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  project = dir;
  return dir;
}

/**
 * An app folder inside the installed project: 'geolens' resolves through the project's node_modules, as
 * in a user's project. `extra` tools a consumer brings along (not geolens dependencies) are linked there.
 */
function consumer(name: string, extra: string[] = []): string {
  const root = installedProject();
  for (const tool of extra) {
    const link = join(root, 'node_modules', tool);
    if (existsSync(link)) continue;
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(TOOLS, tool), link, 'dir');
  }
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  return dir;
}

type Located = { places: { galleryIndex: number; probability: number }[] };

/** Opens a built app in headless Chromium and holds its answer to PyTorch's top-5 (page errors fail it). */
async function runInChromium(where: string, app: Record<string, string | Uint8Array>, path: string): Promise<void> {
  const want = await expectedTop5();
  // The browser asks for a favicon on its own; served, so every request the app makes must succeed.
  const files = { '/favicon.ico': new Uint8Array(0), ...app, ...filesUnder('/fixtures/', FIXTURES), '/data/Kauai.png': KAUAI };
  await withBrowserPage(files, path, async (run) => {
    const located = await pageResult<Located>(run, 'geolensResult');
    assertTop5(located.places, want, where);
    assert.equal(run.server.log.filter((r) => r.status >= 400).map((r) => `${r.path} ${r.status}`), [], `${where}: failed requests`);
    assert.equal(run.consoleErrors, [], `${where}: console errors`);
  });
}

function fixture(): void {
  ensureTinyModel();
}

async function expectedTop5(): Promise<{ index: number[]; probability: Float32Array }> {
  const expected = await openWeights(`${FIXTURES}/expected.safetensors`);
  const result = { index: Array.from(await expected.readF32('topk_index')), probability: await expected.readF32('topk_probability') };
  await expected.close();
  return result;
}

function assertTop5(places: { galleryIndex: number; probability: number }[], want: { index: number[]; probability: Float32Array }, where: string): void {
  assert.equal(places.map((p) => p.galleryIndex), want.index, `${where}: gallery indices`);
  places.forEach((p, i) => assert.ok(Math.abs(p.probability - want.probability[i]!) <= 1e-5, `${where}: probability ${i}: ${p.probability} vs ${want.probability[i]}`));
}

/** The app every bundler gets: the public import, weights named relative to the page, the top 5 on `window`. */
const BROWSER_APP = `import { GeoLocator, clearCache, listCache } from 'geolens';

async function main() {
  const locator = await GeoLocator.create({
    clipWeights: '/fixtures/clip.safetensors',
    clipConfig: './fixtures/config.json',
    geoclipWeights: 'fixtures/geoclip.safetensors',
    gallery: '/fixtures/gallery.csv',
    galleryCache: false,
  });
  const [result] = await locator.locate('/data/Kauai.png', { topK: 5 });
  const places = result.places.map((p) => ({ galleryIndex: p.galleryIndex, probability: p.probability }));
  // The Cache API as a download would have left it, then listed and cleared.
  await (await caches.open('geolens')).put('https://weights.invalid/w.bin', new Response(new Uint8Array(4321)));
  const listed = await listCache();
  const cleared = await clearCache();
  return { places, listed, cleared, after: await listCache() };
}

main().then(
  (result) => { window.geolensResult = result; },
  (error) => { window.geolensResult = { error: String(error && error.message || error) }; },
);
`;

/** What a Node-only import would look like in a bundle: a node:* module, or a specifier a bundler cannot follow. */
function nodeImports(code: string): string[] {
  return [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)(["'`])(node:[^"'`]+)\1/g)].map((m) => m[2]!);
}

test('the tarball holds the built library, its declarations and README, and nothing else', () => {
  const { files, manifest } = pack();
  const unexpected = files.filter((file) => !/^(README\.md|package\.json|dist\/(index|browser|cli|queue)\.js|dist\/types\/.+\.d\.ts)$/.test(file));
  assert.equal(unexpected, [], 'files beyond the library, CLI, declarations and README');
  assert.equal(files.filter((file) => file.endsWith('.map')), [], 'source maps');
  for (const named of [manifest.main, manifest.browser, ...Object.values(manifest.bin), ...Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry)))]) {
    assert.ok(files.includes(named.replace(/^\.\//, '')), `package.json names ${named}, which the tarball lacks`);
  }
  const root = manifest.exports['.'] as Record<string, string>;
  assert.equal(Object.keys(root), ['types@<6', 'types', 'browser', 'node', 'default']);
  assert.is.not(root.browser, root.node, 'browsers get their own bundle');
  assert.ok(manifest.scripts.prepack && !manifest.scripts.prepare, 'builds on prepack, not prepare');
  assert.ok(manifest.dependencies['@webgpu/types'], '@webgpu/types is a dependency: the TS 5 declarations reference it');
});

test('the browser bundle names no Node module', () => {
  const dir = installedProject();
  const browser = readFileSync(join(dir, 'node_modules/geolens/dist/browser.js'), 'utf8');
  assert.equal(nodeImports(browser), []);
  assert.not.match(browser, /\bimport\s*\(\s*[^"'`\s]/, 'a dynamic import with a computed specifier');
  // The Node bundle does import them: the check above can see one.
  assert.ok(nodeImports(readFileSync(join(dir, 'node_modules/geolens/dist/index.js'), 'utf8')).includes('node:fs/promises'));
});

test('esbuild --platform=browser bundles the package as it is; in Chromium the bundle locates Kauai.png as PyTorch does (weights named relative to the page) and lists and clears the Cache API', async () => {
  fixture();
  const dir = consumer('esbuild');
  writeFileSync(join(dir, 'app.js'), BROWSER_APP);
  const result = await build({ absWorkingDir: dir, entryPoints: ['app.js'], bundle: true, platform: 'browser', format: 'esm', outfile: 'out/app.js', logLevel: 'silent' });
  assert.equal(result.warnings.map((w) => w.text), [], 'esbuild warnings');
  const bundle = readFileSync(join(dir, 'out/app.js'), 'utf8');
  assert.equal(nodeImports(bundle), []);

  const want = await expectedTop5();
  const files = {
    '/index.html': modulePage('/app.js'),
    '/app.js': join(dir, 'out/app.js'),
    ...filesUnder('/fixtures/', FIXTURES),
    '/data/Kauai.png': KAUAI,
  };
  await withBrowserPage(files, '/index.html', async (run) => {
    const located = await pageResult<{ places: { galleryIndex: number; probability: number }[]; listed: unknown; cleared: unknown; after: unknown }>(run, 'geolensResult');
    assertTop5(located.places, want, 'Chromium');
    // The weights fetched from the page's server were cached on the way in; each is listed at its file's size.
    const listed = located.listed as { kind: string; location: string; bytes: number }[];
    const fromServer = listed.filter((entry) => entry.location.startsWith(`${run.server.url}/fixtures/`));
    assert.ok(fromServer.length > 0, 'the fixtures were cached as they were downloaded');
    for (const entry of fromServer) assert.equal(entry, { kind: 'download', location: entry.location, bytes: statSync(join(FIXTURES, entry.location.split('/').pop()!)).size });
    assert.equal(listed.filter((entry) => !fromServer.includes(entry)), [{ kind: 'download', location: 'https://weights.invalid/w.bin', bytes: 4321 }]);
    assert.equal(located.cleared, { entries: listed.length, bytes: listed.reduce((sum, entry) => sum + entry.bytes, 0), where: ['geolens', 'geolens-galleries'] });
    assert.equal(located.after, []);
  });
});

test('Vite builds the package with no config and no warning; in Chromium the bundle locates Kauai.png as PyTorch does', async () => {
  fixture();
  const dir = consumer('vite');
  writeFileSync(join(dir, 'app.js'), BROWSER_APP);
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/app.js"></script>\n');
  const run = spawnSync(process.execPath, [join(TOOLS, 'vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.is(run.status, 0, `vite build failed:\n${run.stdout}\n${run.stderr}`);
  // Vite's chunk-size advice is about the lazily loaded country borders (place names), not a problem with the package.
  // Colours are on under CI=true (picocolors); the text is what counts.
  const output = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').replace(/\[plugin:? ?builtin:vite-reporter\]\s*\n?\(!\) Some chunks are larger than [^\n]*(\n- [^\n]*)*/g, '');
  assert.is(output.trim(), '', 'vite printed warnings');
  const assets = readdirSync(join(dir, 'dist/assets')).filter((name) => name.endsWith('.js'));
  assert.ok(assets.length > 0, 'no JS asset');
  // The kernels' WGSL is inlined in the app's chunk; lazily loaded chunks (place-name data) need none.
  assert.ok(assets.some((asset) => /@compute/.test(readFileSync(join(dir, 'dist/assets', asset), 'utf8'))), 'no chunk carries the inlined WGSL');
  for (const asset of assets) {
    const code = readFileSync(join(dir, 'dist/assets', asset), 'utf8');
    assert.equal(nodeImports(code), [], asset);
  }
  await runInChromium('Vite bundle', filesUnder('/', join(dir, 'dist')), '/index.html');
});

test('webpack 5 builds the package with its defaults and no warning; in Chromium the bundle locates Kauai.png as PyTorch does', async () => {
  fixture();
  const dir = consumer('webpack');
  // webpack's defaults: ./src/index.js in, ./dist/main.js out, production mode, browser target.
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/index.js'), BROWSER_APP);
  const script = `import webpack from ${JSON.stringify(join(TOOLS, 'webpack/lib/index.js'))};
webpack({ context: process.cwd(), mode: 'production' }, (error, stats) => {
  if (error) { console.log(JSON.stringify({ errors: [String(error)], warnings: [] })); return; }
  const json = stats.toJson({ all: false, errors: true, warnings: true });
  // Size hints are webpack's advice about any bundle over 244 KiB, not a problem with the package.
  const sizeHint = (w) => /exceed(s)? the recommended size limit|asset size limit|entrypoint size limit|performance/i.test(w.message);
  console.log(JSON.stringify({ errors: json.errors.map((e) => e.message), warnings: json.warnings.filter((w) => !sizeHint(w)).map((w) => w.message) }));
});
`;
  writeFileSync(join(dir, 'build.mjs'), script);
  const run = spawnSync(process.execPath, ['build.mjs'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.is(run.status, 0, `webpack run failed:\n${run.stdout}\n${run.stderr}`);
  const stats = JSON.parse(run.stdout.trim().split('\n').pop()!) as { errors: string[]; warnings: string[] };
  assert.equal(stats.errors, [], 'webpack errors');
  assert.equal(stats.warnings, [], 'webpack warnings');
  const code = readFileSync(join(dir, 'dist/main.js'), 'utf8');
  assert.equal(nodeImports(code), []);
  assert.match(code, /@compute/);
  // webpack's default output is a classic script (its runtime finds its own URL through currentScript).
  const page = new TextEncoder().encode('<!doctype html><meta charset="utf-8"><script src="/main.js"></script>');
  await runInChromium('webpack bundle', { ...filesUnder('/', join(dir, 'dist')), '/index.html': page }, '/index.html');
});

const TYPED_APP = `import { GeoLocator, GeolensError, clearCache, listCache, type CacheEntry, type LocateResult, type Place } from 'geolens';

export async function topPlace(photo: string | Uint8Array): Promise<Place | undefined> {
  const locator = await GeoLocator.create({
    clipWeights: 'clip.safetensors',
    clipConfig: 'config.json',
    geoclipWeights: 'geoclip.safetensors',
    gallery: 'gallery.csv',
    onProgress: (progress) => void progress.done,
  });
  const results: LocateResult[] = await locator.locate([photo], { topK: 5 });
  const device: GPUDevice = locator.gpu.device;
  device.label = 'consumer';
  locator.release();
  return results[0]?.places[0];
}

export async function cachedBytes(): Promise<number> {
  const entries: CacheEntry[] = await listCache({ cacheDir: 'geolens-cache' });
  const cleared = await clearCache({ cacheDir: 'geolens-cache' });
  return entries.reduce((sum, entry) => sum + entry.bytes, 0) - cleared.bytes;
}

export const isGeolensError = (error: unknown): boolean => error instanceof GeolensError;
`;

/** A Node service over both entry points: the library and the queue (which is Node-only). */
const TYPED_QUEUE_APP = `import { GeoLocator, type LocateResult } from 'geolens';
import { collectResults, createWorker, enqueue, jobId, queueStatus, type EnqueueSummary, type GeolensWorker, type QueueStatus } from 'geolens/queue';

const connection = { redis: 'redis://127.0.0.1:6379', queue: 'photos' };

export async function addPhotos(folder: string): Promise<EnqueueSummary> {
  return enqueue([folder], connection);
}

export async function startWorker(locator: GeoLocator): Promise<GeolensWorker> {
  return createWorker({ ...connection, locator, batchSize: 4 });
}

export async function backlog(): Promise<number> {
  const status: QueueStatus = await queueStatus(connection);
  return status.waiting + status.active;
}

export async function drain(lines: LocateResult[]): Promise<number> {
  const done = await collectResults({ ...connection, writeLine: (line) => void lines.push(JSON.parse(line) as LocateResult) });
  return done.results + done.errors;
}

export const idOf = (photo: string): string => jobId(photo);
`;

// A browser app (DOM lib, bundler resolution, no Node types) and a Node app (nodenext, @types/node, no DOM
// lib) that also imports geolens/queue.
const TS_SETUPS = [
  { name: 'dom', compilerOptions: { lib: ['ES2022', 'DOM'], types: [], module: 'esnext', moduleResolution: 'bundler' }, files: ['app.ts', 'wrong.ts'] },
  { name: 'no-dom', compilerOptions: { lib: ['ES2022'], types: ['node'], module: 'nodenext', moduleResolution: 'nodenext' }, files: ['app.ts', 'queue-app.ts', 'redis-errors.d.ts', 'wrong.ts'] },
];

test('a TypeScript app type-checks against the declarations of both entry points with TypeScript 5 and 7, with and without the DOM lib (strict, no skipLibCheck)', () => {
  const dir = consumer('typescript', ['@types/node']);
  writeFileSync(join(dir, 'app.ts'), TYPED_APP);
  writeFileSync(join(dir, 'queue-app.ts'), TYPED_QUEUE_APP);
  // ioredis' own declarations import 'redis-errors', which ships no types: any strict project that checks
  // ioredis without skipLibCheck needs this one line, with geolens or without.
  writeFileSync(join(dir, 'redis-errors.d.ts'), `declare module 'redis-errors';\n`);
  // In the same program, so every run shows it can fail: a wrong type is reported, and only that one.
  writeFileSync(join(dir, 'wrong.ts'), `import type { Place } from 'geolens';\nexport const place: Place = { lat: 'north', lon: 0, probability: 1, galleryIndex: 0 };\n`);
  const failures: string[] = [];
  for (const setup of TS_SETUPS) {
    const config = `tsconfig.${setup.name}.json`;
    writeFileSync(join(dir, config), JSON.stringify({ compilerOptions: { ...setup.compilerOptions, target: 'ES2022', strict: true, skipLibCheck: false, noEmit: true }, files: setup.files }));
    for (const compiler of ['typescript-5', 'typescript']) {
      const run = spawnSync(process.execPath, [join(TOOLS, compiler, 'bin/tsc'), '-p', config, '--pretty', 'false'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      const errors = `${run.stdout}${run.stderr}`.split('\n').filter((line) => /error TS\d+/.test(line));
      const expected = errors.length === 1 && /^wrong\.ts\(2,\d+\): error TS2322/.test(errors[0]!);
      if (!expected) failures.push(`${compiler} ${setup.name}: exit ${run.status}\n${errors.slice(0, 10).join('\n')}`);
    }
  }
  assert.equal(failures, []);
});

test('the installed bin (node_modules/.bin/geolens) prints its version and device, and names a bad flag', () => {
  const bin = join(installedProject(), 'node_modules/.bin/geolens');
  assert.ok(existsSync(bin), 'npm linked no node_modules/.bin/geolens');
  const env = { ...process.env, GEOLENS_CACHE: join(WORK, 'cli-cache'), GEOLENS_QUIET: '1' };
  const geolens = (...args: string[]) => spawnSync(bin, args, { cwd: installedProject(), encoding: 'utf8', env, timeout: 150_000 });
  const version = geolens('--version');
  assert.is(version.status, 0, version.stderr);
  assert.is(version.stdout.trim(), pack().manifest.version);
  const info = geolens('info');
  assert.is(info.status, 0, info.stderr);
  assert.match(info.stdout + info.stderr, /adapter: \S/);
  // A bad flag is one line naming it (the CLI's option parsing, resolved from the install).
  const wrong = geolens('locate', '--top-k', 'many');
  assert.is(wrong.status, 1);
  assert.match(wrong.stderr.trim(), /^error: option .*--top-k <n>' argument 'many' is invalid\. 'many' is not a positive integer$/);
});

test('geolens/queue imports in Node from the installed package, with the functions its declarations name', () => {
  const dir = consumer('queue');
  writeFileSync(join(dir, 'queue.mjs'), `import * as queue from 'geolens/queue';
const kinds = Object.fromEntries(Object.entries(queue).map(([name, value]) => [name, typeof value]));
console.log(JSON.stringify({ kinds, id: queue.jobId('/photos/a.jpg'), other: queue.jobId('/photos/b.jpg') }));
`);
  const run = spawnSync(process.execPath, ['queue.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.is(run.status, 0, run.stderr);
  const { kinds, id, other } = JSON.parse(run.stdout.trim().split('\n').pop()!) as { kinds: Record<string, string>; id: string; other: string };
  for (const name of ['enqueue', 'createWorker', 'queueStatus', 'collectResults', 'jobId', 'locateMany', 'expandInputs', 'imageLocation']) assert.is(kinds[name], 'function', name);
  assert.is(kinds.DEFAULT_QUEUE, 'string');
  assert.is(id, sourceJobId('/photos/a.jpg'), 'the packaged jobId is the source\'s');
  assert.is.not(id, other);
});

test('a Node ESM script locates Kauai.png as PyTorch does and exits on its own', async () => {
  fixture();
  const dir = consumer('node');
  writeFileSync(join(dir, 'locate.mjs'), `import { GeoLocator } from 'geolens';

const locator = await GeoLocator.create({
  clipWeights: ${JSON.stringify(`${FIXTURES}/clip.safetensors`)},
  clipConfig: ${JSON.stringify(`${FIXTURES}/config.json`)},
  geoclipWeights: ${JSON.stringify(`${FIXTURES}/geoclip.safetensors`)},
  gallery: ${JSON.stringify(`${FIXTURES}/gallery.csv`)},
  galleryCache: false,
});
const [result] = await locator.locate(${JSON.stringify(KAUAI)}, { topK: 5 });
console.log(JSON.stringify(result.places));
locator.release();
locator.gpu.destroy();
`);
  const run = spawnSync(process.execPath, ['locate.mjs'], { cwd: dir, encoding: 'utf8', timeout: 150_000 });
  assert.is(run.signal, null, `killed by ${run.signal} after 150 s: it did not exit on its own\n${run.stderr}`);
  assert.is(run.status, 0, run.stderr);
  assertTop5(JSON.parse(run.stdout.trim().split('\n').pop()!), await expectedTop5(), 'Node');
});

// GEOLENS_TEST_TIMES=1 prints each test's seconds (the file has a time budget in the default suite).
let testStarted = 0;
test.before.each(() => void (testStarted = performance.now()));
test.after.each(() => void (process.env.GEOLENS_TEST_TIMES && console.log(`  ${((performance.now() - testStarted) / 1000).toFixed(1)} s`)));

test.after(() => rmSync(WORK, { recursive: true, force: true }));

test.run();

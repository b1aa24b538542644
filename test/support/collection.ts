// A generated photo collection for the batch and queue tests: small PNGs, each different, some corrupt,
// and the tiny model of test/fixtures/generated/api (scripts/fixtures/api_locate.py) to run them through.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { GeoLocator, type LocateOptions, type LocateResult } from '../../src/api/index.js';
import { fileGalleryCache } from '../../src/model/geoclip/gallery.js';
import { testGpu } from './gpu.js';
import { ensureTinyModel, TINY_MODEL_DIR } from './tiny-model.js';

export const MODEL_DIR = TINY_MODEL_DIR;
export const MODEL_FLAGS = ['--clip', `${MODEL_DIR}/clip.safetensors`, '--clip-config', `${MODEL_DIR}/config.json`, '--geoclip', `${MODEL_DIR}/geoclip.safetensors`, '--gallery', `${MODEL_DIR}/gallery.csv`];

export const ensureModel = ensureTinyModel;

export function isCorrupt(i: number): boolean {
  return i % 37 === 5;
}

/**
 * Writes `count` PNGs (size × size, a different seeded pattern each) into `dir`; every image with
 * isCorrupt(i) is damaged in one of three ways (truncated, not an image, empty). Returns their paths.
 */
export async function writeCollection(dir: string, count: number, size = 32): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const pixels = Buffer.alloc(size * size * 3);
    let state = (i + 1) * 2654435761;
    for (let j = 0; j < pixels.length; j++) {
      state = (state * 1103515245 + 12345) >>> 0;
      // Smooth gradients plus a little noise: compresses well on disk, decodes to full size.
      pixels[j] = (((j % (size * 3)) * (i % 5 + 1) + Math.floor(j / (size * 3)) * (i % 3 + 1)) + (state >>> 29)) & 255;
    }
    const png = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
    const path = join(dir, `photo-${String(i).padStart(4, '0')}.png`);
    let bytes: Uint8Array = png;
    if (isCorrupt(i)) bytes = [png.subarray(0, Math.floor(png.length / 3)), new TextEncoder().encode('not an image at all'), new Uint8Array(0)][i % 3]!;
    writeFileSync(path, bytes);
    paths.push(path);
  }
  return paths;
}

let shared: Promise<GeoLocator> | null = null;

/**
 * The same model the CLI loads from MODEL_FLAGS, in this process. With `cacheDir` (the first call's counts)
 * the gallery embeddings are stored where a CLI run with GEOLENS_CACHE=cacheDir finds them.
 */
export function referenceLocator(cacheDir?: string): Promise<GeoLocator> {
  shared ??= testGpu().then((gpu) =>
    GeoLocator.create({
      gpu,
      clipWeights: `${MODEL_DIR}/clip.safetensors`,
      clipConfig: `${MODEL_DIR}/config.json`,
      geoclipWeights: `${MODEL_DIR}/geoclip.safetensors`,
      gallery: `${MODEL_DIR}/gallery.csv`,
      galleryCache: cacheDir ? fileGalleryCache(cacheDir) : false,
    }),
  );
  return shared;
}

/** locate() on one image at a time, as a user would call it: the result, or the error message. */
export async function referenceResults(paths: string[], topK = 5, cacheDir?: string, options: LocateOptions = {}): Promise<Map<string, LocateResult | { error: string }>> {
  const locator = await referenceLocator(cacheDir);
  const out = new Map<string, LocateResult | { error: string }>();
  for (const path of paths) {
    try {
      out.set(path, (await locator.locate(path, { ...options, topK }))[0]!);
    } catch (error) {
      out.set(path, { error: (error as Error).message });
    }
  }
  return out;
}

/** Asserts a JSON line's places equal the reference's: same gallery rows in the same order, same probabilities. */
export function samePlaces(got: LocateResult, want: LocateResult): string | null {
  if (got.places.length !== want.places.length) return `${got.places.length} places, want ${want.places.length}`;
  for (let i = 0; i < want.places.length; i++) {
    const [g, w] = [got.places[i]!, want.places[i]!];
    if (g.galleryIndex !== w.galleryIndex) return `place ${i}: gallery #${g.galleryIndex}, want #${w.galleryIndex}`;
    if (Math.abs(g.probability - w.probability) > 1e-6 + 1e-4 * w.probability) return `place ${i}: p=${g.probability}, want ${w.probability}`;
    if (g.lat !== w.lat || g.lon !== w.lon) return `place ${i}: (${g.lat}, ${g.lon}), want (${w.lat}, ${w.lon})`;
  }
  return null;
}

/**
 * `node dist/cli.js …` in a child process; `peakRssFile` makes the child write its peak RSS (KiB) there on exit.
 * The peak is VmHWM of the child's own address space: getrusage's maxRSS carries over the parent's resident
 * size from the fork before exec, so a child of a 1.3 GiB test process would report at least 1.3 GiB.
 */
export function spawnCli(args: string[], options: { env?: Record<string, string>; peakRssFile?: string } = {}): ChildProcess {
  const preload: string[] = [];
  if (options.peakRssFile) {
    const hook = `${options.peakRssFile}.cjs`;
    writeFileSync(hook, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(options.peakRssFile)}, /VmHWM:\\s+(\\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]));\n`);
    preload.push('--require', hook);
  }
  return spawn(process.execPath, [...preload, 'dist/cli.js', ...args], {
    env: cliEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `node dist/cli.js …` run to its end (5 minutes at most): exit status, stdout and stderr as text. */
/** stderr without Dawn's own start-up warnings (native code writes them, lavapipe's limits among them; they are not ours to silence). */
export function ourStderr(stderr: string): string {
  return stderr.split('\n').filter((line) => line.trim() && !/^Warning: |Vulkan|While initializing adapter|InitializeImpl/.test(line)).join('\n');
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}) {
  return spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8', env: cliEnv(env), timeout: 300_000 });
}

/** This process's environment, GEOLENS_QUIET=1, then `env`; a variable set to undefined is left out. */
function cliEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, GEOLENS_QUIET: '1', ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return merged;
}

/** The child's peak resident memory so far (VmHWM), in MiB. */
export function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Resolves with the exit code (or signal) and the output once the child ends. */
export function finished(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

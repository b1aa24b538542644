// Cold start: `node build.mjs --bench cold-start && node bench/run.mjs model cold-start`
// Times GeoLocator.create and then the first locate() against warm ones, with the pipelines compiled at
// create (the default) and, for comparison, compiled on first use (precompile: false). The model is the
// tiny test model (test/fixtures/generated/api, made by scripts/fixtures/api_locate.py): the point is
// what the first call pays beyond the work itself, not the work. Each mode runs in a fresh process, as a
// user's first call does, because pipelines are cached per device.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { GeoLocator } from '../../src/api/index.js';
import { adapterLine, benchGpu, formatMs } from '../support/bench.js';
import { ensureTinyModel } from '../../test/support/tiny-model.js';

const DIR = 'test/fixtures/generated/api';
const DATA = '../shared/data/geoclip';
const KAUAI = `${DATA}/Kauai.png`;
const mode = process.env.COLD_START_MODE;

if (!mode) {
  // The parent: one child process per mode, each with its own device and empty pipeline cache.
  ensureTinyModel();
  for (const child of ['precompile', 'lazy']) {
    execFileSync(process.execPath, [process.argv[1]!], { stdio: 'inherit', env: { ...process.env, COLD_START_MODE: child } });
  }
  process.exit(0);
}

const gpu = await benchGpu();
if (mode === 'precompile') console.log(adapterLine(gpu));
const bytes = new Uint8Array(readFileSync(KAUAI));
let compileMs = 0;
let compileStart = 0;
const createStart = performance.now();
const locator = await GeoLocator.create({
  gpu,
  quiet: true,
  precompile: mode === 'precompile',
  clipWeights: `${DIR}/clip.safetensors`,
  clipConfig: `${DIR}/config.json`,
  geoclipWeights: { imageMlp: `${DATA}/image_encoder_mlp_weights.pth`, locationEncoder: `${DIR}/location-encoder.safetensors`, logitScale: `${DATA}/logit_scale_weights.pth` },
  gallery: `${DIR}/gallery.csv`,
  galleryCache: false,
  onProgress: (p) => {
    if (p.stage !== 'compile') return;
    if (p.done === 0) compileStart = performance.now();
    if (p.done === p.total) compileMs = performance.now() - compileStart;
  },
});
const createMs = performance.now() - createStart;

async function timed(images: Uint8Array[]): Promise<{ ms: number; compiled: number }> {
  const before = gpu.pipelines.compiles;
  const start = performance.now();
  await locator.locate(images, { topK: 5 });
  return { ms: performance.now() - start, compiled: gpu.pipelines.compiles - before };
}

const first = await timed([bytes]);
const firstBatch = await timed([bytes, bytes, bytes]);
const warm: number[] = [];
const warmBatch: number[] = [];
for (let i = 0; i < 5; i++) {
  warm.push((await timed([bytes])).ms);
  warmBatch.push((await timed([bytes, bytes, bytes])).ms);
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`${mode === 'precompile' ? 'pipelines compiled at create' : 'pipelines compiled on first use (precompile: false)'}:`);
console.log(`  create ${formatMs(createMs)}${mode === 'precompile' ? ` (compile stage ${formatMs(compileMs)})` : ''}`);
console.log(`  first locate, 1 image:  ${formatMs(first.ms)} (${first.compiled} pipelines compiled) · warm median ${formatMs(median(warm))} · ${(first.ms / median(warm)).toFixed(2)}×`);
console.log(`  first locate, 3 images: ${formatMs(firstBatch.ms)} (${firstBatch.compiled} pipelines compiled) · warm median ${formatMs(median(warmBatch))} · ${(firstBatch.ms / median(warmBatch)).toFixed(2)}×`);
locator.release();
process.exit(0);

// Gallery embedding benchmark: `node build.mjs --bench gallery && node bench/run.mjs model gallery`
//   GALLERY_POINTS=n (default 1000) points from the real gallery CSV are embedded.
//   GALLERY_FULL=1 instead embeds all 100k points once through buildGallery (minutes on a software
//   adapter) and reports the measured rate.
// A full-size GeoCLIP location encoder (three capsules: RFF 512 → 1024 → 1024 → 1024 → 512) with random
// weights embeds the points on the GPU; GFLOPS counts 2·multiply-adds of the MLPs (the RFF kernel is
// timed on its own to show it is negligible). The full 100k gallery (~1.9 TFLOP) would take many minutes
// on a software adapter, so its time is extrapolated from the measured rate, and said so. Last, the
// cache: a 100k × 512 gallery is written to and reloaded from a file cache.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locationFeatures, uploadGps } from '../../src/kernels/location-features.js';
import { buildGallery, fileGalleryCache, galleryCacheKey, parseGalleryCsv } from '../../src/model/gallery.js';
import { GeoClip } from '../../src/model/geoclip.js';
import { LocationEncoder } from '../../src/model/location-encoder.js';
import type { TensorInfo, WeightSource } from '../../src/weights/index.js';
import { seededRandom } from '../../test/support/numeric.js';
import { adapterLine, benchGpu, formatGflops, formatMs, timeGpu } from '../support/bench.js';
import { benchCeiling, ofCeiling } from '../support/ceiling.js';
import { randomLocationWeights } from '../support/location-weights.js';

const POINTS = Number(process.env.GALLERY_POINTS ?? 1000);
const FULL_GALLERY = 100_000;

const gpu = await benchGpu();
console.log(adapterLine(gpu));
const ceiling = await benchCeiling(gpu);
const allGps = parseGalleryCsv(readFileSync('../shared/data/geoclip/coordinates_100K.csv', 'utf8'));
const gps = allGps.subarray(0, 2 * POINTS);

if (process.env.GALLERY_FULL === '1') {
  const model = await GeoClip.load(gpu, { imageMlp: randomMlpWeights(), locationEncoder: randomLocationWeights(42), logitScale: 3.681034803390503 });
  const size = allGps.length / 2;
  const started = performance.now();
  let reported = 0;
  const built = await buildGallery(model, allGps, {
    cache: false,
    onProgress: (done) => {
      if (done - reported < 10_000 && done < size) return;
      reported = done;
      console.log(`  ${done} / ${size} points, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    },
  });
  const ms = performance.now() - started;
  console.log(`buildGallery, all ${size} points: ${(ms / 1000).toFixed(1)} s, ${(size / (ms / 1000)).toFixed(0)} points/s, ` +
    `${formatGflops(model.locationEncoder.flops(size), ms)} (${built.chunks.length} search chunk(s))`);
  process.exit(0);
}

for (const dtype of ['f32', 'f16'] as const) {
  const encoder = await LocationEncoder.load(gpu, randomLocationWeights(42), { dtype });
  const input = uploadGps(gpu, gps);
  const flops = encoder.flops(POINTS);
  const t = await timeGpu(gpu, `embed ${POINTS}`, () => encoder.encode(input).release(), { minSamples: 2, maxTime: 1 });
  const pointsPerSecond = POINTS / (t.ms / 1000);
  console.log(`location encoder, ${dtype} weights, ${POINTS} points: ${formatMs(t.ms)} ±${t.rme.toFixed(1)}% (${t.samples} samples), ` +
    `${pointsPerSecond.toFixed(0)} points/s, ${formatGflops(flops, t.ms)} (${ofCeiling(ceiling, 'fma', flops, t.ms)} ceiling); ` +
    `100k gallery extrapolated: ${(FULL_GALLERY / pointsPerSecond).toFixed(0)} s for ${(encoder.flops(FULL_GALLERY) / 1e12).toFixed(2)} TFLOP`);
  if (dtype === 'f32') {
    const b = gpu.upload(new Float32Array(3 * 256 * 2).map((_, i) => Math.sin(i)), [3, 256, 2]);
    const f = await timeGpu(gpu, 'features', () => locationFeatures(input, b).forEach((x) => x.release()), { minSamples: 2, maxTime: 1 });
    console.log(`  RFF + projection kernel alone, ${POINTS} points × 3 capsules × 512: ${formatMs(f.ms)} (${((100 * f.ms) / t.ms).toFixed(1)}% of the encoder)`);
    b.release();
  }
  input.release();
  encoder.release();
}

// End to end through buildGallery (chunked, read back, progress), then the cache at full size.
const model = await GeoClip.load(gpu, { imageMlp: randomMlpWeights(), locationEncoder: randomLocationWeights(42), logitScale: 3.681034803390503 });
let started = performance.now();
const built = await buildGallery(model, gps, { cache: false, chunkRows: 500 });
const seconds = (performance.now() - started) / 1000;
console.log(`buildGallery, ${POINTS} points (chunks of 500, read back): ${seconds.toFixed(2)} s, ${(POINTS / seconds).toFixed(0)} points/s`);
built.release();

const dir = mkdtempSync(join(tmpdir(), 'geolens-bench-'));
try {
  const cache = fileGalleryCache(dir);
  const fake = new Float32Array(FULL_GALLERY * 512).fill(1 / Math.sqrt(512));
  started = performance.now();
  await cache.put(await galleryCacheKey(model, allGps), fake);
  const writeSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const reloaded = await buildGallery(model, allGps, { cache });
  console.log(`cache, 100k × 512 f32 (${(fake.byteLength / 2 ** 20).toFixed(0)} MiB): write ${writeSeconds.toFixed(2)} s, ` +
    `reload + upload as ${reloaded.chunks.length} search chunk(s) ${((performance.now() - started) / 1000).toFixed(2)} s (fromCache ${reloaded.fromCache})`);
  reloaded.release();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);

function randomMlpWeights(): WeightSource {
  const next = seededRandom(7);
  const shapes: [string, number[]][] = [['0.weight', [768, 768]], ['0.bias', [768]], ['2.weight', [512, 768]], ['2.bias', [512]]];
  const tensors = new Map<string, TensorInfo>(shapes.map(([name, shape]) => [name, { dtype: 'F32', shape }]));
  return {
    tensors,
    readF32: async (name) => new Float32Array(tensors.get(name)!.shape.reduce((a, b) => a * b, 1)).map(() => (next() * 2 - 1) / 28),
    close: async () => {},
  };
}

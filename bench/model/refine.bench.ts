// Refinement cost: `node build.mjs --bench refine && node bench/run.mjs model refine`
//   REFINE_IMAGES=n (default 2) images refined together with the default options (3 candidates × 3 rounds
//   × 7² points = 441 location-encoder points per image), by a full-size GeoCLIP location encoder
//   (RFF 512 → 1024 → 1024 → 1024 → 512 per capsule) with random weights. Refinement is the encoder plus
//   one small GEMM per pass, so its time per image is ~441 gallery points' worth.
import { LocationEncoder } from '../../src/model/geoclip/location-encoder.js';
import { refineCost, refinePlaces, REFINE_DEFAULTS } from '../../src/geo/refine.js';
import { seededRandom } from '../../test/support/numeric.js';
import { adapterLine, benchGpu, formatGflops } from '../support/bench.js';
import { randomLocationWeights } from '../support/location-weights.js';

const IMAGES = Number(process.env.REFINE_IMAGES ?? 2);

const gpu = await benchGpu();
console.log(adapterLine(gpu));
const encoder = await LocationEncoder.load(gpu, randomLocationWeights(7));
const model = { gpu, locationEmbeddings: (gps: Float32Array) => encoder.embed(gps) };
const next = seededRandom(11);
const starts = Array.from({ length: IMAGES }, () =>
  Array.from({ length: REFINE_DEFAULTS.candidates }, () => ({ lat: 180 * next() - 90, lon: 360 * next() - 180, probability: 0.1 })),
);
const images = model.locationEmbeddings(new Float32Array(IMAGES * 2).map((_, i) => (i % 2 ? 100 : 40) * (next() - 0.5)));
// One untimed pass compiles the pipelines.
await refinePlaces(model, images, starts, 39.7, { steps: 1, gridSize: 3 });
const started = performance.now();
await refinePlaces(model, images, starts, 39.7);
const ms = performance.now() - started;
const points = refineCost() * IMAGES;
console.log(`refinement, ${IMAGES} image(s) × ${refineCost()} points (${REFINE_DEFAULTS.candidates} candidates × ${REFINE_DEFAULTS.steps} rounds × ${REFINE_DEFAULTS.gridSize}²): ` +
  `${(ms / 1000).toFixed(2)} s, ${(ms / IMAGES / 1000).toFixed(2)} s per image, ${(points / (ms / 1000)).toFixed(0)} points/s, ${formatGflops(encoder.flops(points), ms)}`);
images.release();
encoder.release();

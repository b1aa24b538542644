// Refinement cost: `node build.mjs --bench refine && node bench/run.mjs model refine`
//   REFINE_IMAGES=n (default 2) images refined together with the default options (3 candidates × 3 rounds
//   × 7² points = 441 location-encoder points per image), by a full-size GeoCLIP location encoder
//   (RFF 512 → 1024 → 1024 → 1024 → 512 per capsule) with random weights. Refinement is the encoder plus
//   one small GEMM per pass, so its time per image is ~441 gallery points' worth.
import { LocationEncoder } from '../../src/model/location-encoder.js';
import { refineCost, refinePlaces, REFINE_DEFAULTS } from '../../src/model/refine.js';
import type { TensorInfo, WeightSource } from '../../src/weights/index.js';
import { seededRandom } from '../../test/support/numeric.js';
import { adapterLine, benchGpu, formatGflops } from '../support/bench.js';

const IMAGES = Number(process.env.REFINE_IMAGES ?? 2);

function randomLocationWeights(encoded = 256, hidden = 1024, out = 512): WeightSource {
  const next = seededRandom(7);
  const tensors = new Map<string, TensorInfo>();
  const values = new Map<string, Float32Array>();
  const add = (name: string, shape: number[], scale: number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (next() * 2 - 1) * scale;
    tensors.set(name, { dtype: 'F32', shape });
    values.set(name, data);
  };
  [1, 16, 256].forEach((sigma, c) => {
    add(`LocEnc${c}.capsule.0.b`, [encoded, 2], sigma);
    const layers: [string, number, number][] = [['capsule.1', hidden, 2 * encoded], ['capsule.3', hidden, hidden], ['capsule.5', hidden, hidden], ['head.0', out, hidden]];
    for (const [name, n, k] of layers) {
      add(`LocEnc${c}.${name}.weight`, [n, k], 1 / Math.sqrt(k));
      add(`LocEnc${c}.${name}.bias`, [n], 1 / Math.sqrt(k));
    }
  });
  return { tensors, readF32: async (name) => values.get(name)!, close: async () => {} };
}

const gpu = await benchGpu();
console.log(adapterLine(gpu));
const encoder = await LocationEncoder.load(gpu, randomLocationWeights());
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

// Random weights in GeoCLIP's location-encoder layout for the gallery and refinement benchmarks: no
// download, and the encoder's real shapes (three capsules of RFF 512 → 1024 → 1024 → 1024 → 512).
import type { TensorInfo, WeightSource } from '../../src/weights/index.js';
import { seededRandom } from '../../test/support/numeric.js';

/**
 * Random weights in GeoCLIP's location-encoder layout, nn.Linear-like, the random-Fourier matrices Gaussian
 * with σ 1, 16, 256 as GeoCLIP draws them; full size by default.
 */
export function randomLocationWeights(seed: number, encoded = 256, hidden = 1024, out = 512): WeightSource {
  const next = seededRandom(seed);
  const tensors = new Map<string, TensorInfo>();
  const values = new Map<string, Float32Array>();
  const add = (name: string, shape: number[], scale: number, gaussian = false) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      data[i] = gaussian ? Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()) * scale : (next() * 2 - 1) * scale;
    }
    tensors.set(name, { dtype: 'F32', shape });
    values.set(name, data);
  };
  [1, 16, 256].forEach((sigma, c) => {
    add(`LocEnc${c}.capsule.0.b`, [encoded, 2], sigma, true);
    const layers: [string, number, number][] = [['capsule.1', hidden, 2 * encoded], ['capsule.3', hidden, hidden], ['capsule.5', hidden, hidden], ['head.0', out, hidden]];
    for (const [name, n, k] of layers) {
      add(`LocEnc${c}.${name}.weight`, [n, k], 1 / Math.sqrt(k));
      add(`LocEnc${c}.${name}.bias`, [n], 1 / Math.sqrt(k));
    }
  });
  return { tensors, readF32: async (name) => values.get(name)!, close: async () => {} };
}


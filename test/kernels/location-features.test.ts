import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { locationFeatures, locationFeaturesReference, uploadGps, validateGps } from '../../src/kernels/location-features.js';
import { GeolensError, ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, seededRandom } from '../support/numeric.js';

/** Standard normal draws (Box-Muller over the seeded uniform generator). */
function gaussian(n: number, seed: number, sigma: number): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()) * sigma;
  return out;
}

/** Poles, the antimeridian, the origin, then seeded points over the whole globe. */
function testPoints(n: number): Float32Array {
  const fixed = [90, 0, -90, 0, 0, 180, 0, -180, 0, 0, 45.5, -122.6, -33.9, 151.2, 89.999, 179.999];
  const next = seededRandom(7);
  const gps = new Float32Array(2 * n);
  gps.set(fixed);
  for (let i = fixed.length / 2; i < n; i++) {
    gps[2 * i] = next() * 180 - 90;
    gps[2 * i + 1] = next() * 360 - 180;
  }
  return gps;
}

test('location features match the float64 reference for all three capsules, poles and antimeridian included', async () => {
  const gpu = await testGpu();
  const n = 37;
  const encoded = 256;
  const sigmas = [1, 16, 256];
  const bs = sigmas.map((sigma, c) => gaussian(encoded * 2, 100 + c, sigma));
  const stacked = new Float32Array(3 * encoded * 2);
  bs.forEach((b, c) => stacked.set(b, c * encoded * 2));
  const gps = testPoints(n);
  const outputs = locationFeatures(uploadGps(gpu, gps), gpu.upload(stacked, [3, encoded, 2]));
  // The projection is f32 (~6e-8 relative, as in PyTorch); that times |b| (up to ~4σ) bounds the phase error.
  const tolerances = [5e-6, 5e-5, 1e-3];
  for (let c = 0; c < 3; c++) {
    assert.equal(outputs[c].shape, [n, 2 * encoded]);
    const actual = await outputs[c].read();
    assertClose(actual, locationFeaturesReference(gps, bs[c]!), 0, tolerances[c], `capsule ${c} (sigma ${sigmas[c]})`);
  }
});

test('location features handle an encoded size that does not fill a workgroup', async () => {
  const gpu = await testGpu();
  const n = 9;
  const b = gaussian(3 * 10 * 2, 3, 4);
  const gps = testPoints(n);
  const outputs = locationFeatures(uploadGps(gpu, gps), gpu.upload(b, [3, 10, 2]));
  for (let c = 0; c < 3; c++) {
    assertClose(await outputs[c].read(), locationFeaturesReference(gps, b.subarray(c * 20, (c + 1) * 20)), 0, 1e-5, `capsule ${c}`);
  }
});

test('GPS validation names the bad row', () => {
  const bad = (values: number[], pattern: RegExp) =>
    assert.throws(() => validateGps(new Float32Array(values)), (e: Error) => e instanceof GeolensError && pattern.test(e.message));
  bad([0, 0, NaN, 10], /row 1 .*not a finite/);
  bad([0, 0, 0, 0, 91, 0], /row 2 has latitude 91, outside \[-90, 90\]/);
  bad([-90.5, 0], /row 0 has latitude -90.5/);
  bad([10, -181], /row 0 has longitude -181, outside \[-180, 180\]/);
  bad([10, Infinity], /row 0 .*not a finite/);
  assert.throws(() => validateGps(new Float32Array(0)), /no coordinates/);
  assert.throws(() => validateGps(new Float32Array(3)), /whole number/);
  validateGps(new Float32Array([90, 180, -90, -180]));
});

test('locationFeatures rejects wrong shapes', async () => {
  const gpu = await testGpu();
  const gps = gpu.upload(new Float32Array(6), [3, 2]);
  assert.throws(() => locationFeatures(gps, gpu.upload(new Float32Array(8), [2, 2, 2])), (e: Error) => e instanceof ShapeError && /\[2, 2, 2\]/.test(e.message));
  assert.throws(() => locationFeatures(gpu.upload(new Float32Array(6), [2, 3]), gpu.upload(new Float32Array(12), [3, 2, 2])), /\[2, 3\]/);
});

test.run();

import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { layerNorm, layerNormReference } from '../../src/kernels/layernorm.js';
import { ShapeError } from '../../src/runtime/index.js';
import { forceRowStrategy } from '../../src/kernels/rows.js';
import { testGpu } from '../support/gpu.js';
import { eachRowStrategy } from '../support/rows.js';
import { assertClose, randomArray, relativeError } from '../support/numeric.js';

async function check(shape: number[], seed: number, offset = 0, eps = 1e-5): Promise<Float32Array> {
  const gpu = await testGpu();
  const cols = shape[shape.length - 1]!;
  const n = shape.reduce((a, b) => a * b, 1);
  // An offset mean makes E[x²] - E[x]² cancel badly; the two-pass variance must not care.
  const x = randomArray(n, seed, 3).map((v) => v + offset);
  const gamma = randomArray(cols, seed + 1).map((v) => 1 + v);
  const beta = randomArray(cols, seed + 2);
  const out = await layerNorm(gpu.upload(x, shape), gpu.upload(gamma, [cols]), gpu.upload(beta, [cols]), eps).read();
  const expected = layerNormReference(x, cols, gamma, beta, eps);
  const error = relativeError(out, expected);
  assert.ok(error <= 1e-5, `layerNorm ${JSON.stringify(shape)} offset ${offset}: relative error ${error}`);
  assertClose(out, expected, 1e-4, 1e-5, `layerNorm ${JSON.stringify(shape)}`);
  return out;
}



eachRowStrategy(uvuTest, 'layerNorm matches the float64 reference on odd shapes (batch 3, S 257, D 65; D 1023; D 768)', async () => {
  await check([3, 257, 65], 1);
  await check([2, 1023], 2);
  await check([5, 768], 3);
});

eachRowStrategy(uvuTest, 'layerNorm keeps its accuracy when the mean dwarfs the spread (two-pass variance)', async () => {
  await check([4, 768], 4, 1000);
});

eachRowStrategy(uvuTest, 'layerNorm edge cases: one row, one column (output is beta), a custom eps', async () => {
  await check([1, 7], 5);
  const out = await check([6, 1], 6);
  assert.ok(out.every(Number.isFinite));
  await check([2, 50], 7, 0, 1e-6);
});

eachRowStrategy(uvuTest, 'layerNorm propagates NaN to its own row only', async () => {
  const gpu = await testGpu();
  const x = randomArray(3 * 20, 8);
  x[25] = NaN;
  const ones = new Float32Array(20).fill(1);
  const out = await layerNorm(gpu.upload(x, [3, 20]), gpu.upload(ones, [20]), gpu.upload(new Float32Array(20), [20])).read();
  assert.ok(out.slice(20, 40).every(Number.isNaN), 'row 1 is NaN');
  assert.ok([...out.slice(0, 20), ...out.slice(40)].every(Number.isFinite), 'rows 0 and 2 are finite');
});

eachRowStrategy(uvuTest, 'layerNorm rejects gamma/beta that do not match the last dimension, naming the shapes', async () => {
  const gpu = await testGpu();
  const x = gpu.upload(new Float32Array(12), [3, 4]);
  const four = gpu.upload(new Float32Array(4), [4]);
  const three = gpu.upload(new Float32Array(3), [3]);
  assert.throws(() => layerNorm(x, three, four), (e: Error) => e instanceof ShapeError && /\[3\].*\[4\].*\[3, 4\]/.test(e.message));
  assert.throws(() => layerNorm(x, four, three), (e: Error) => e instanceof ShapeError && /\[3, 4\]/.test(e.message));
});

uvuTest.after.each(() => forceRowStrategy(null));
uvuTest.run();

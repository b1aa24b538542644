import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { l2Normalize, l2NormalizeReference } from '../../src/kernels/l2-normalize.js';
import { ShapeError } from '../../src/runtime/index.js';
import { forceRowStrategy, rowStrategyRuns } from '../../src/kernels/rows.js';
import { testGpu } from '../support/gpu.js';
import { eachRowStrategy } from '../support/rows.js';
import { assertClose, randomArray, relativeError } from '../support/numeric.js';

async function check(shape: number[], seed: number, eps?: number): Promise<Float32Array> {
  const gpu = await testGpu();
  const cols = shape[shape.length - 1]!;
  const x = randomArray(shape.reduce((a, b) => a * b, 1), seed, 4);
  const out = await l2Normalize(gpu.upload(x, shape), eps).read();
  const expected = l2NormalizeReference(x, cols, eps);
  const error = relativeError(out, expected);
  assert.ok(error <= 1e-5, `l2Normalize ${JSON.stringify(shape)}: relative error ${error}`);
  assertClose(out, expected, 1e-5, 1e-7, `l2Normalize ${JSON.stringify(shape)}`);
  return out;
}



eachRowStrategy(test, 'l2Normalize matches the float64 reference on odd shapes (3 × 257 × 65, D 1023, D 512)', async () => {
  await check([3, 257, 65], 1);
  await check([2, 1023], 2);
  await check([7, 512], 3);
});

eachRowStrategy(test, 'l2Normalize edge cases: D 1 gives ±1, one row, a zero row stays zero (eps clamp)', async () => {
  const out = await check([5, 1], 4);
  assert.ok(out.every((v) => Math.abs(v) === 1));
  await check([1, 3], 5);
  const gpu = await testGpu();
  const zeros = await l2Normalize(gpu.upload(new Float32Array(8), [2, 4])).read();
  assertClose(zeros, new Float32Array(8), 0, 0, 'zero rows');
  const tiny = new Float32Array([1e-20, 0, 0, 0]);
  assertClose(await l2Normalize(gpu.upload(tiny, [1, 4]), 1e-6).read(), l2NormalizeReference(tiny, 4, 1e-6), 1e-6, 0, 'eps clamp');
});

eachRowStrategy(test, 'l2Normalize propagates NaN to its own row only', async () => {
  const gpu = await testGpu();
  const x = randomArray(3 * 16, 6);
  x[40] = NaN;
  const out = await l2Normalize(gpu.upload(x, [3, 16])).read();
  assert.ok(out.slice(32).every(Number.isNaN));
  assert.ok(out.slice(0, 32).every(Number.isFinite));
});

// Not the workgroup strategy: 70,001 workgroups with barriers take SwiftShader 12 s. The subgroup
// strategy's 70,001 workgroups fold into a 2-D dispatch (more than 65,535 a dimension).
for (const strategy of ['invocation', 'subgroup'] as const) {
  test(`l2Normalize over 70,001 rows (a GeoCLIP gallery) [${strategy} per row]`, async () => {
    if (!rowStrategyRuns(await testGpu(), strategy)) return;
    forceRowStrategy(strategy);
    await check([70001, 4], 7);
  });
}

eachRowStrategy(test, 'l2Normalize rejects a negative eps and non-f32 input', async () => {
  const gpu = await testGpu();
  assert.throws(() => l2Normalize(gpu.upload(new Float32Array(4), [2, 2]), -1), (e: Error) => e instanceof ShapeError && /eps/.test(e.message));
  assert.throws(() => l2Normalize(gpu.upload(new Int32Array(4), [2, 2])), (e: Error) => e instanceof ShapeError && /\[2, 2\]:i32/.test(e.message));
});

test.after.each(() => forceRowStrategy(null));
test.run();

import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { softmax, softmaxReference } from '../../src/kernels/softmax.js';
import { ShapeError } from '../../src/runtime/index.js';
import { forceRowStrategy } from '../../src/kernels/rows.js';
import { testGpu } from '../support/gpu.js';
import { eachRowStrategy } from '../support/rows.js';
import { assertClose, randomArray, relativeError } from '../support/numeric.js';

async function check(shape: number[], seed: number, scale = 5): Promise<void> {
  const gpu = await testGpu();
  const cols = shape[shape.length - 1]!;
  const x = randomArray(shape.reduce((a, b) => a * b, 1), seed, scale);
  const out = await softmax(gpu.upload(x, shape)).read();
  const expected = softmaxReference(x, cols);
  const error = relativeError(out, expected);
  assert.ok(error <= 1e-5, `softmax ${JSON.stringify(shape)}: relative error ${error}`);
  assertClose(out, expected, 1e-5, 1e-7, `softmax ${JSON.stringify(shape)}`);
}



eachRowStrategy(uvuTest, 'softmax matches the float64 reference on odd shapes (batch 3 × 257 × 257, D 1023)', async () => {
  await check([3, 257, 257], 1);
  await check([4, 1023], 2);
});

eachRowStrategy(uvuTest, 'softmax subtracts the max: logits near 100 (GeoCLIP logit scale) do not overflow', async () => {
  await check([3, 1000], 3, 100);
});

eachRowStrategy(uvuTest, 'softmax over a 100,000-wide row (GeoCLIP logits against the whole GPS gallery)', async () => {
  await check([2, 100000], 7, 30);
});

eachRowStrategy(uvuTest, 'softmax edge cases: a single column is 1, a single row', async () => {
  const gpu = await testGpu();
  const out = await softmax(gpu.upload(randomArray(5, 4, 50), [5, 1])).read();
  assertClose(out, new Float32Array(5).fill(1), 0, 0, 'softmax of one column');
  await check([1, 9], 5);
});

eachRowStrategy(uvuTest, 'softmax: NaN in a row gives NaN in that row only', async () => {
  const gpu = await testGpu();
  const x = randomArray(4 * 70, 6);
  x[70 + 33] = NaN;
  const out = await softmax(gpu.upload(x, [4, 70])).read();
  assert.ok(out.slice(70, 140).every(Number.isNaN), 'row 1 is NaN');
  assert.ok([...out.slice(0, 70), ...out.slice(140)].every(Number.isFinite), 'other rows are finite');
  assertClose(out, softmaxReference(x, 70), 1e-5, 1e-7, 'softmax with NaN');
});

eachRowStrategy(uvuTest, 'softmax: -inf entries (masked logits) give exactly 0, the rest still sums to 1', async () => {
  const gpu = await testGpu();
  const x = new Float32Array([0.5, -Infinity, 2, -Infinity, -1]);
  const out = await softmax(gpu.upload(x, [1, 5])).read();
  assert.is(out[1], 0);
  assert.is(out[3], 0);
  assertClose(out, softmaxReference(x, 5), 1e-6, 0, 'masked softmax');
});

eachRowStrategy(uvuTest, 'softmax rejects non-f32 input with the tensor in the message', async () => {
  const gpu = await testGpu();
  const x = gpu.upload(new Uint32Array(6), [2, 3]);
  assert.throws(() => softmax(x), (e: Error) => e instanceof ShapeError && /\[2, 3\]:u32/.test(e.message));
});

uvuTest.after.each(() => forceRowStrategy(null));
uvuTest.run();

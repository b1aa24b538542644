import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { add, addReference } from '../../src/kernels/add.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray } from '../support/numeric.js';

test('add matches the reference bitwise, including NaN and a size that is not a multiple of 256', async () => {
  const gpu = await testGpu();
  const n = 3 * 257 * 65;
  const a = randomArray(n, 1);
  const b = randomArray(n, 2);
  a[17] = NaN;
  const out = await add(gpu.upload(a, [3, 257, 65]), gpu.upload(b, [3, 257, 65])).read();
  assertClose(out, addReference(a, b), 0, 0, 'add');
  assert.ok(Number.isNaN(out[17]!));
});

test('add rejects mismatched shapes with both shapes in the message', async () => {
  const gpu = await testGpu();
  const a = gpu.upload(new Float32Array(6), [2, 3]);
  const b = gpu.upload(new Float32Array(6), [3, 2]);
  assert.throws(() => add(a, b), (e: Error) => e instanceof ShapeError && /\[2, 3\].*\[3, 2\]/.test(e.message));
});

test.run();

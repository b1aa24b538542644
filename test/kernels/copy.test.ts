import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyKernel } from '../../src/kernels/copy.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { randomArray } from '../support/numeric.js';

test('copyKernel reproduces every bit, NaN payloads and the last partial workgroup included', async () => {
  const gpu = await testGpu();
  const n = 4 * (256 * 3 + 7);
  const a = randomArray(n, 3);
  const bits = new Uint32Array(a.buffer);
  bits[5] = 0x7fc01234; // a NaN with a payload: a float copy that canonicalizes NaN would change it
  bits[n - 1] = 0x80000000; // -0
  const out = await copyKernel(gpu.upload(a, [n])).read();
  assert.equal(Array.from(new Uint32Array(out.buffer)), Array.from(bits));
});

test('copyKernel refuses element counts that are not whole vec4s, naming the shape', async () => {
  const gpu = await testGpu();
  assert.throws(() => copyKernel(gpu.upload(new Float32Array(6), [2, 3])), (e: Error) => e instanceof ShapeError && /6 of \[2, 3\]/.test(e.message));
});

test.run();

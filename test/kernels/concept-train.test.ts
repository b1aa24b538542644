import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conceptMatmul, conceptMatmulReference, dispatchConceptMatmul } from '../../src/kernels/concept-train.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray } from '../support/numeric.js';

for (const [transA, transB, m, n, k] of [
  [false, false, 37, 29, 45], [true, false, 37, 29, 45], [false, true, 37, 29, 45], [true, true, 37, 29, 45],
  // Multiples of 4 take the vec4 kernel.
  [false, false, 36, 28, 44], [true, false, 36, 28, 44], [false, true, 36, 28, 44], [true, true, 36, 28, 44],
] as [boolean, boolean, number, number, number][]) {
  test(`concept matmul ${m}x${n}x${k}, transA=${transA} transB=${transB}, alpha and bias`, async () => {
    const gpu = await testGpu();
    const a = randomArray(m * k, 1);
    const b = randomArray(k * n, 2);
    const bias = randomArray(n, 3);
    const out = await conceptMatmul(gpu.upload(a, transA ? [k, m] : [m, k]), gpu.upload(b, transB ? [n, k] : [k, n]), {
      transA, transB, alpha: 0.5, bias: gpu.upload(bias, [n]),
    }).read();
    assertClose(out, conceptMatmulReference(a, b, m, n, k, { transA, transB, alpha: 0.5, bias }), 1e-5, 1e-5, 'product');
  });
}

for (const [m, n, k, pad] of [[5, 6, 7, 3], [8, 12, 4, 4]]) test(`concept matmul ${m}x${n}x${k}: batches at offsets and strides inside flat buffers, accumulating into the output`, async () => {
  const gpu = await testGpu();
  const batch = 2;
  const a = randomArray(pad + batch * m * k, 4);
  const b = randomArray(pad + batch * n * k, 5);
  const start = randomArray(pad + batch * m * n, 6);
  const out = gpu.upload(start, [start.length]);
  dispatchConceptMatmul(gpu, {
    m, n, k, batch, a: gpu.upload(a, [a.length]), b: gpu.upload(b, [b.length]), out, transB: true, accumulate: true,
    aOffset: pad, bOffset: pad, outOffset: pad,
  });
  const got = await out.read();
  const expected = Float32Array.from(start);
  for (let z = 0; z < batch; z++) {
    const product = conceptMatmulReference(a.subarray(pad + z * m * k), b.subarray(pad + z * n * k), m, n, k, { transB: true });
    product.forEach((v, i) => (expected[pad + z * m * n + i]! += v));
  }
  assertClose(got, expected, 1e-5, 1e-5, 'accumulated batches');
});

test('concept matmul: mismatched inner sizes name both shapes', async () => {
  const gpu = await testGpu();
  assert.throws(
    () => conceptMatmul(gpu.upload(new Float32Array(6), [2, 3]), gpu.upload(new Float32Array(8), [4, 2])),
    (e: Error) => e instanceof ShapeError && /\[2, 3\].*\[4, 2\]/.test(e.message),
  );
});

test.run();

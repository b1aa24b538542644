import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { linear, runnableGemmVariants, type Activation } from '../../src/kernels/gemm.js';
import {
  dequantizeMatrix, packQuantizedRows, quantizedLinearReference, quantizeMatrix, uploadQuantized, type QuantizedMatrix,
} from '../../src/kernels/quantize.js';
import { GeolensError, halfToFloat, quantizedRowWords, type QuantizedDType } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { randomArray, relativeError } from '../support/numeric.js';

interface Case {
  dtype: QuantizedDType;
  m: number;
  k: number;
  n: number;
  variant?: string;
  activation?: Activation;
  bias?: boolean;
}

const quantized = new Map<string, { x: Float32Array; w: QuantizedMatrix; b: Float32Array; expected: Float64Array }>();

/** linear() with a quantized weight against the float64 product with the dequantized weight. */
async function expectClose(c: Case, label: string): Promise<void> {
  const gpu = await testGpu();
  const key = JSON.stringify({ ...c, variant: undefined });
  let data = quantized.get(key);
  if (!data) {
    const x = randomArray(c.m * c.k, 7 + c.k);
    const w = quantizeMatrix(randomArray(c.n * c.k, 3 + c.n, 1 / Math.sqrt(c.k)), [c.n, c.k], c.dtype);
    const b = randomArray(c.n, 9);
    data = { x, w, b, expected: quantizedLinearReference(x, [c.m, c.k], w, c.bias ? b : undefined, c.activation) };
    quantized.set(key, data);
  }
  const xT = gpu.upload(data.x, [c.m, c.k]);
  const wT = uploadQuantized(gpu, data.w);
  const bT = c.bias ? gpu.upload(data.b, [c.n]) : undefined;
  const y = linear(xT, wT, { bias: bT, activation: c.activation, variant: c.variant });
  const actual = await y.read();
  for (const t of [xT, wT, bT, y]) t?.release();
  const error = relativeError(actual, data.expected);
  assert.ok(error <= 1e-5, `${label}: relative error ${error.toExponential(2)} > 1e-5`);
}

test('q8 and q4 quantize a known block to hand-computed levels and scales', () => {
  // One row of 3 values (one short block): q8 scale = 2/127; q4's signed max -2 lands on level -8.
  const values = new Float32Array([1, -2, 0.5]);
  const q8 = quantizeMatrix(values, [1, 3], 'q8');
  assert.equal([...q8.values], [Math.round(127 / 2), -127, Math.round(127 / 4)]);
  assert.ok(Math.abs(halfToFloat(q8.scales[0]!) - 2 / 127) <= (2 / 127) * 2 ** -11);
  const q4 = quantizeMatrix(values, [1, 3], 'q4');
  const scale4 = halfToFloat(q4.scales[0]!);
  const levels = [0, 1, 2].map((i) => ((q4.values[i >> 1]! >> ((i & 1) * 4)) & 15) - 8);
  assert.equal(levels, [1, -2, 0.5].map((v) => Math.max(-8, Math.min(7, Math.round(v / scale4)))));
  // The padding nibble after the odd last element stands for 0.
  assert.is(q4.values[1]! >> 4, 8);
  // GPU words: q8 row = 1 value word + 1 scale word; bytes in element order, then the scale's half.
  const words = packQuantizedRows(q8);
  assert.is(words.length, quantizedRowWords(3, 'q8'));
  assert.equal([...new Int8Array(words.buffer, 0, 3)], [...q8.values]);
  assert.is(new Uint16Array(words.buffer)[2], q8.scales[0]);
});

test('dequantization error stays within half a step per block, with a partial last block (K = 1000)', () => {
  const [n, k] = [5, 1000];
  const values = randomArray(n * k, 17, 0.3);
  for (const dtype of ['q8', 'q4'] as const) {
    const matrix = quantizeMatrix(values, [n, k], dtype);
    assert.is(matrix.scales.length, n * 32);
    const restored = dequantizeMatrix(matrix);
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < k; i++) {
        // q4 scales carry the sign that puts the block's largest magnitude on level -8, so the other
        // side tops out at +7 and a value beyond 7.5 steps is clipped there (within one step).
        const step = Math.abs(halfToFloat(matrix.scales[r * 32 + (i >> 5)]!));
        const e = r * k + i;
        const clipped = dtype === 'q4' && Math.abs(restored[e]!) >= 7 * step && Math.abs(values[e]!) > 7.5 * step;
        const bound = clipped ? step : step / 2;
        assert.ok(Math.abs(restored[e]! - values[e]!) <= bound + 1e-9, `${dtype} [${r}, ${i}]: ${restored[e]} vs ${values[e]} (step ${step})`);
      }
    }
    // The step itself is what the scheme promises: max|v| / 127 for q8, about max|v| / 8 for q4.
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(values[i]!));
    const step = Math.abs(halfToFloat(matrix.scales[0]!));
    if (dtype === 'q8') assert.ok(Math.abs(step - amax / 127) <= (amax / 127) * 2 ** -10);
    else assert.ok(step >= amax / 8 * (1 - 2 ** -10) && step <= (amax / 7) * (1 + 2 ** -10), `q4 step ${step} for max ${amax}`);
  }
});

test('quantizing refuses NaN and weights whose scale would overflow f16', () => {
  assert.throws(() => quantizeMatrix(new Float32Array([1, NaN]), [1, 2], 'q8', 'fc1.weight'), (e: Error) => e instanceof GeolensError && /fc1\.weight.*NaN/.test(e.message));
  assert.throws(() => quantizeMatrix(new Float32Array([1e7, 1]), [1, 2], 'q4', 'w'), /beyond f16's range/);
});

// One variant per way of reading w: scalar loads (naive), workgroup tiles (tiled16, tiled64x64) and vec4
// register blocks (register16x16; register4x4 runs in the scalar-path test). register8x8 reads as 16x16.
const variants = runnableGemmVariants(await testGpu()).map((v) => v.name).filter((name) => name !== 'register4x4' && name !== 'register8x8');

test('q8 GEMM: each kind of variant equals the reference on the dequantized weight at M=257, N=65, K=1000', async () => {
  for (const variant of variants) await expectClose({ dtype: 'q8', m: 257, k: 1000, n: 65, variant, bias: true, activation: 'gelu' }, `q8 ${variant}`);
});

test('q4 GEMM: each kind of variant equals the reference on the dequantized weight at M=257, N=65, K=1000', async () => {
  for (const variant of variants) await expectClose({ dtype: 'q4', m: 257, k: 1000, n: 65, variant, bias: true, activation: 'gelu' }, `q4 ${variant}`);
});

test('q8 and q4 GEMM on the scalar path (K % 4 != 0, odd K) and the default variant choice', async () => {
  for (const dtype of ['q8', 'q4'] as const) {
    await expectClose({ dtype, m: 37, k: 61, n: 29, variant: 'register4x4', activation: 'quick_gelu' }, `${dtype} K=61`);
    await expectClose({ dtype, m: 50, k: 1001, n: 33, variant: 'naive', bias: true }, `${dtype} K=1001`);
    await expectClose({ dtype, m: 50, k: 96, n: 40, bias: true }, `${dtype} default variant`);
  }
});

test.run();

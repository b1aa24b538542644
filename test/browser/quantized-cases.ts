// q8 / q4 GEMM cases for the Node-vs-Chromium test: the seeded inputs and their float64 reference on the
// dequantized weights, shared by the page (which runs them) and the Node test (which checks the numbers).
import { linear } from '../../src/kernels/gemm.js';
import { quantizedLinearReference, quantizeMatrix, uploadQuantized, type QuantizedMatrix } from '../../src/kernels/quantize.js';
import type { QuantizedDType } from '../../src/runtime/index.js';
import { randomArray } from '../support/numeric.js';
import { registerCase } from './cases.js';

/** M = 257, N = 65, K = 1000: odd rows and columns, and a partial last block of 8 along K. */
const [M, N, K] = [257, 65, 1000];

function inputs(dtype: QuantizedDType): { x: Float32Array; w: QuantizedMatrix; bias: Float32Array } {
  const x = randomArray(M * K, 101);
  const w = quantizeMatrix(randomArray(N * K, dtype === 'q8' ? 102 : 103, 1 / Math.sqrt(K)), [N, K], dtype);
  return { x, w, bias: randomArray(N, 104) };
}

export const QUANTIZED_CASES = { 'linear.q8': 'q8', 'linear.q4': 'q4' } as const;

export function quantizedCaseReference(dtype: QuantizedDType): Float64Array {
  const { x, w, bias } = inputs(dtype);
  return quantizedLinearReference(x, [M, K], w, bias, 'quick_gelu');
}

for (const [name, dtype] of Object.entries(QUANTIZED_CASES)) {
  registerCase(name, async (gpu) => {
    const { x, w, bias } = inputs(dtype);
    return linear(gpu.upload(x, [M, K]), uploadQuantized(gpu, w), { bias: gpu.upload(bias, [N]), activation: 'quick_gelu' });
  });
}

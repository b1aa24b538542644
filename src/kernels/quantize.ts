/**
 * Block-wise weight quantization for linear(): the CPU side of the q8 / q4 GEMM operands
 * (shaders/gemm-io-q8*.wgsl, gemm-io-q4*.wgsl) and their plain-TS references.
 *
 * A matrix [N, K] is cut, row by row, into blocks of QUANT_BLOCK = 32 values along K (the last block of a
 * row is short when K % 32 != 0). Each block gets one f16 scale, and each value an integer q with
 * value ≈ q · scale:
 *   q8: q in [-127, 127], scale = max|v| / 127 (symmetric; -128 is never used)
 *   q4: q in [-8, 7], scale chosen per block among a few candidates around (signed max) / -8 for the
 *       least squared error, so the largest magnitude lands on -8 and uses all 16 levels
 * The scale is rounded to f16 before q is computed, so dequantization with the stored half is exactly the
 * value the quantizer aimed at.
 *
 * Host form (QuantizedMatrix; also how safetensors files store it, src/weights/quantized.ts):
 *   q8 values: Int8Array [N, K];  q4 values: Uint8Array [N, ceil(K/2)], element 2j in the low nibble of
 *   byte j, element 2j+1 in the high one, stored as q + 8 (a padding nibble is 8, i.e. 0);
 *   scales: Uint16Array of f16 bits [N, ceil(K/32)].
 * GPU form (packQuantizedRows): per row, the values on whole u32 words (q8: byte i % 4 of word i / 4;
 * q4: nibble i % 8 of word i / 8, little-endian, so the file bytes are the word bytes), then the scales two
 * per word: src/runtime/tensor.ts quantizedRowWords.
 */
import {
  floatToHalf, formatShape, GeolensError, halfToFloat, QUANT_BLOCK, quantizedRowWords, ShapeError,
  type Gpu, type QuantizedDType, type Tensor,
} from '../runtime/index.js';
import { linearReference, type Activation } from './gemm.js';

export interface QuantizedMatrix {
  readonly dtype: QuantizedDType;
  /** N: output features. */
  readonly rows: number;
  /** K: input features. */
  readonly k: number;
  /** q8: Int8Array [N, K]; q4: Uint8Array [N, ceil(K/2)] of offset-by-8 nibble pairs. */
  readonly values: Int8Array | Uint8Array;
  /** f16 bits [N, ceil(K/32)]. */
  readonly scales: Uint16Array;
}

/** Blocks per row. */
export function quantBlocks(k: number): number {
  return Math.ceil(k / QUANT_BLOCK);
}

/** Bytes of one row's values in the host form. */
export function quantizedRowBytes(k: number, dtype: QuantizedDType): number {
  return dtype === 'q8' ? k : Math.ceil(k / 2);
}

function checkDims(what: string, rows: number, k: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(k) || rows < 1 || k < 1) throw new ShapeError(`${what}: invalid matrix shape [${rows}, ${k}]`);
}

const Q4_CANDIDATES = [-8, -7.75, -7.5, -7.25, -7, -6.5, 7.5, 7];

/**
 * values [rows, K] f32 (row-major) → a QuantizedMatrix. Refuses non-finite values and blocks whose scale
 * overflows f16 (|v| above ~8e6 for q8, ~5e5 for q4): such a tensor cannot be stored this way.
 */
export function quantizeMatrix(values: Float32Array, shape: readonly [number, number], dtype: QuantizedDType, name = 'matrix'): QuantizedMatrix {
  const [rows, k] = shape;
  checkDims(`quantize ${name}`, rows, k);
  if (values.length !== rows * k) throw new ShapeError(`quantize ${name}: ${values.length} values for shape ${formatShape(shape)}`);
  if (dtype !== 'q8' && dtype !== 'q4') throw new ShapeError(`quantize ${name}: unknown scheme '${dtype as string}' (use q8 or q4)`);
  const blocks = quantBlocks(k);
  const rowBytes = quantizedRowBytes(k, dtype);
  const out = dtype === 'q8' ? new Int8Array(rows * rowBytes) : new Uint8Array(rows * rowBytes).fill(0x88);
  const scales = new Uint16Array(rows * blocks);
  const q = new Int8Array(QUANT_BLOCK);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * k + b * QUANT_BLOCK;
      const length = Math.min(QUANT_BLOCK, k - b * QUANT_BLOCK);
      const half = dtype === 'q8' ? quantizeBlockQ8(values, start, length, q) : quantizeBlockQ4(values, start, length, q);
      if (half < 0) {
        const bad = values.subarray(start, start + length).find((v) => !Number.isFinite(v));
        throw new GeolensError(bad === undefined
          ? `quantize ${name}: row ${r}, block ${b} needs a scale beyond f16's range (values up to ${maxAbs(values, start, length)})`
          : `quantize ${name}: row ${r}, block ${b} holds ${bad}; only finite weights can be quantized`);
      }
      scales[r * blocks + b] = half;
      const base = r * rowBytes;
      const first = b * QUANT_BLOCK;
      if (dtype === 'q8') {
        (out as Int8Array).set(q.subarray(0, length), base + first);
      } else {
        for (let i = 0; i < length; i++) {
          const e = first + i;
          const byte = base + (e >> 1);
          const nibble = (q[i]! + 8) & 15;
          out[byte] = e & 1 ? (out[byte]! & 0x0f) | (nibble << 4) : (out[byte]! & 0xf0) | nibble;
        }
      }
    }
  }
  return { dtype, rows, k, values: out, scales };
}

function maxAbs(values: Float32Array, start: number, length: number): number {
  let m = 0;
  for (let i = start; i < start + length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

/** f16 bits of `value` (round to nearest even) and the float they stand for. */
function toHalf(value: number): [number, number] {
  const half = floatToHalf(value);
  return [half, halfToFloat(half)];
}

/** Fills q with the block's q8 values and returns its scale's f16 bits (-1 for non-finite input or scale). */
function quantizeBlockQ8(values: Float32Array, start: number, length: number, q: Int8Array): number {
  let amax = 0;
  for (let i = 0; i < length; i++) {
    const v = values[start + i]!;
    if (!Number.isFinite(v)) return -1;
    amax = Math.max(amax, Math.abs(v));
  }
  const [half, scale] = toHalf(amax / 127);
  if (!Number.isFinite(scale)) return -1;
  for (let i = 0; i < length; i++) q[i] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(values[start + i]! / scale)));
  return half;
}

function quantizeBlockQ4(values: Float32Array, start: number, length: number, q: Int8Array): number {
  let signedMax = 0;
  for (let i = 0; i < length; i++) {
    const v = values[start + i]!;
    if (!Number.isFinite(v)) return -1;
    if (Math.abs(v) > Math.abs(signedMax)) signedMax = v;
  }
  q.fill(0, 0, length);
  if (signedMax === 0) return 0;
  let best = 0;
  let bestError = Infinity;
  const levels = new Int8Array(length);
  const consider = (scale: number): void => {
    const [half, rounded] = toHalf(scale);
    if (!Number.isFinite(rounded) || rounded === 0) return;
    let error = 0;
    for (let i = 0; i < length; i++) {
      const v = values[start + i]!;
      const level = Math.max(-8, Math.min(7, Math.round(v / rounded)));
      levels[i] = level;
      error += (v - level * rounded) ** 2;
    }
    if (error < bestError) {
      bestError = error;
      best = half;
      q.set(levels.subarray(0, length));
    }
  };
  for (const divisor of Q4_CANDIDATES) {
    consider(signedMax / divisor);
    // Refit: for these levels the least-squares scale is Σ v·q / Σ q²; try it with the levels it gives.
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < length; i++) {
      dot += values[start + i]! * levels[i]!;
      norm += levels[i]! * levels[i]!;
    }
    if (norm > 0) consider(dot / norm);
  }
  if (!Number.isFinite(bestError)) {
    // Every candidate scale overflowed or underflowed f16.
    return Math.abs(signedMax) > 1 ? -1 : 0;
  }
  return best;
}

/** The values a QuantizedMatrix stands for, [rows, K] f32: exactly what the GPU kernels multiply by. */
export function dequantizeMatrix(matrix: QuantizedMatrix): Float32Array {
  const { dtype, rows, k, values, scales } = matrix;
  const blocks = quantBlocks(k);
  const rowBytes = quantizedRowBytes(k, dtype);
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    let scale = 0;
    for (let i = 0; i < k; i++) {
      if (i % QUANT_BLOCK === 0) scale = halfToFloat(scales[r * blocks + i / QUANT_BLOCK]!);
      const level = dtype === 'q8' ? (values as Int8Array)[r * rowBytes + i]! : ((values[r * rowBytes + (i >> 1)]! >> ((i & 1) * 4)) & 15) - 8;
      out[r * k + i] = level * scale;
    }
  }
  return out;
}

/** Rows [first, first + count) of a QuantizedMatrix in the GPU row layout (src/runtime/tensor.ts quantizedRowWords). */
export function packQuantizedRows(matrix: QuantizedMatrix, first = 0, count = matrix.rows - first): Uint32Array {
  const { dtype, k, values, scales } = matrix;
  const rowWords = quantizedRowWords(k, dtype);
  const rowBytes = quantizedRowBytes(k, dtype);
  const valueWords = Math.ceil(k / (dtype === 'q8' ? 4 : 8));
  const blocks = quantBlocks(k);
  const words = new Uint32Array(count * rowWords);
  const bytes = new Uint8Array(words.buffer);
  const halves = new Uint16Array(words.buffer);
  const source = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  for (let r = 0; r < count; r++) {
    const row = first + r;
    const base = r * rowWords;
    bytes.set(source.subarray(row * rowBytes, (row + 1) * rowBytes), base * 4);
    // A q4 row of odd K ends on a half byte whose high nibble must read as 0 (stored 8); so must any
    // padding nibble of the last word.
    if (dtype === 'q4') for (let b = base * 4 + rowBytes; b < (base + valueWords) * 4; b++) bytes[b] = 0x88;
    if (dtype === 'q4' && k % 2 === 1) bytes[base * 4 + rowBytes - 1] = (bytes[base * 4 + rowBytes - 1]! & 0x0f) | 0x80;
    halves.set(scales.subarray(row * blocks, (row + 1) * blocks), (base + valueWords) * 2);
  }
  return words;
}

/** Uploads a QuantizedMatrix as a [N, K] tensor of its dtype, ready for linear(). */
export function uploadQuantized(gpu: Gpu, matrix: QuantizedMatrix, label = 'quantized'): Tensor {
  const tensor = gpu.empty([matrix.rows, matrix.k], matrix.dtype, label);
  gpu.write(tensor.buffer, packQuantizedRows(matrix));
  return tensor;
}

/**
 * Reference for linear() with a quantized weight, in float64: act(x · dequantize(w)ᵀ + bias). The kernels
 * must match it to f32 rounding, since they multiply by the same dequantized values.
 */
export function quantizedLinearReference(x: ArrayLike<number>, xShape: readonly number[], w: QuantizedMatrix,
  bias?: ArrayLike<number>, activation: Activation = 'none'): Float64Array {
  return linearReference(x, xShape, dequantizeMatrix(w), [w.rows, w.k], bias, activation);
}

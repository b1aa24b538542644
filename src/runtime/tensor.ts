import type { Gpu } from './gpu.js';
import { formatShape, ShapeError } from './errors.js';

/**
 * Element types a tensor can hold on the GPU. `f16` is stored packed, two halves per u32 word, and read
 * with `unpack2x16float`, so it works on adapters without `shader-f16`; element i lives in word i >> 1,
 * low half when i is even.
 */
export type DType = 'f32' | 'f16' | 'u32' | 'i32' | QuantizedDType;

/**
 * Block-quantized matrices [N, K] (weights only): int8 or int4 values with one f16 scale per block of
 * QUANT_BLOCK along K. Each row is self-contained on whole u32 words: its packed values, then its scales
 * (layout in docs/ARCHITECTURE.md), so rows concatenate by buffer copies.
 */
export type QuantizedDType = 'q8' | 'q4';
export const QUANT_BLOCK = 32;

export const BYTES_PER_ELEMENT: Record<Exclude<DType, QuantizedDType>, number> = { f32: 4, f16: 2, u32: 4, i32: 4 };

export function isQuantized(dtype: DType): dtype is QuantizedDType {
  return dtype === 'q8' || dtype === 'q4';
}

/** u32 words of one row of K values: ceil(K/4) (q8) or ceil(K/8) (q4) words of values, then ceil(blocks/2) of f16 scales. */
export function quantizedRowWords(k: number, dtype: QuantizedDType): number {
  const valueWords = Math.ceil(k / (dtype === 'q8' ? 4 : 8));
  return valueWords + Math.ceil(Math.ceil(k / QUANT_BLOCK) / 2);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes a tensor of this shape occupies on the GPU, rounded up to whole u32 words. */
export function byteLengthOf(shape: readonly number[], dtype: DType): number {
  if (isQuantized(dtype)) {
    const k = shape[shape.length - 1] ?? 1;
    return (elementCount(shape) / k) * quantizedRowWords(k, dtype) * 4;
  }
  return Math.ceil((elementCount(shape) * BYTES_PER_ELEMENT[dtype]) / 4) * 4;
}

export function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what}: invalid shape ${formatShape(shape)}`);
  }
  if (elementCount(shape) === 0) throw new ShapeError(`${what}: empty tensor of shape ${formatShape(shape)} (a dimension is 0)`);
}

/** A GPU buffer with a row-major shape. Release it to give the buffer back to the pool. */
export class Tensor {
  private released = false;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
  ) {}

  get size(): number {
    return elementCount(this.shape);
  }

  get byteLength(): number {
    return byteLengthOf(this.shape, this.dtype);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The same buffer seen with another shape of equal element count. */
  reshape(shape: readonly number[]): Tensor {
    if (elementCount(shape) !== this.size) {
      throw new ShapeError(`cannot reshape ${formatShape(this.shape)} to ${formatShape(shape)}`);
    }
    return new Tensor(this.gpu, this.buffer, [...shape], this.dtype);
  }

  toString(): string {
    return `Tensor${formatShape(this.shape)}:${this.dtype}`;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.gpu.pool.release(this.buffer);
  }

  read(): Promise<Float32Array> {
    return this.gpu.read(this);
  }
}

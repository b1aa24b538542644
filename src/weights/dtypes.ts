import { halvesToFloats } from '../runtime/f16.js';
import { WeightsError } from '../io/errors.js';

// The f16 conversion lives in runtime/f16.ts; weight code imports it from here as before.
export { encodeF16, toHalves } from '../runtime/f16.js';

/** The dtypes a checkpoint may hold, spelled as safetensors spells them. */
export type WeightDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface TensorInfo {
  dtype: WeightDType;
  shape: number[];
}

export const WEIGHT_DTYPE_BYTES: Record<WeightDType, number> = {
  F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isWeightDType(value: unknown): value is WeightDType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(WEIGHT_DTYPE_BYTES, value);
}

/** Element count of a shape, refusing counts beyond exact integer range (a hostile header could ask for them). */
export function shapeElements(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new WeightsError(`${what}: invalid dimension ${JSON.stringify(d)} in shape [${shape.join(', ')}]`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new WeightsError(`${what}: shape [${shape.join(', ')}] has too many elements`);
  }
  return n;
}


/**
 * Little-endian raw bytes of `count` elements of `dtype` → f32 values written into `out` at `outOffset`.
 * `bytes` may sit at any byte offset; aligned inputs take the typed-array fast path.
 */
export function decodeToF32(dtype: WeightDType, bytes: Uint8Array, out: Float32Array, outOffset = 0): void {
  const size = WEIGHT_DTYPE_BYTES[dtype];
  const count = bytes.byteLength / size;
  if (!Number.isInteger(count)) throw new WeightsError(`${bytes.byteLength} bytes are not a whole number of ${dtype} elements`);
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const { buffer, byteOffset } = aligned;
  switch (dtype) {
    case 'F32':
      out.set(new Float32Array(buffer, byteOffset, count), outOffset);
      return;
    case 'F16': {
      halvesToFloats(new Uint16Array(buffer, byteOffset, count), out, outOffset);
      return;
    }
    case 'BF16': {
      // bf16 is the top half of an f32: shift it back into place.
      const halves = new Uint16Array(buffer, byteOffset, count);
      const words = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, count);
      for (let i = 0; i < count; i++) words[i] = halves[i]! << 16;
      return;
    }
    case 'F64': {
      const values = new Float64Array(buffer, byteOffset, count);
      for (let i = 0; i < count; i++) out[outOffset + i] = values[i]!;
      return;
    }
    case 'I64': {
      const values = new BigInt64Array(buffer, byteOffset, count);
      for (let i = 0; i < count; i++) out[outOffset + i] = Number(values[i]!);
      return;
    }
    case 'I32':
      out.set(new Int32Array(buffer, byteOffset, count), outOffset);
      return;
    case 'I16':
      out.set(new Int16Array(buffer, byteOffset, count), outOffset);
      return;
    case 'I8':
      out.set(new Int8Array(buffer, byteOffset, count), outOffset);
      return;
    case 'U8':
      out.set(new Uint8Array(buffer, byteOffset, count), outOffset);
      return;
    case 'BOOL':
      for (let i = 0; i < count; i++) out[outOffset + i] = bytes[i] ? 1 : 0;
      return;
  }
}

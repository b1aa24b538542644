import { WeightsError } from '../io/errors.js';

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

const HALF_TABLE = (() => {
  // 64K entries make f16 → f32 a single lookup; checkpoints hold hundreds of millions of halves.
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    table[h] = exponent === 0 ? sign * mantissa * 2 ** -24 : exponent === 31 ? (mantissa ? NaN : sign * Infinity) : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return table;
})();

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
      const halves = new Uint16Array(buffer, byteOffset, count);
      for (let i = 0; i < count; i++) out[outOffset + i] = HALF_TABLE[halves[i]!]!;
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

/** encodeF16 into a new array. */
export function toHalves(values: Float32Array): Uint16Array {
  const halves = new Uint16Array(values.length);
  encodeF16(values, halves);
  return halves;
}

/** f32 values → IEEE halves, round to nearest even (as torch's .half()); NaN stays NaN, overflow becomes ±Inf. */
export function encodeF16(values: Float32Array, out: Uint16Array, outOffset = 0): void {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < words.length; i++) {
    const x = words[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    let mantissa = x & 0x7fffff;
    let half: number;
    if (exponent === 0xff) {
      half = sign | 0x7c00 | (mantissa ? 0x200 : 0);
    } else {
      const e = exponent - 112;
      if (e >= 31) {
        half = sign | 0x7c00;
      } else if (e <= 0) {
        if (e < -10) {
          half = sign;
        } else {
          mantissa |= 0x800000;
          const shift = 14 - e;
          let h = mantissa >>> shift;
          const rest = mantissa & ((1 << shift) - 1);
          const halfway = 1 << (shift - 1);
          if (rest > halfway || (rest === halfway && h & 1)) h++;
          half = sign | h;
        }
      } else {
        // A carry out of the mantissa rolls into the exponent, which is exactly right (up to Inf).
        let h = (e << 10) | (mantissa >>> 13);
        const rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
        half = sign | h;
      }
    }
    out[outOffset + i] = half;
  }
}

// IEEE binary16 on the host: the one conversion between f32 and f16 that checkpoints (F16 tensors),
// uploads (packed f16 tensors), readback and the quantizer's f16 scales all use. Rounding is to nearest
// even, as torch's .half() does; NaN stays NaN and overflow becomes ±Inf.

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

/** One half (its 16 bits) → its f32 value. */
export function halfToFloat(h: number): number {
  return HALF_TABLE[h & 0xffff]!;
}

/** Halves → f32 values, written into `out` at `outOffset` (a new array when not given). */
export function halvesToFloats(halves: Uint16Array, out: Float32Array = new Float32Array(halves.length), outOffset = 0): Float32Array {
  for (let i = 0; i < halves.length; i++) out[outOffset + i] = HALF_TABLE[halves[i]!]!;
  return out;
}

/** f32 values → halves, written into `out` at `outOffset`. */
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

/** encodeF16 into a new array. */
export function toHalves(values: Float32Array): Uint16Array {
  const halves = new Uint16Array(values.length);
  encodeF16(values, halves);
  return halves;
}

/** Any numbers → halves (through f32, as the GPU would store them). */
export function floatsToHalves(values: ArrayLike<number>): Uint16Array {
  return toHalves(values instanceof Float32Array ? values : Float32Array.from(values));
}

const single = new Float32Array(1);
const singleHalf = new Uint16Array(1);

/** One f32 value → its half's 16 bits. */
export function floatToHalf(value: number): number {
  single[0] = value;
  encodeF16(single, singleHalf);
  return singleHalf[0]!;
}

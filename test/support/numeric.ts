import * as assert from 'uvu/assert';

/** Deterministic uniform floats in [-scale, scale) (mulberry32), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cosine similarity of a[start .. start+n) and b[start .. start+n), in float64. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>, start = 0, n = a.length - start): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = start; i < start + n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * scale;
  return out;
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise, NaN only where NaN is expected,
 * and reports the worst element.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0, label = 'values'): void {
  assert.is(actual.length, expected.length, `${label}: length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) assert.unreachable(`${label}[${i}]: got ${a}, expected ${e}`);
      continue;
    }
    if (a === e) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > worstExcess || !Number.isFinite(excess)) {
      worstExcess = Number.isFinite(excess) ? excess : Infinity;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.unreachable(`${label}[${worst}]: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** max |a-e| / max(|e|) over the array: the "relative error" of a whole tensor. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Scales each row of a [rows, dim] array to unit length, in place (embeddings as GeoCLIP makes them). */
export function normalizeRows(data: Float32Array, dim: number): Float32Array {
  for (let base = 0; base < data.length; base += dim) {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += data[base + d]! * data[base + d]!;
    const inv = 1 / Math.sqrt(sum);
    for (let d = 0; d < dim; d++) data[base + d]! *= inv;
  }
  return data;
}

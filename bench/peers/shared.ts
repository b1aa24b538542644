// What every system in the peer benchmark shares, so they compute the same numbers: the gallery rows,
// the search constants and the median.

export const SEARCH_K = 5;
export const SEARCH_SCALE = 39.7;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Rows first .. first+count-1 of a unit-norm [∞, dim] matrix, each element a hash of its flat index, so
 * a gallery made in chunks (or in another process) holds exactly the same values.
 */
export function unitRows(first: number, count: number, dim: number): Float32Array {
  const out = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    let sum = 0;
    const base = (first + r) * dim;
    for (let d = 0; d < dim; d++) {
      let h = Math.imul((base + d) ^ 0x9e3779b9, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      h ^= h >>> 16;
      const v = (h >>> 0) / 4294967296 - 0.5;
      out[r * dim + d] = v;
      sum += v * v;
    }
    const scale = 1 / Math.sqrt(sum);
    for (let d = 0; d < dim; d++) out[r * dim + d]! *= scale;
  }
  return out;
}

// Gallery and query rows for the search benchmarks, the same in every process and page that makes them.

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

// What every system in the peer benchmark shares, so they compute the same numbers: the gallery rows,
// the search constants and the median.
export { unitRows } from '../support/rows.js';

export const SEARCH_K = 5;
export const SEARCH_SCALE = 39.7;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The accuracy table of the GeoCLIP and concept-aware papers, from per-image great-circle errors:
 * the share of images whose error is at most 1 / 25 / 200 / 750 / 2,500 km (street, city, region, country,
 * continent; inclusive: an error of exactly 25 km counts at 25 km), the median error, and the mean
 * GeoScore 5000 · exp(−d / 1492.7) (GeoGuessr's per-round score, 5,000 at the spot).
 */

export const ACCURACY_THRESHOLDS_KM = [1, 25, 200, 750, 2500] as const;

export interface AccuracySummary {
  images: number;
  /** threshold km → share of images with error ≤ threshold (0..1). */
  accuracy: Record<number, number>;
  medianKm: number;
  meanKm: number;
  /** Mean of 5000 · exp(−d / 1492.7) over the images. */
  geoScore: number;
}

export function geoScore(errorKm: number): number {
  return 5000 * Math.exp(-errorKm / 1492.7);
}

/** Summary of the errors (km); NaN fields for an empty list. */
export function summarizeErrors(errorsKm: readonly number[]): AccuracySummary {
  const n = errorsKm.length;
  const accuracy: Record<number, number> = {};
  for (const threshold of ACCURACY_THRESHOLDS_KM) accuracy[threshold] = n === 0 ? NaN : errorsKm.filter((d) => d <= threshold).length / n;
  const sorted = [...errorsKm].sort((a, b) => a - b);
  const mid = n >> 1;
  const medianKm = n === 0 ? NaN : n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const meanKm = n === 0 ? NaN : errorsKm.reduce((a, b) => a + b, 0) / n;
  const score = n === 0 ? NaN : errorsKm.reduce((a, d) => a + geoScore(d), 0) / n;
  return { images: n, accuracy, medianKm, meanKm, geoScore: score };
}

/** The table as printed: one row per method, accuracy in percent, median km, GeoScore. */
export function formatAccuracyTable(rows: readonly { method: string; summary: AccuracySummary }[]): string {
  const width = Math.max(8, ...rows.map((r) => r.method.length));
  const headers = [...ACCURACY_THRESHOLDS_KM.map((t) => `${t.toLocaleString('en-US')} km`), 'median km', 'GeoScore'];
  const cell = (text: string, i: number) => text.padStart(Math.max(headers[i]!.length, 7));
  const lines = [`${'method'.padEnd(width)}  ${headers.map((h, i) => cell(h, i)).join('  ')}`];
  for (const { method, summary } of rows) {
    const values = [
      ...ACCURACY_THRESHOLDS_KM.map((t) => `${(100 * summary.accuracy[t]!).toFixed(1)}%`),
      summary.medianKm.toFixed(1),
      summary.geoScore.toFixed(0),
    ];
    lines.push(`${method.padEnd(width)}  ${values.map((v, i) => cell(v, i)).join('  ')}`);
  }
  return lines.join('\n');
}

// Dense fp32 peaks (vendor figures, no sparsity, boost clock) and memory bandwidth of cards geolens may
// meet, matched against the adapter name Dawn reports. GEOLENS_PEAK_GFLOPS / GEOLENS_PEAK_GBS override
// them (an unlisted card, a clock-locked one, a laptop part).

export interface Peak {
  gflops: number;
  gbs: number;
  source: string;
}

const CARDS: [RegExp, number, number][] = [
  [/H200/i, 67_000, 4_800],
  [/H100.*PCIe/i, 51_200, 2_000],
  [/H100/i, 67_000, 3_350],
  [/A100/i, 19_500, 2_039],
  [/L40S/i, 91_600, 864],
  [/\bL4\b/i, 30_300, 300],
  [/A10G/i, 31_200, 600],
  [/\bT4\b/i, 8_100, 320],
  [/RTX 4090/i, 82_600, 1_008],
  [/RTX 4080/i, 48_700, 717],
  [/RTX 3090/i, 35_600, 936],
  [/RTX 3080/i, 29_800, 760],
  [/RTX 2080 Ti/i, 13_400, 616],
  [/Radeon RX 7900 XTX/i, 61_400, 960],
  [/Apple M3 Max/i, 14_200, 400],
  [/Apple M2 Max/i, 13_600, 400],
  [/Apple M1 Max/i, 10_400, 400],
  [/Apple M[123]\b/i, 3_600, 100],
];

/**
 * The card's fp32 peak, or null when it is unknown and no override is set. A software adapter is rated
 * by its host: cores × 8 fp32 lanes (AVX2) × 2 (FMA) × 2 flops at an assumed 3 GHz (GEOLENS_PEAK_GFLOPS
 * for anything better known).
 */
export function peakFor(adapterName: string, software: boolean, cores: number): Peak | null {
  const env = typeof process !== 'undefined' ? process.env : {};
  const gflops = Number(env.GEOLENS_PEAK_GFLOPS);
  const gbs = Number(env.GEOLENS_PEAK_GBS);
  if (gflops > 0) return { gflops, gbs: gbs > 0 ? gbs : NaN, source: 'GEOLENS_PEAK_GFLOPS' };
  const card = CARDS.find(([pattern]) => pattern.test(adapterName));
  if (card) return { gflops: card[1], gbs: gbs > 0 ? gbs : card[2], source: `table (${card[0].source})` };
  if (software) return { gflops: cores * 8 * 2 * 2 * 3, gbs: gbs > 0 ? gbs : NaN, source: `${cores} CPU cores × AVX2 FMA at 3 GHz (estimate)` };
  return null;
}

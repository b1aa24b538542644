/** Fixed points: Kauai, Paris, Edinburgh, Hobart, Ohio (a US state without country-coder borders), Nairobi. */
export const NAMED_POINTS: { lat: number; lon: number; region?: string }[] = [
  { lat: 21.97, lon: -159.6, region: 'Hawaii' },
  { lat: 48.8566, lon: 2.3522 },
  { lat: 55.9533, lon: -3.1883, region: 'Scotland' },
  { lat: -42.8821, lon: 147.3272, region: 'Tasmania' },
  { lat: 38.4179, lon: -82.1128 },
  { lat: -1.2921, lon: 36.8219 },
];

// Real, distinguishable photos for tests that need more than one: crops, mirror images and colour changes
// of GeoCLIP's Kauai.png. Even the tiny seeded model answers each with a different gallery row (measured:
// eleven variants, eleven distinct top-1 rows), so a test over them sees answers that differ, unlike noise.
import sharp, { type Sharp } from 'sharp';
import { KAUAI } from './tiny-model.js';

export type KauaiVariant = 'full' | 'left' | 'right' | 'top' | 'center' | 'mirrored' | 'upside-down' | 'grey' | 'negative' | 'rotated' | 'sunset';

/** Kauai.png is 512×504. */
const W = 512;
const H = 504;

const VARIANTS: Record<KauaiVariant, () => Sharp> = {
  full: () => sharp(KAUAI),
  left: () => sharp(KAUAI).extract({ left: 0, top: 0, width: W / 2, height: H }),
  right: () => sharp(KAUAI).extract({ left: W / 2, top: 0, width: W / 2, height: H }),
  top: () => sharp(KAUAI).extract({ left: 0, top: 0, width: W, height: H / 2 }),
  center: () => sharp(KAUAI).extract({ left: W / 4, top: H / 4, width: W / 2, height: H / 2 }),
  mirrored: () => sharp(KAUAI).flop(),
  'upside-down': () => sharp(KAUAI).flip(),
  grey: () => sharp(KAUAI).grayscale(),
  negative: () => sharp(KAUAI).negate({ alpha: false }),
  rotated: () => sharp(KAUAI).rotate(90),
  sunset: () => sharp(KAUAI).tint({ r: 255, g: 120, b: 40 }),
};

/** One variant of Kauai.png, ready for `.png()`, `.jpeg()`, `.withExif()` and `.toFile()`. */
export function kauaiVariant(variant: KauaiVariant): Sharp {
  return VARIANTS[variant]().removeAlpha();
}

// Browser side of image-cap-browser.test.ts: the pixel cap in decode-browser.ts, checked from the header
// before createImageBitmap, on a 20000×20000 PNG header and on a real image under a lowered cap.
import { decodeImage } from '../../src/image/decode-browser.js';

declare global {
  interface Window {
    capResult?: { bomb: string; capped: string; decoded: number[] } | { error: string };
  }
}

const message = (error: unknown) => `${(error as Error).name}: ${(error as Error).message}`;

async function run() {
  const bomb = new Uint8Array(await (await fetch('/bomb.png')).arrayBuffer());
  const kauai = await (await fetch('/kauai.png')).blob();
  const bombError = await decodeImage(bomb).then(() => 'decoded', message);
  const cappedError = await decodeImage(kauai, { maxPixels: 10_000 }).then(() => 'decoded', message);
  const image = await decodeImage(kauai);
  return { bomb: bombError, capped: cappedError, decoded: [image.width, image.height] };
}

run().then(
  (result) => (window.capResult = result),
  (error: Error) => (window.capResult = { error: message(error) }),
);

// Browser side of image-browser.test.ts: decodes the served images with createImageBitmap + OffscreenCanvas
// (decode-browser.ts), preprocesses them, and leaves the results on window for the Node test.
import { decodeImage } from '../../src/image/decode-browser.js';
import { preprocessImage, resizeAndCrop } from '../../src/image/image.js';

declare global {
  interface Window {
    imageResult?: { width: number; height: number; cropped: number[]; pixels: number[]; corrupt: string } | { error: string };
  }
}

async function run() {
  const bytes = new Uint8Array(await (await fetch('/kauai.png')).arrayBuffer());
  const image = await decodeImage(bytes);
  let corrupt = 'decoded without error';
  try {
    await decodeImage(bytes.subarray(0, bytes.length >> 1));
  } catch (error) {
    corrupt = `${(error as Error).name}: ${(error as Error).message}`;
  }
  return { width: image.width, height: image.height, cropped: Array.from(resizeAndCrop(image, 224)), pixels: Array.from(preprocessImage(image)), corrupt };
}

run().then(
  (result) => (window.imageResult = result),
  (error: Error) => (window.imageResult = { error: `${error.name}: ${error.message}` }),
);

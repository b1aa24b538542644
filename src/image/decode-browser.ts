/**
 * Browser image decoding: createImageBitmap → OffscreenCanvas → RGBA bytes, for preprocessImage (image.ts).
 *
 * The bitmap is asked for no colour-space conversion and no premultiplication, to match PIL's Image.open +
 * convert("RGB") (the reference pipeline), but with EXIF orientation applied, as in Node (decode-node.ts). One difference remains: canvases store
 * premultiplied alpha, so RGB under partly transparent pixels may come back rounded; opaque images (all
 * JPEGs, nearly all photos) decode exactly.
 */
import { checkPixelCap, ImageError, imageLimits, type RawImage } from './image.js';
import { imageDimensions } from './header.js';

export type BrowserImageSource = Uint8Array | ArrayBuffer | Blob | ImageBitmap;

/** Bytes read ahead of createImageBitmap to find the dimensions (a JPEG's EXIF can push its SOF past 64 KB). */
const HEADER_PROBE_BYTES = 256 << 10;

export async function decodeImage(source: BrowserImageSource, options: { maxPixels?: number } = {}): Promise<RawImage> {
  const maxPixels = options.maxPixels ?? imageLimits.maxPixels;
  let bitmap: ImageBitmap;
  let owned = false;
  if (typeof ImageBitmap !== 'undefined' && source instanceof ImageBitmap) {
    bitmap = source;
  } else {
    const blob = source instanceof Blob ? source : new Blob([source instanceof ArrayBuffer ? source : new Uint8Array(source as Uint8Array)]);
    if (blob.size === 0) throw new ImageError('decodeImage: no bytes (empty file?)');
    // Checked before the browser decodes anything: createImageBitmap would allocate every pixel first.
    const header = imageDimensions(new Uint8Array(await blob.slice(0, HEADER_PROBE_BYTES).arrayBuffer()));
    if (header) checkPixelCap(header.width, header.height, maxPixels, 'decodeImage: the header says');
    try {
      bitmap = await createImageBitmap(blob, {
        colorSpaceConversion: 'none',
        premultiplyAlpha: 'none',
        imageOrientation: 'from-image',
      });
    } catch (error) {
      throw new ImageError(`decodeImage: the browser could not decode this image (${blob.size} bytes, type '${blob.type || 'unknown'}'): ${(error as Error).message}`);
    }
    owned = true;
  }
  try {
    const { width, height } = bitmap;
    if (width === 0 || height === 0) throw new ImageError(`decodeImage: image has no pixels (${width}×${height})`);
    checkPixelCap(width, height, maxPixels, 'decodeImage');
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!context) throw new ImageError('decodeImage: OffscreenCanvas 2d context unavailable');
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, width, height);
    return { data: new Uint8Array(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength), width, height, channels: 4 };
  } finally {
    if (owned) bitmap.close();
  }
}

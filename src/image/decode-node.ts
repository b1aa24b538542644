/**
 * Node image decoding with sharp (libvips): JPEG, PNG, WebP (and whatever else libvips reads) → RawImage
 * for preprocessImage (image.ts).
 *
 * It decodes the way the reference pipeline (PIL's Image.open + convert("RGB")) does, the embedded ICC
 * profile ignored, with one deliberate difference: EXIF orientation is applied (sharp's auto-orient), so
 * a phone photo stored sideways is seen upright, as viewers show it. Photos without the tag are unchanged. Tested equal to PIL byte for byte on RGB/RGBA, grey,
 * grey + alpha and palette PNGs and on baseline 4:2:0 JPEGs. Two known differences, both where PIL's own
 * conversion is lossy: 16-bit PNGs are scaled to 8 bits here (PIL clips its 'I' mode to 0..255), and CMYK
 * JPEGs go through libvips' CMYK → sRGB transform (PIL uses a naive 255 − C formula).
 */
import { checkPixelCap, ImageError, imageLimits, type RawImage } from './image.js';

import type sharpFunction from 'sharp';

type SharpModule = typeof sharpFunction;

let sharpModule: Promise<SharpModule> | null = null;

function loadSharp(): Promise<SharpModule> {
  sharpModule ??= import('sharp').then(
    (module: { default?: SharpModule }) => {
      const sharp = (module.default ?? module) as SharpModule;
      // Every photo is decoded once: libvips's operation cache would only hold on to pixels nobody asks for again.
      sharp.cache(false);
      // One libvips thread per decode: photos are decoded one at a time while the GPU works, and each extra
      // thread keeps its own malloc arena, which on glibc grows the process without bound in long runs.
      sharp.concurrency(1);
      return sharp;
    },
    (error: Error) => {
      sharpModule = null;
      throw new ImageError(`decodeImage: the 'sharp' package could not be loaded (${error.message}); run \`npm install sharp\``);
    },
  );
  return sharpModule;
}

/** Names the container from its first bytes, or null when it is none we know. */
export function sniffImageFormat(bytes: Uint8Array): 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | null {
  const at = (offset: number, ...values: number[]) => values.every((v, i) => bytes[offset + i] === v);
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (at(4, 0x66, 0x74, 0x79, 0x70) && (at(8, 0x61, 0x76, 0x69, 0x66) || at(8, 0x61, 0x76, 0x69, 0x73))) return 'avif';
  return null;
}

/**
 * Decodes an encoded image to 8-bit sRGB pixels (3 channels, or 4 with alpha). Throws ImageError naming
 * the problem for empty, unknown, corrupt or truncated input.
 */
export async function decodeImage(bytes: Uint8Array, options: { maxPixels?: number } = {}): Promise<RawImage> {
  const maxPixels = options.maxPixels ?? imageLimits.maxPixels;
  if (bytes.length === 0) throw new ImageError('decodeImage: no bytes (empty file?)');
  const format = sniffImageFormat(bytes);
  if (!format) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ImageError(`decodeImage: unsupported image format (first bytes ${head}); expected JPEG, PNG or WebP`);
  }
  const sharp = await loadSharp();
  // The cap is checked from the header (libvips reads no pixels for metadata), then enforced by libvips too.
  let header: { width?: number; height?: number; pages?: number };
  try {
    header = await sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ImageError(`decodeImage: corrupt or unreadable ${format.toUpperCase()} (${bytes.length} bytes): ${(error as Error).message.trim()}`);
  }
  if (header.width !== undefined && header.height !== undefined) checkPixelCap(header.width, header.height, maxPixels, `decodeImage: ${format.toUpperCase()} header says`);
  try {
    // failOn 'error' rejects truncated or damaged data that libvips would otherwise half-decode in grey.
    const { data, info } = await sharp(bytes, { failOn: 'error', ignoreIcc: true, autoOrient: true, limitInputPixels: Math.max(1, maxPixels) })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 && info.channels !== 4) {
      throw new Error(`decoder returned ${info.channels} channels`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(`decodeImage: corrupt or unreadable ${format.toUpperCase()} (${bytes.length} bytes): ${(error as Error).message.trim()}`);
  }
}

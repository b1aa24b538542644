/**
 * GPS from a photo's own EXIF (exifr): a geotagged photo carries its answer, so locate() reports it beside
 * the prediction and `geolens eval` can take labels from it.
 */
// The lite build reads the EXIF and GPS blocks and, unlike the full one, carries no Node file loader that
// browser bundlers flag as a computed import.
import exifr from 'exifr/dist/lite.esm.mjs';
import { isNode } from '../runtime/env.js';
import { haversineKm } from './distance.js';

export interface ExifGps {
  lat: number;
  lon: number;
}

/**
 * The GPS block only (tags 1–4: latitude ref, latitude, longitude ref, longitude), with the options
 * exifr.gps() itself passes; exifr's types leave out the `ifd0: false` it uses there.
 */
const GPS_ONLY = {
  ifd0: false, ifd1: false, exif: false, interop: false, gps: [1, 2, 3, 4], mergeOutput: false, translateKeys: true, translateValues: false, reviveValues: true, firstChunkSize: 40000,
} as unknown as Parameters<typeof exifr.parse>[1];

interface GpsTags {
  GPSLatitudeRef?: unknown;
  GPSLongitudeRef?: unknown;
  latitude?: number;
  longitude?: number;
}

/** EXIF stores a reference as one ASCII letter (NUL-terminated); anything else means no position. */
function isRef(value: unknown, positive: string, negative: string): boolean {
  if (typeof value !== 'string') return false;
  const letter = value.replace(/\0+$/, '').trim();
  return letter === positive || letter === negative;
}

/**
 * The photo's EXIF GPS position, or null when it has none, no readable EXIF at all, or references other
 * than N/S and E/W.
 */
export async function readExifGps(input: string | Uint8Array | ArrayBuffer | Blob): Promise<ExifGps | null> {
  try {
    // The lite build reads bytes only: a Node path is read here, as a regular file within the image size cap.
    if (typeof input === 'string' && !/^(https?|blob|data):/i.test(input)) {
      const { readRegularFile, READ_LIMITS } = await import('../io/read-file.js');
      const { ImageError } = await import('../image/image.js');
      input = await readRegularFile(input.startsWith('file:') ? decodeURIComponent(new URL(input).pathname) : input, READ_LIMITS.imageBytes, 'image file', ImageError);
    }
    // exifr.gps() negates for 'S' / 'W' and reads any other reference as N / E: a damaged 'Q' or a
    // lowercase 's' would flip the sign. The references are read here and only the four EXIF letters count.
    const parsed = (await exifr.parse(input as Parameters<typeof exifr.parse>[0], GPS_ONLY)) as { gps?: GpsTags } | undefined;
    const gps = parsed?.gps;
    if (!gps || !isRef(gps.GPSLatitudeRef, 'N', 'S') || !isRef(gps.GPSLongitudeRef, 'E', 'W')) return null;
    const lat = gps.latitude;
    const lon = gps.longitude;
    if (typeof lat !== 'number' || typeof lon !== 'number' || !Number.isFinite(lat) || !Number.isFinite(lon)) return null;
    if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
    return { lat, lon };
  } catch {
    // Formats exifr does not know (or damaged EXIF) mean no position, not a failed locate.
    return null;
  }
}

/** What locate() attaches as `result.exif`: the photo's own position and how far the top place is from it. */
export interface ExifReport extends ExifGps {
  /** Great-circle km from the EXIF position to the top place (its refined point when refined). */
  distanceKm: number;
}

/** Adds `exif` to each result whose input carries GPS; decoded pixels, bitmaps and browser URLs are not read. */
export async function attachExifGps(inputs: readonly unknown[], results: { places: { lat: number; lon: number; refined?: { lat: number; lon: number } }[]; exif?: ExifReport }[]): Promise<void> {
  await Promise.all(
    inputs.map(async (input, i) => {
      // A string is a file path in Node; in a browser it is a URL, and reading EXIF would fetch it twice.
      const readable = (typeof input === 'string' && isNode()) || input instanceof Uint8Array || input instanceof ArrayBuffer || (typeof Blob !== 'undefined' && input instanceof Blob);
      if (!readable) return;
      const gps = await readExifGps(input as string | Uint8Array | ArrayBuffer | Blob);
      const top = results[i]?.places[0];
      if (!gps || !top) return;
      const at = top.refined ?? top;
      results[i]!.exif = { ...gps, distanceKm: haversineKm(gps.lat, gps.lon, at.lat, at.lon) };
    }),
  );
}

import { ImageError } from './image.js';

/** Largest image a URL may deliver (bigger answers are cut off, not buffered): 64 MiB. */
export const MAX_IMAGE_URL_BYTES = 64 << 20;

/**
 * Bytes of an image named by a string in Node: an http(s) URL (fetched, refused past `maxBytes`), a
 * file: URL, or a path.
 */
export async function readImageLocation(location: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? MAX_IMAGE_URL_BYTES;
  if (/^https?:\/\//i.test(location)) return fetchImage(location, maxBytes, options.signal);
  let path = location;
  if (/^file:/i.test(location)) {
    const { fileURLToPath } = await import('node:url');
    try {
      path = fileURLToPath(location);
    } catch (error) {
      throw new ImageError(`not a usable file: URL (${(error as Error).message})`);
    }
  }
  // Regular files only, size-capped: a FIFO, /dev/zero or a socket is refused before it is opened.
  const { readRegularFile, READ_LIMITS } = await import('../weights/read-file.js');
  return readRegularFile(path, READ_LIMITS.imageBytes, 'image file', ImageError);
}

async function fetchImage(url: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    throw new ImageError(`could not fetch the image (${(error as Error).message})`);
  }
  if (!response.ok) throw new ImageError(`could not fetch the image (HTTP ${response.status})`);
  const { responseBytes } = await import('../weights/read-file.js');
  return responseBytes(response, maxBytes, `image ${url}`, ImageError);
}

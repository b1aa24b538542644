// Turning what locate() is given (bytes, a Blob, decoded pixels, a path or URL) into decoded pixels, one
// micro-batch at a time; in settle mode an image that cannot be read becomes its one-line `{ error }`.
import type { RawImage } from '../image/image.js';
import { readImage } from '../image/read.js';
import { GeolensError, isNode } from '../runtime/index.js';
import type { ImageInput, LocateFailure, LocateResult } from './options.js';

/** Decodes one micro-batch; with `settle`, an image that fails becomes its `{ error }` instead of a throw. */
export async function decodeMicroBatch(images: ImageInput[], firstIndex: number, options: { settle?: boolean; signal?: AbortSignal }): Promise<(RawImage | LocateFailure)[]> {
  const out: (RawImage | LocateFailure)[] = [];
  for (let i = 0; i < images.length; i++) {
    try {
      out.push(await decodeInput(images[i]!, firstIndex + i, options.signal));
    } catch (error) {
      if (!options.settle || (error as Error).name === 'AbortError') throw error;
      out.push({ error: describeFailure(error, images[i]!, firstIndex + i) });
    }
  }
  return out;
}

export async function decodeInput(input: ImageInput, index: number, signal?: AbortSignal): Promise<RawImage> {
  try {
    return await readImage(input, { signal });
  } catch (error) {
    if (error instanceof GeolensError && error.name !== 'AbortError') {
      error.message = `image ${index}${typeof input === 'string' ? ` (${input})` : ''}: ${error.message}`;
    }
    throw error;
  }
}

/** The one-line message of a settled image: names the image (index, and the string it was given as). */
function describeFailure(error: unknown, input: ImageInput, index: number): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/^image \d+/.test(message)) return message;
  return `image ${index}${typeof input === 'string' ? ` (${input})` : ''}: ${message}`;
}

export function isFailure(value: RawImage | LocateFailure | LocateResult): value is LocateFailure {
  return typeof (value as LocateFailure).error === 'string';
}

/** A 1×1 PNG: decoding it once loads the image decoder (sharp and libvips in Node) before the first locate. */
const ONE_PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAADElEQVQImWNoaGgAAAMEAYEezv+mAAAAAElFTkSuQmCC';

export async function warmDecoder(): Promise<void> {
  if (!isNode()) return;
  const bytes = Uint8Array.from(atob(ONE_PIXEL_PNG), (c) => c.charCodeAt(0));
  // A decoder that fails to load is reported by the first locate, naming the image.
  await decodeInput(bytes, 0).catch(() => {});
}

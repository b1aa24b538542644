/**
 * The one way geolens turns what a caller names into pixels. `locate()` on one image, folder and list
 * runs (`geolens locate <folder> --out`), queue workers, eval and browsers all read through readImage(),
 * so every one of them holds the same limits (docs/LIMITS.md):
 *
 *   path / file: URL (Node)  regular files only, refused by type before opening (a FIFO, /dev/zero, a
 *                            directory); at most `maxFileBytes` (src/io/read-file.ts)
 *   http(s) URL              response headers within `connectTimeoutMs`; then at least `idleMinBytes`
 *                            every `idleTimeoutMs` (a server that trickles a byte every few seconds is
 *                            dropped, as curl's --speed-limit does); the whole body within
 *                            `totalTimeoutMs`; at most `maxUrlBytes`, by Content-Length and while
 *                            streaming (responseBytes), so an endless body never grows memory past the cap
 *   decoding                 the pixel cap from the header, before pixels are allocated (decode-*.ts)
 *
 * ImageError: the image itself is at fault (it will fail again). ImageFetchError: the network or the
 * server failed this time (timeouts, 5xx, 429, a refused connection); a queue retries those.
 */
import { GeolensError } from '../runtime/errors.js';
import { isNode } from '../runtime/env.js';
import { AbortError } from '../runtime/abort.js';
import { READ_LIMITS, readRegularFile, responseBytes } from '../io/read-file.js';
import { ImageError, type RawImage } from './image.js';

/** What an image may be given as: bytes, a Blob, decoded pixels, a path or URL (string), an ImageBitmap. */
export type ImageInput = Uint8Array | ArrayBuffer | Blob | RawImage | string | ImageBitmap;

/** The image could not be fetched this time (network, server error, timeout); a later try may work. */
export class ImageFetchError extends GeolensError {
  override name = 'ImageFetchError';
}

/**
 * Process-wide bounds of readImage(); each can also be passed per call. The CLI takes the URL timeouts
 * from GEOLENS_URL_CONNECT_MS, GEOLENS_URL_IDLE_MS and GEOLENS_URL_TOTAL_MS.
 */
export const imageReadLimits = {
  /** Largest image file read from a path: 256 MiB. */
  maxFileBytes: READ_LIMITS.imageBytes,
  /** Largest body an image URL may deliver: 64 MiB. */
  maxUrlBytes: 64 << 20,
  /** From the request to the response headers. */
  connectTimeoutMs: 15_000,
  /** A body that delivers fewer than `idleMinBytes` in this long is dropped. */
  idleTimeoutMs: 15_000,
  idleMinBytes: 1024,
  /** The whole body, however steadily it arrives. */
  totalTimeoutMs: 300_000,
};

export interface ReadImageOptions extends Partial<typeof imageReadLimits> {
  /** Stops a fetch in flight (AbortError). */
  signal?: AbortSignal;
  /** Pixel cap for this image (default imageLimits.maxPixels). */
  maxPixels?: number;
  /** Byte cap for this call, whatever the input (default maxUrlBytes for URLs, maxFileBytes for paths). */
  maxBytes?: number;
}

function isRawImage(input: ImageInput): input is RawImage {
  return typeof input === 'object' && input !== null && 'data' in input && 'width' in input && 'channels' in input;
}

/** Decoded pixels of `input`, read and decoded within the limits above. RawImage input is returned as given. */
export async function readImage(input: ImageInput, options: ReadImageOptions = {}): Promise<RawImage> {
  if (isRawImage(input)) return input;
  const decode = { maxPixels: options.maxPixels };
  if (isNode()) {
    const { decodeImage } = await import('./decode-node.js');
    if (typeof input === 'string') return decodeImage(await readImageLocation(input, options), decode);
    if (input instanceof ArrayBuffer) return decodeImage(new Uint8Array(input), decode);
    if (input instanceof Uint8Array) return decodeImage(input, decode);
    if (typeof Blob !== 'undefined' && input instanceof Blob) return decodeImage(new Uint8Array(await input.arrayBuffer()), decode);
    throw new ImageError('unsupported input in Node (give bytes, a Blob, decoded pixels or a path)');
  }
  const { decodeImage } = await import('./decode-browser.js');
  if (typeof input === 'string') return decodeImage(await fetchImage(input, options), decode);
  return decodeImage(input as Uint8Array | ArrayBuffer | Blob | ImageBitmap, decode);
}

/**
 * The encoded bytes an image string names: an http(s) URL (fetched within the URL limits), or in Node a
 * file: URL or a path (a regular file within maxFileBytes).
 */
export async function readImageLocation(location: string, options: ReadImageOptions = {}): Promise<Uint8Array> {
  if (/^https?:\/\//i.test(location) || !isNode()) return fetchImage(location, options);
  let path = location;
  if (/^file:/i.test(location)) {
    const { fileURLToPath } = await import('node:url');
    try {
      path = fileURLToPath(location);
    } catch (error) {
      throw new ImageError(`not a usable file: URL (${(error as Error).message})`);
    }
  }
  return readRegularFile(path, options.maxBytes ?? options.maxFileBytes ?? imageReadLimits.maxFileBytes, 'image file', ImageError);
}

/** Seconds for messages: "15 s", "0.3 s". */
function seconds(ms: number): string {
  return `${ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10} s`;
}

async function fetchImage(url: string, options: ReadImageOptions): Promise<Uint8Array> {
  const limit = <K extends keyof typeof imageReadLimits>(key: K) => options[key] ?? imageReadLimits[key];
  const maxBytes = options.maxBytes ?? limit('maxUrlBytes');
  const connectMs = limit('connectTimeoutMs');
  const idleMs = limit('idleTimeoutMs');
  const idleMinBytes = limit('idleMinBytes');
  const totalMs = limit('totalTimeoutMs');
  const { signal } = options;
  if (signal?.aborted) throw new AbortError(`reading ${url} aborted`);

  // One controller ends the request whichever bound is hit; `failure` says which one it was.
  const controller = new AbortController();
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    controller.abort(failure);
  };
  const onAbort = () => fail(new AbortError(`reading ${url} aborted`));
  signal?.addEventListener('abort', onAbort, { once: true });
  const timers: ReturnType<typeof setTimeout>[] = [];
  timers.push(setTimeout(() => fail(new ImageFetchError(`no response within ${seconds(connectMs)} (connect timeout)`)), connectMs));
  timers.push(setTimeout(() => fail(new ImageFetchError(`the body took more than ${seconds(totalMs)} (total timeout)`)), totalMs));
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (error) {
      throw failure ?? new ImageFetchError(`fetch failed (${(error as Error).message})`);
    }
    clearTimeout(timers.shift());
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      const transient = response.status >= 500 || response.status === 429 || response.status === 408;
      throw new (transient ? ImageFetchError : ImageError)(`could not fetch the image (HTTP ${response.status})`);
    }
    const watched = response.body ? new Response(watchIdle(response.body, idleMs, idleMinBytes, () => fail(new ImageFetchError(`fewer than ${idleMinBytes} bytes in ${seconds(idleMs)} (idle timeout)`)), () => failure), { headers: response.headers }) : response;
    try {
      return await responseBytes(watched, maxBytes, 'image', ImageError);
    } catch (error) {
      throw failure ?? (error instanceof GeolensError ? error : new ImageFetchError(`the body broke off (${(error as Error).message})`));
    }
  } finally {
    for (const timer of timers) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * `body`, passed through, that calls `onIdle` when fewer than `minBytes` arrive within any `idleMs`
 * window, and then errors with `failure()` so the reader stops at once.
 */
function watchIdle(body: ReadableStream<Uint8Array>, idleMs: number, minBytes: number, onIdle: () => void, failure: () => Error | null): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let windowBytes = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stalled: (error: Error) => void = () => {};
  const idle = new Promise<never>((_, reject) => (stalled = reject));
  idle.catch(() => {});
  const arm = () => {
    timer = setTimeout(() => {
      if (windowBytes < minBytes) {
        onIdle();
        stalled(failure()!);
      } else {
        windowBytes = 0;
        arm();
      }
    }, idleMs);
  };
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return new ReadableStream<Uint8Array>({
    start: arm,
    async pull(controller) {
      try {
        const { done, value } = await Promise.race([reader.read(), idle]);
        if (done) {
          stop();
          controller.close();
          return;
        }
        windowBytes += value.byteLength;
        controller.enqueue(value);
      } catch (error) {
        stop();
        controller.error(failure() ?? error);
      }
    },
    cancel(reason) {
      stop();
      return reader.cancel(reason);
    },
  });
}

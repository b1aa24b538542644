import { isNode } from '../runtime/env.js';
import { WeightsError } from './errors.js';

export { concatBytes } from './concat.js';

/**
 * Random access to the bytes of a weight file wherever it lives: memory, a Node file, a browser Blob,
 * or an HTTP server answering Range requests. Readers ask for one header or one tensor at a time, so a
 * 1.7 GB checkpoint never sits whole in JS memory.
 */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** The file's name or URL, for error messages. */
  readonly name: string;
  /**
   * Bytes [offset, offset + length). With `into`, they are written there (it must hold `length` bytes) and
   * `into` is returned; otherwise a new or shared array is returned that the caller must not write to.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function checkRange(source: { size: number; name: string }, offset: number, length: number, into?: Uint8Array): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new WeightsError(`${source.name}: invalid byte range at ${offset} of length ${length}`);
  }
  if (offset + length > source.size) {
    throw new WeightsError(`${source.name}: truncated file: bytes [${offset}, ${offset + length}) were asked for but the file has ${source.size} bytes`);
  }
  if (into && into.byteLength < length) throw new WeightsError(`${source.name}: destination of ${into.byteLength} bytes cannot hold ${length}`);
}

export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array, readonly name = '<memory>') {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length, into);
    into &&= into.subarray(0, length);
    const view = this.bytes.subarray(offset, offset + length);
    if (!into) return view;
    into.set(view);
    return into;
  }
  async close(): Promise<void> {}
}

/** A browser File/Blob (or a Cache API response's blob): slices are read lazily by the browser. */
export class BlobByteSource implements ByteSource {
  readonly size: number;
  constructor(private readonly blob: Blob, readonly name = '<blob>') {
    this.size = blob.size;
  }
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length, into);
    into &&= into.subarray(0, length);
    const bytes = new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
    if (!into) return bytes;
    into.set(bytes);
    return into;
  }
  async close(): Promise<void> {}
}

/** Node's largest single read; bigger tensors are read in pieces. */
const MAX_FILE_READ = 1 << 30;

type FileHandle = import('node:fs/promises').FileHandle;

export class FileByteSource implements ByteSource {
  private constructor(private readonly handle: FileHandle, readonly size: number, readonly name: string) {}

  static async open(path: string): Promise<FileByteSource> {
    if (!isNode()) throw new WeightsError(`cannot open the path '${path}' outside Node: pass a URL, a Blob or a Uint8Array`);
    // Imported lazily: the browser bundle must not reach node:fs. A FIFO or device is refused before open.
    const { openRegularFile } = await import('./read-file.js');
    const { handle, size } = await openRegularFile(path, 'weight file');
    return new FileByteSource(handle, size, path);
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length, into);
    into &&= into.subarray(0, length);
    const target = into ?? new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(target, done, Math.min(length - done, MAX_FILE_READ), offset + done);
      if (bytesRead === 0) throw new WeightsError(`${this.name}: file shrank while reading (got ${done} of ${length} bytes at ${offset})`);
      done += bytesRead;
    }
    return target;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpOptions {
  fetch?: FetchLike;
  headers?: Record<string, string>;
  /** Bytes fetched by the first request and kept (headers are read from them); default 64 KiB. */
  prefixBytes?: number;
}

/** The first request fetches this much, which covers most headers in one round trip. */
const HTTP_PREFIX = 1 << 16;

/**
 * A URL read with HTTP Range requests (browser fetch or Node's built-in fetch). The first 64 KiB are
 * kept, since headers are read in several small pieces.
 */
export class HttpByteSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly prefix: Uint8Array,
    private readonly fetcher: FetchLike,
    private readonly headers: Record<string, string>,
    private readonly validator: string | null,
  ) {}

  static async open(url: string, options: HttpOptions = {}): Promise<HttpByteSource> {
    const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    const headers = options.headers ?? {};
    const prefixBytes = Math.max(1, options.prefixBytes ?? HTTP_PREFIX);
    let response: Response;
    try {
      response = await fetcher(url, { headers: { ...headers, Range: `bytes=0-${prefixBytes - 1}` } });
    } catch (error) {
      throw new WeightsError(`cannot fetch ${url}: ${(error as Error).message}`);
    }
    if (response.status === 416) {
      await response.body?.cancel();
      return new HttpByteSource(url, 0, new Uint8Array(0), fetcher, headers, null);
    }
    if (response.status === 200) {
      await response.body?.cancel();
      throw new WeightsError(`${url}: the server ignored the HTTP Range request (status 200), so the file cannot be read a tensor at a time; download it first (downloadWeights / the cache option)`);
    }
    if (response.status !== 206) {
      await response.body?.cancel();
      throw new WeightsError(`cannot fetch ${url}: HTTP ${response.status} ${response.statusText}`);
    }
    const range = parseContentRange(response.headers.get('content-range'));
    if (!range || range.start !== 0) {
      await response.body?.cancel();
      throw new WeightsError(`${url}: missing or unexpected Content-Range '${response.headers.get('content-range')}' in answer to bytes=0-${prefixBytes - 1}`);
    }
    const prefix = new Uint8Array(await response.arrayBuffer());
    const expected = Math.min(prefixBytes, range.total);
    if (prefix.byteLength !== expected) throw new WeightsError(`${url}: got ${prefix.byteLength} bytes for the first range, expected ${expected}`);
    const validator = strongEtag(response.headers.get('etag'));
    return new HttpByteSource(url, range.total, prefix, fetcher, headers, validator);
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length, into);
    into &&= into.subarray(0, length);
    if (offset + length <= this.prefix.byteLength) {
      const view = this.prefix.subarray(offset, offset + length);
      if (!into) return view;
      into.set(view);
      return into;
    }
    const target = into ?? new Uint8Array(length);
    if (length === 0) return target;
    // Only Range: it is CORS-safelisted, so browsers send no preflight. A changed file is caught below by
    // its size and strong ETag instead of If-Range.
    const headers: Record<string, string> = { ...this.headers, Range: `bytes=${offset}-${offset + length - 1}` };
    let response: Response;
    try {
      response = await this.fetcher(this.name, { headers });
    } catch (error) {
      throw new WeightsError(`cannot fetch bytes ${offset}-${offset + length - 1} of ${this.name}: ${(error as Error).message}`);
    }
    if (response.status !== 206) {
      await response.body?.cancel();
      const why = response.status === 200 ? 'the file changed on the server or Range is no longer honoured' : `HTTP ${response.status} ${response.statusText}`;
      throw new WeightsError(`${this.name}: range ${offset}-${offset + length - 1} failed: ${why}`);
    }
    const range = parseContentRange(response.headers.get('content-range'));
    if (!range || range.start !== offset || range.end !== offset + length - 1) {
      await response.body?.cancel();
      throw new WeightsError(`${this.name}: asked for bytes ${offset}-${offset + length - 1}, server sent Content-Range '${response.headers.get('content-range')}'`);
    }
    const etag = strongEtag(response.headers.get('etag'));
    if (range.total !== this.size || (this.validator && etag && etag !== this.validator)) {
      await response.body?.cancel();
      throw new WeightsError(`${this.name}: the file changed on the server while being read (size ${this.size} → ${range.total}, ETag ${this.validator} → ${etag}); open it again`);
    }
    // Stream straight into the target: no second copy of a big tensor.
    let done = 0;
    const reader = response.body!.getReader();
    for (;;) {
      const { done: finished, value } = await reader.read();
      if (finished) break;
      if (done + value.byteLength > length) {
        await reader.cancel();
        throw new WeightsError(`${this.name}: server sent more than the ${length} bytes asked for at ${offset}`);
      }
      target.set(value, done);
      done += value.byteLength;
    }
    if (done !== length) throw new WeightsError(`${this.name}: connection ended after ${done} of ${length} bytes at ${offset}`);
    return target;
  }

  async close(): Promise<void> {}
}

/** A strong ETag, or null (weak ones may differ between equal files served by different machines). */
export function strongEtag(value: string | null): string | null {
  return value && !value.startsWith('W/') ? value : null;
}

export function parseContentRange(value: string | null): { start: number; end: number; total: number } | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value?.trim() ?? '');
  if (!match) return null;
  const [start, end, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!(start <= end && end < total)) return null;
  return { start, end, total };
}

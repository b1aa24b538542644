import { concatBytes } from './concat.js';
import { WeightsError } from './errors.js';

/**
 * Opening a path is where a hostile or mistaken path bites: a FIFO blocks open() forever, /dev/zero
 * never ends, /dev/urandom fills memory. Every path geolens reads goes through these checks: the type
 * comes from stat() before anything is opened, the open itself never blocks (O_NONBLOCK), the opened
 * file is checked again (the path may have been swapped in between), and whole-file reads are capped by
 * what their format allows.
 */

/** Size caps of the files geolens reads whole (docs/LIMITS.md). */
export const READ_LIMITS = {
  /** Encoded images (JPEG, PNG, WebP…). */
  imageBytes: 256 << 20,
  /** Gallery CSVs: GeoCLIP's 100k points are 2 MB. */
  csvBytes: 256 << 20,
  /** JSON configs and vocabularies. */
  jsonBytes: 64 << 20,
};

type ErrorClass = new (message: string) => Error;

function describeType(stat: import('node:fs').Stats): string {
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** Opens a regular file for reading without ever blocking on it; throws `Failure` for anything else. */
export async function openRegularFile(path: string, what: string, Failure: ErrorClass = WeightsError): Promise<{ handle: import('node:fs/promises').FileHandle; size: number }> {
  const fs = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  let stat: import('node:fs').Stats;
  try {
    stat = await fs.stat(path);
  } catch (error) {
    throw new Failure(`cannot open ${what} '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!stat.isFile()) throw new Failure(`${what} '${path}' is ${describeType(stat)}, not a regular file`);
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await fs.open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw new Failure(`cannot open ${what} '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const opened = await handle.stat();
  if (!opened.isFile()) {
    await handle.close();
    throw new Failure(`${what} '${path}' is ${describeType(opened)}, not a regular file`);
  }
  return { handle, size: opened.size };
}

/** The whole of a regular file of at most `maxBytes`. */
export async function readRegularFile(path: string, maxBytes: number, what: string, Failure: ErrorClass = WeightsError): Promise<Uint8Array> {
  const { handle, size } = await openRegularFile(path, what, Failure);
  try {
    if (size > maxBytes) throw new Failure(`${what} '${path}' is ${size} bytes, more than the ${maxBytes}-byte limit`);
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(out, done, size - done, done);
      if (bytesRead === 0) throw new Failure(`${what} '${path}' shrank while being read (${done} of ${size} bytes)`);
      done += bytesRead;
    }
    return out;
  } finally {
    await handle.close();
  }
}

/** A fetched body as text, refused past `maxBytes` (by its Content-Length first, then as it streams). */
export async function responseText(response: Response, maxBytes: number, what: string, Failure: ErrorClass = WeightsError): Promise<string> {
  return new TextDecoder().decode(await responseBytes(response, maxBytes, what, Failure));
}

/** A fetched body, refused past `maxBytes` (by its Content-Length first, then as it streams). */
export async function responseBytes(response: Response, maxBytes: number, what: string, Failure: ErrorClass = WeightsError): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Failure(`${what}: ${declared} bytes, more than the ${maxBytes}-byte limit`);
  }
  if (!response.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Failure(`${what}: more than the ${maxBytes}-byte limit`);
    }
    parts.push(value);
  }
  return concatBytes(parts);
}

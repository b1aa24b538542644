// The results file of a batch run: one JSON object a line, appended as images finish. A run killed in
// the middle of a write leaves at most one torn last line; reading the file cuts that line off, so the
// image is done again and appears exactly once.
import { createReadStream } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { GeolensError } from '../runtime/errors.js';

/** One line of the results: the image as given, and either locate()'s whole result or the error. */
export type ResultLine = { image: string; error?: string } & Record<string, unknown>;

/**
 * The images already in a results file (succeeded or failed). A torn last line is cut off the file;
 * a broken line anywhere else means the file is not ours, and is refused rather than appended to.
 * Memory grows with the number of lines' image names only, never with the results themselves.
 */
export async function readDoneImages(path: string): Promise<Set<string>> {
  const done = new Set<string>();
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return done;
    throw error;
  }
  // A character device (/dev/null, a terminal) holds no earlier results; anything else but a file is refused.
  if (info.isCharacterDevice()) return done;
  if (!info.isFile()) throw new GeolensError(`--out '${path}' is not a file`);
  let completeBytes = 0;
  let lineNumber = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (line: Buffer) => {
    lineNumber++;
    const text = line.toString('utf8').trim();
    if (text === '') return;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      throw new GeolensError(`${path}: line ${lineNumber} is not JSON; not a results file of geolens locate --out`);
    }
    const image = (record as { image?: unknown }).image;
    if (typeof image !== 'string') throw new GeolensError(`${path}: line ${lineNumber} has no "image" field`);
    done.add(image);
  };
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      take(pending.length > 0 ? Buffer.concat([...pending, piece]) : piece);
      completeBytes += pendingBytes + piece.length + 1;
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
    }
  }
  if (pendingBytes > 0) await truncate(path, completeBytes);
  return done;
}

/** Appends lines; each write() call is one system call, so a crash loses or tears only the last batch. */
export class JsonlWriter {
  private constructor(private readonly file: FileHandle) {}

  static async open(path: string): Promise<JsonlWriter> {
    try {
      return new JsonlWriter(await open(path, 'a'));
    } catch (error) {
      throw new GeolensError(`cannot write '${path}' (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }

  async write(lines: readonly ResultLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.file.write(lines.map((line) => JSON.stringify(line) + '\n').join(''));
  }

  async close(): Promise<void> {
    await this.file.datasync().catch(() => {});
    await this.file.close();
  }
}

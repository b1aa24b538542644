// Geolocating many images on one machine: micro-batches through the GPU while the CPU decodes the next
// one, one JSON line per image as soon as its batch is done, and resume from the results file.
//
// Memory is bounded by two micro-batches of decoded pixels (the one on the GPU and the one being
// decoded) plus the set of finished image names; it does not grow with the results.
import type { GeoLocator, LocateOptions, LocateResult } from '../api/geolocator.js';
import type { RawImage } from '../image/image.js';
import { AbortError } from '../runtime/abort.js';
import { DeviceError, GeolensError } from '../runtime/errors.js';
import { loadImage } from './inputs.js';
import { JsonlWriter, readDoneImages, type ResultLine } from './jsonl.js';

export interface FolderProgress {
  /** Images finished in this run (results and errors). */
  done: number;
  /** Images this run has to do (already finished ones are not counted). */
  total: number;
  failed: number;
  /** Images skipped because the results file already had them. */
  skipped: number;
}

export interface LocateManyOptions {
  /** Results file (JSON lines). Images already in it are skipped; new lines are appended. */
  out?: string;
  /** Where lines go when there is no `out` (default: stdout). */
  writeLine?: (line: string) => void;
  /** Images per GPU micro-batch (default 8). */
  batchSize?: number;
  locate?: LocateOptions;
  onProgress?: (progress: FolderProgress) => void;
  /**
   * Stops the run: reads in flight are aborted and the micro-batch in flight is dropped (not written), so
   * locateMany returns within milliseconds; lines written before stay, whole.
   */
  signal?: AbortSignal;
}

type Decoded = { image: string; raw: RawImage } | { image: string; error: string };

/**
 * Geolocates `images` (already expanded paths or URLs) and writes one line per image: `{ image, ...LocateResult }`
 * or `{ image, error }`. Errors of single images never stop the run; a lost device does (rerun to resume).
 */
export async function locateMany(locator: GeoLocator, images: readonly string[], options: LocateManyOptions = {}): Promise<FolderProgress> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new GeolensError(`batch size must be a positive integer, got ${batchSize}`);
  const done = options.out ? await readDoneImages(options.out) : new Set<string>();
  const todo = images.filter((image) => !done.has(image));
  const progress: FolderProgress = { done: 0, total: todo.length, failed: 0, skipped: images.length - todo.length };
  done.clear();
  const writer = options.out ? await JsonlWriter.open(options.out) : null;
  const print = options.writeLine ?? ((line: string) => process.stdout.write(line + '\n'));
  const { signal } = options;
  // A stop does not wait for the step in flight (a slow URL, a batch on a slow GPU): the run returns at
  // once, and what that step would have written is left for the next run. Lines are written only
  // between steps, whole, so a stop never tears one.
  const stopped = signal ? new Promise<typeof STOPPED>((resolve) => (signal.aborted ? resolve(STOPPED) : signal.addEventListener('abort', () => resolve(STOPPED), { once: true }))) : null;
  const unlessStopped = <T>(step: Promise<T>): Promise<T | typeof STOPPED> => {
    if (!stopped) return step;
    // Whatever the abandoned step ends with, nobody waits for it.
    step.catch(() => {});
    return Promise.race([step, stopped]);
  };
  options.onProgress?.({ ...progress });
  try {
    let next: Promise<Decoded[]> | null = todo.length > 0 && !signal?.aborted ? decodeBatch(todo.slice(0, batchSize), signal) : null;
    for (let start = 0; next; start += batchSize) {
      const current = await unlessStopped(next);
      if (current === STOPPED) break;
      // The CPU decodes the next micro-batch while the GPU embeds this one.
      const following = start + batchSize < todo.length ? todo.slice(start + batchSize, start + 2 * batchSize) : null;
      next = following && !signal?.aborted ? decodeBatch(following, signal) : null;
      const lines = await unlessStopped(locateDecoded(locator, current, options.locate, batchSize));
      if (lines === STOPPED) break;
      if (writer) await writeOrPrint(writer, lines, options.out!, print);
      else for (const line of lines) print(JSON.stringify(line));
      progress.done += lines.length;
      progress.failed += lines.filter((line) => line.error !== undefined).length;
      options.onProgress?.({ ...progress });
      if (signal?.aborted) break;
    }
    next?.catch(() => {});
  } finally {
    await writer?.close();
  }
  return progress;
}

const STOPPED = Symbol('stopped');

/**
 * Appends a micro-batch's lines; when the file cannot take them (a full disk), they are printed instead
 * and the run stops with an error that says so, so no located image is lost.
 */
async function writeOrPrint(writer: JsonlWriter, lines: ResultLine[], out: string, print: (line: string) => void): Promise<void> {
  try {
    await writer.write(lines);
  } catch (error) {
    for (const line of lines) print(JSON.stringify(line));
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new GeolensError(`could not write to '${out}' (${code}); the last ${lines.length} results are printed above, and a run again resumes after what the file holds`);
  }
}

function decodeBatch(images: string[], signal?: AbortSignal): Promise<Decoded[]> {
  return Promise.all(
    images.map((image) =>
      loadImage(image, { signal }).then(
        (raw): Decoded => ({ image, raw }),
        (error: Error): Decoded => {
          // A stopped read is the run's, not the image's: it gets no line (the next run reads it again).
          if (!(error instanceof GeolensError) || error instanceof AbortError) throw error;
          return { image, error: error.message };
        },
      ),
    ),
  );
}

/** Mid-grey, small: what pads a short batch, and what warms the pipelines up. */
export const FILLER: RawImage = { data: new Uint8Array(32 * 32 * 3).fill(128), width: 32, height: 32, channels: 3 };

/**
 * locate() on exactly `size` images, the real ones padded with FILLER. Kernels are compiled per shape,
 * and compiling blocks the thread for seconds on software adapters: one batch shape means one compile,
 * at warm-up, never in the middle of a run (a queue worker would miss its lock renewals).
 */
export async function locateFixed(locator: GeoLocator, images: RawImage[], size: number, options: LocateOptions): Promise<LocateResult[]> {
  const padded = images.length < size ? [...images, ...new Array<RawImage>(size - images.length).fill(FILLER)] : images;
  return (await locator.locate(padded, options)).slice(0, images.length);
}

/** locate() on the decoded images of one micro-batch; when it throws, each image alone, so only the bad one fails. */
export async function locateDecoded(locator: GeoLocator, batch: Decoded[], options: LocateOptions = {}, size = batch.length): Promise<ResultLine[]> {
  const lines: ResultLine[] = batch.map((item) => ({ image: item.image, ...('error' in item ? { error: item.error } : {}) }));
  const ok = batch.flatMap((item, i) => ('raw' in item ? [{ i, raw: item.raw }] : []));
  if (ok.length === 0) return lines;
  const fill = (i: number, result: LocateResult) => (lines[i] = { image: batch[i]!.image, ...result });
  try {
    const results = await locateFixed(locator, ok.map((item) => item.raw), size, options);
    results.forEach((result, j) => fill(ok[j]!.i, result));
  } catch (error) {
    if (!isImageFault(error)) throw error;
    for (const { i, raw } of ok) {
      try {
        fill(i, (await locateFixed(locator, [raw], size, options))[0]!);
      } catch (single) {
        if (!isImageFault(single)) throw single;
        lines[i] = { image: batch[i]!.image, error: (single as Error).message.replace(/^image 0: /, `${batch[i]!.image}: `) };
      }
    }
  }
  return lines;
}

/** An error that belongs to the image (bad pixels, a shape it cannot have), not to the device or the code. */
export function isImageFault(error: unknown): boolean {
  return error instanceof GeolensError && !(error instanceof DeviceError);
}

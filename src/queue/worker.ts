// A geolens worker: loads the models once, takes image jobs from BullMQ and runs them through the GPU
// in micro-batches. Jobs are gathered for a few milliseconds (or until a batch is full), decoded on the
// CPU as they arrive, and embedded together; while one batch is on the GPU the next one's jobs are
// already fetched and decoding (concurrency is two batches).
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { AbortError } from '../runtime/abort.js';
import { GeoLocator, type GeoLocatorOptions, type LocateOptions, type LocateResult } from '../api/geolocator.js';
import { FILLER, isImageFault, locateFixed } from '../batch/folder.js';
import { loadImage } from '../batch/inputs.js';
import type { RawImage } from '../image/image.js';
import { ImageError } from '../image/image.js';
import { GeolensError } from '../runtime/errors.js';
import { connect, resultKeys, type ImageJob, type QueueConnection } from './jobs.js';

export interface GeolensWorkerOptions extends QueueConnection {
  /** A loaded locator, or the options to load one. */
  locator: GeoLocator | GeoLocatorOptions;
  /**
   * As locateMany's `locate`: with `mergeKm` and `names` the stored lines are merged, named places, the
   * lines `geolens locate --out` writes (what `geolens worker` does unless --no-merge / --no-names).
   */
  locate?: LocateOptions;
  /** Images per GPU micro-batch (default 8); the worker holds two batches of jobs at a time. */
  batchSize?: number;
  /** How long a part-filled batch waits for more jobs (default 20 ms). */
  batchWaitMs?: number;
  /**
   * How long a job stays locked to this worker without a renewal (default 30 s). When a worker dies its
   * jobs go back to the queue this long after, found by another worker's stall check every
   * `stalledIntervalMs` (default 30 s).
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Called after each micro-batch. */
  onBatch?: (info: { images: number; failed: number; seconds: number }) => void;
}

export interface GeolensWorker {
  readonly worker: Worker<ImageJob>;
  readonly locator: GeoLocator;
  /**
   * Stops taking jobs and disconnects, within a few seconds: images still being read are dropped and
   * their jobs go back to the queue (no attempt used), a micro-batch on the GPU is finished and stored.
   * Resolves with the number of jobs handed back.
   */
  close(): Promise<number>;
}

type Pending = { raw: RawImage; image: string; resolve: (result: LocateResult) => void; reject: (error: unknown) => void };

/**
 * Collects decoded images into micro-batches and runs one batch at a time on the GPU. A full batch goes
 * at once; a part-filled one waits for the GPU to be free and then at most `waitMs` more, so jobs that
 * arrive while a batch runs join the next one instead of making small (padded, full-cost) batches.
 */
class MicroBatcher {
  private pending: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private gpu: Promise<void> = Promise.resolve();
  private batches = 0;

  constructor(
    private readonly locator: GeoLocator,
    private readonly size: number,
    private readonly waitMs: number,
    private readonly options: LocateOptions,
    private readonly onBatch?: GeolensWorkerOptions['onBatch'],
  ) {}

  /** Rejects the jobs not yet on the GPU with `reason`; the batch on the GPU still finishes. */
  stop(reason: Error): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const p of this.pending.splice(0)) p.reject(reason);
  }

  submit(image: string, raw: RawImage): Promise<LocateResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ raw, image, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.pending.length >= this.size) this.flush();
    else if (this.pending.length > 0 && this.batches === 0) this.timer ??= setTimeout(() => this.flush(), this.waitMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending.splice(0, this.size);
    if (batch.length === 0) return;
    this.batches++;
    this.gpu = this.gpu.then(() => this.run(batch)).finally(() => {
      this.batches--;
      this.schedule();
    });
  }

  private async run(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let failed = 0;
    try {
      const results = await locateFixed(this.locator, batch.map((p) => p.raw), this.size, this.options);
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (error) {
      if (!isImageFault(error) || batch.length === 1) {
        failed = batch.length;
        batch.forEach((p) => p.reject(error));
      } else {
        // One bad image must not fail its neighbours: each alone.
        for (const p of batch) {
          try {
            p.resolve((await locateFixed(this.locator, [p.raw], this.size, this.options))[0]!);
          } catch (single) {
            failed++;
            p.reject(single);
          }
        }
      }
    }
    this.onBatch?.({ images: batch.length, failed, seconds: (performance.now() - started) / 1000 });
  }
}

/**
 * Starts a BullMQ worker on the geolens queue. Each job's result is stored in the hash
 * `geolens:<queue>:results` under its job id (a job done twice, e.g. after a worker died mid-batch, is
 * stored once); a job that fails for good is stored in `geolens:<queue>:errors` with its reason and
 * stays in BullMQ's failed set. A corrupt image fails at once; other errors are retried with backoff.
 */
export async function createWorker(options: GeolensWorkerOptions): Promise<GeolensWorker> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new GeolensError(`batch size must be a positive integer, got ${batchSize}`);
  // Reach Redis first: a wrong URL should not wait for minutes of model loading.
  const { redis, owned, queue } = await connect(options);
  const locator = options.locator instanceof GeoLocator ? options.locator : await GeoLocator.create(options.locator);
  const locate = options.locate ?? {};
  // Compile every pipeline before taking jobs: a batch that blocks the thread for long loses its locks.
  // Batches are always padded to batchSize, so this one shape is the only one ever run.
  await locateFixed(locator, [FILLER], batchSize, locate);

  const keys = resultKeys(queue);
  const batcher = new MicroBatcher(locator, batchSize, options.batchWaitMs ?? 20, locate, options.onBatch);

  const closing = new AbortController();
  // Job ids, not a count: a job handed back may be fetched once more before the worker stops fetching.
  const handedBack = new Set<string>();
  const processor = async (job: Job<ImageJob>, token?: string): Promise<void> => {
    const image = job.data.image;
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      const result = await batcher.submit(image, await loadImage(image, { signal: closing.signal }));
      await redis.multi().hset(keys.results, job.id!, JSON.stringify({ image, ...result })).hdel(keys.errors, job.id!).exec();
    } catch (error) {
      if (closing.signal.aborted && error instanceof AbortError) {
        // Stopped, not failed: back to the queue for this or another worker, no attempt used.
        await job.moveToWait(token);
        handedBack.add(job.id!);
        throw new WaitingError();
      }
      const message = error instanceof Error ? error.message : String(error);
      const permanent = error instanceof ImageError;
      if (permanent || final) await redis.hset(keys.errors, job.id!, JSON.stringify({ image, error: message }));
      // A corrupt image stays corrupt: no retries.
      throw permanent ? new UnrecoverableError(message) : error;
    }
  };

  const worker = new Worker<ImageJob>(queue, processor, {
    connection: redis,
    concurrency: 2 * batchSize,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: 3,
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 100_000 },
  });
  worker.on('error', (error) => process.stderr.write(`geolens worker: ${error.message}\n`));
  await worker.waitUntilReady();

  return {
    worker,
    locator,
    async close() {
      const closed = worker.close();
      const reason = new AbortError('the worker is stopping');
      closing.abort(reason);
      batcher.stop(reason);
      await closed;
      if (owned) await redis.quit();
      return handedBack.size;
    },
  };
}

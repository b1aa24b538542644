/**
 * geolens on many machines: a BullMQ queue on one Redis, any number of workers. Node only (the package
 * entry `geolens/queue`), so browser bundles never meet bullmq or ioredis.
 *
 *   await enqueue(['/shared/photos'], { redis: 'redis://queue-host:6379' });
 *   const worker = await createWorker({ redis: 'redis://queue-host:6379', locator: { dtype: 'f16' } });
 *   // elsewhere, later:
 *   await collectResults({ redis: 'redis://queue-host:6379', out: 'results.jsonl' });
 */
import { createWriteStream } from 'node:fs';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { expandInputs } from '../batch/inputs.js';
import { GeolensError } from '../runtime/errors.js';
import { connect, imageLocation, jobId, resultKeys, type ImageJob, type QueueConnection } from './jobs.js';

export { createWorker, type GeolensWorker, type GeolensWorkerOptions } from './worker.js';
export { locateMany, type LocateManyOptions, type FolderProgress } from '../batch/folder.js';
export { expandInputs } from '../batch/inputs.js';
export { jobId, imageLocation, DEFAULT_QUEUE, DEFAULT_REDIS, type QueueConnection, type ImageJob } from './jobs.js';

export interface EnqueueOptions extends QueueConnection {
  /** Tries per job before it counts as failed (default 3); waits 1 s, 2 s, 4 s, … between them. */
  attempts?: number;
  backoffMs?: number;
}

export interface EnqueueSummary {
  /** Images the inputs named. */
  images: number;
  /** Sent to the queue (BullMQ ignores those already waiting or running under the same id). */
  queued: number;
  /** Already finished (a result or a final error is stored), so not queued again. */
  done: number;
}

const CHUNK = 500;

/**
 * Queues one job per image: paths, folders, quoted globs, list files or URLs. Paths are made absolute,
 * so every worker must see the same files there (shared storage), or give URLs. Adding the same images
 * again queues nothing new.
 */
export async function enqueue(inputs: readonly string[], options: EnqueueOptions = {}): Promise<EnqueueSummary> {
  const attempts = options.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw new GeolensError(`attempts must be a positive integer, got ${attempts}`);
  const images = (await expandInputs(inputs)).map(imageLocation);
  return withQueue(options, async (queue, redis, keys) => {
    const summary: EnqueueSummary = { images: images.length, queued: 0, done: 0 };
    for (let start = 0; start < images.length; start += CHUNK) {
      const chunk = images.slice(start, start + CHUNK).map((image) => ({ image, id: jobId(image) }));
      const check = redis.pipeline();
      for (const { id } of chunk) check.hexists(keys.results, id).hexists(keys.errors, id);
      const found = ((await check.exec()) ?? []).map(([error, value]) => {
        if (error) throw error;
        return value === 1;
      });
      const fresh = chunk.filter((_, i) => !found[2 * i] && !found[2 * i + 1]);
      summary.done += chunk.length - fresh.length;
      if (fresh.length === 0) continue;
      await queue.addBulk(
        fresh.map(({ image, id }) => ({
          name: 'locate',
          data: { image } satisfies ImageJob,
          opts: { jobId: id, attempts, backoff: { type: 'exponential', delay: options.backoffMs ?? 1000 } },
        })),
      );
      summary.queued += fresh.length;
    }
    return summary;
  });
}

export interface QueueStatus {
  waiting: number;
  active: number;
  delayed: number;
  /** Jobs BullMQ holds as failed (a corrupt image, or out of retries). */
  failed: number;
  /** Results stored (successes) and final errors stored. */
  results: number;
  errors: number;
  workers: number;
  /** Up to 10 failed jobs with their reasons. */
  recentFailures: { id: string; image: string; reason: string }[];
}

export async function queueStatus(options: QueueConnection = {}): Promise<QueueStatus> {
  return withQueue(options, async (queue, redis, keys) => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
    const failedJobs = await queue.getFailed(0, 9);
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
      results: await redis.hlen(keys.results),
      errors: await redis.hlen(keys.errors),
      workers: await queue.getWorkersCount(),
      recentFailures: failedJobs.map((job) => ({ id: String(job.id), image: (job.data as ImageJob).image, reason: job.failedReason ?? '' })),
    };
  });
}

/**
 * Writes every stored result and final error as JSON lines (the format of `geolens locate --out`), to
 * `out` (replaced) or through `writeLine`. Reads the hashes in pages; SCAN may return an entry twice,
 * so the job ids written are remembered (about 50 bytes each), never the results.
 */
export async function collectResults(options: QueueConnection & { out?: string; writeLine?: (line: string) => void }): Promise<{ results: number; errors: number }> {
  const { redis, owned, queue } = await connect(options);
  const keys = resultKeys(queue);
  const file = options.out ? createWriteStream(options.out) : null;
  // A write that fails (a full disk) is an error naming the file, not a crash of the process.
  let writeError: Error | null = null;
  file?.on('error', (error) => (writeError ??= error));
  // Not events.once: it rejects on 'error', which is reported above instead.
  const closed = file ? new Promise<void>((resolve) => file.once('close', () => resolve())) : null;
  const drained = () => new Promise<void>((resolve) => {
    const done = () => {
      file!.off('drain', done);
      file!.off('close', done);
      resolve();
    };
    file!.once('drain', done);
    file!.once('close', done);
  });
  const failed = () => new GeolensError(`could not write '${options.out}' (${(writeError as NodeJS.ErrnoException).code ?? writeError!.message})`);
  const emit = async (line: string) => {
    if (!file) return (options.writeLine ?? ((l: string) => process.stdout.write(l + '\n')))(line);
    if (writeError) throw failed();
    if (!file.write(line + '\n')) await drained();
  };
  const counts = { results: 0, errors: 0 };
  const written = new Set<string>();
  try {
    for (const [key, kind] of [[keys.results, 'results'], [keys.errors, 'errors']] as const) {
      let cursor = '0';
      do {
        const [next, entries] = await redis.hscan(key, cursor, 'COUNT', 1000);
        cursor = next;
        for (let i = 1; i < entries.length; i += 2) {
          if (written.has(entries[i - 1]!)) continue;
          written.add(entries[i - 1]!);
          await emit(entries[i]!);
          counts[kind]++;
        }
      } while (cursor !== '0');
    }
  } finally {
    if (file) {
      if (!file.destroyed) file.end();
      await closed;
    }
    if (owned) await redis.quit();
  }
  if (writeError) throw failed();
  return counts;
}

async function withQueue<T>(options: QueueConnection, body: (queue: Queue, redis: Redis, keys: ReturnType<typeof resultKeys>) => Promise<T>): Promise<T> {
  const { redis, owned, queue: name } = await connect(options);
  const queue = new Queue(name, { connection: redis });
  try {
    return await body(queue, redis, resultKeys(name));
  } finally {
    await queue.close();
    if (owned) await redis.quit();
  }
}

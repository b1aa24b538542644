// `geolens worker`: loads the models once and geolocates jobs from the Redis queue until stopped
// (SIGINT/SIGTERM finish the jobs in flight first). Run one per GPU, on as many machines as you like.
import type { Command } from 'commander';
import { createWorker } from '../../queue/index.js';
import { locatorOptions, modelOptions, positiveInteger, type ModelFlags } from '../options.js';
import { redisOptions } from './queue.js';

interface WorkerFlags extends ModelFlags {
  redis?: string;
  queue: string;
  topK: number;
  candidates: number;
  batchSize: number;
  lockMs: number;
  stalledMs: number;
}

export function registerWorker(program: Command): void {
  modelOptions(
    redisOptions(
      program
        .command('worker')
        .description('take jobs from the queue (`geolens queue add`) and store their results in Redis')
        .option('-k, --top-k <n>', 'places per image', positiveInteger, 5)
        .option('--candidates <n>', 'first-stage candidates re-ranked by concepts', positiveInteger, 100)
        .option('--batch-size <n>', 'images per GPU micro-batch; two batches of jobs are held at a time', positiveInteger, 8)
        .option('--lock-ms <ms>', 'job lock: a dead worker\'s jobs return to the queue after this long', positiveInteger, 30_000)
        .option('--stalled-ms <ms>', 'how often to look for jobs of dead workers', positiveInteger, 30_000),
    ),
  ).action(async (flags: WorkerFlags) => {
    let images = 0;
    let failed = 0;
    let lastReport = performance.now();
    const started = performance.now();
    const worker = await createWorker({
      redis: flags.redis,
      queue: flags.queue,
      locator: locatorOptions(flags),
      locate: { topK: flags.topK, rerankCandidates: flags.candidates },
      batchSize: flags.batchSize,
      lockDurationMs: flags.lockMs,
      stalledIntervalMs: flags.stalledMs,
      onBatch: (batch) => {
        images += batch.images;
        failed += batch.failed;
        const now = performance.now();
        if (flags.quiet || now - lastReport < 10_000) return;
        lastReport = now;
        process.stderr.write(`worker: ${images} images, ${failed} errors, ${(images / ((now - started) / 1000)).toFixed(1)} images/s\n`);
      },
    });
    if (!flags.quiet) process.stderr.write(`worker: ready on queue '${flags.queue}' (${worker.locator.gpu.adapterName})\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await worker.close();
    if (!flags.quiet) process.stderr.write(`worker: stopped after ${images} images\n`);
  });
}

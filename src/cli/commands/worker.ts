// `geolens worker`: loads the models once and geolocates jobs from the Redis queue until stopped
// (SIGINT/SIGTERM: images being read go back to the queue, a batch on the GPU is stored, then the process
// ends with 128 + the signal's number). Run one per GPU, on as many machines as you like.
import type { Command } from 'commander';
import { createWorker } from '../../queue/index.js';
import { locatorOptions, modelOptions, positiveInteger, type ModelFlags } from '../options.js';
import { catchStopSignals } from '../stop-signals.js';
import { mergeFromFlags, mergeOptions } from './locate-places.js';
import { redisOptions } from './queue.js';

interface WorkerFlags extends ModelFlags {
  redis?: string;
  queue: string;
  topK: number;
  candidates: number;
  batchSize: number;
  lockMs: number;
  stalledMs: number;
  merge: boolean;
  mergeKm: number;
  names: boolean;
}

export function registerWorker(program: Command): void {
  mergeOptions(modelOptions(
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
  )).action(async (flags: WorkerFlags) => {
    let images = 0;
    const stop = catchStopSignals((signal) => `worker stopped by ${signal} after ${images} images`);
    let failed = 0;
    let lastReport = performance.now();
    const started = performance.now();
    const starting = createWorker({
      redis: flags.redis,
      queue: flags.queue,
      locator: locatorOptions(flags),
      // Stored lines read like `geolens locate --out`'s: merged and named unless --no-merge / --no-names.
      locate: { topK: flags.topK, rerankCandidates: flags.candidates, ...mergeFromFlags(flags) },
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
    // A stop while the models load leaves no job behind.
    const worker = await stop.unlessStopped(starting, (signal) => `worker stopped by ${signal} before taking any job`);
    if (!flags.quiet) process.stderr.write(`worker: ready on queue '${flags.queue}' (${worker.locator.gpu.adapterName})\n`);
    const signal = await stop.stopped;
    const handedBack = await worker.close();
    stop.exit(`worker stopped by ${signal} after ${images} images${handedBack > 0 ? `; ${handedBack} job${handedBack === 1 ? '' : 's'} being read went back to the queue` : ''}`);
  });
}

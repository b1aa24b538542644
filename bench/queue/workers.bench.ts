// Throughput of batch geolocation: `locateMany` over a folder in this process, then the BullMQ queue with
// one and with two `geolens worker` processes on a private redis-server. The model is the tiny test model
// (test/fixtures/generated/api), so the numbers are the pipeline's own costs (decode, queue round trips,
// Redis writes, small GPU batches), not a big ViT's; with ViT-L/14 each image costs ~32 s on SwiftShader
// and the queue adds nothing measurable.
//
//   node build.mjs && node build.mjs --bench queue && node .build/bench/queue/workers.bench.mjs [images]
//
// Timed from the moment the jobs are queued (workers already warm) to the last result stored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateMany } from '../../src/batch/folder.js';
import { expandInputs } from '../../src/batch/inputs.js';
import { enqueue, queueStatus } from '../../src/queue/index.js';
import { ensureModel, MODEL_FLAGS, referenceLocator, spawnCli, writeCollection } from '../../test/support/collection.js';
import { startRedis } from '../../test/support/redis.js';

const IMAGES = Number(process.argv[2] ?? 160);
const BATCH = 8;
const root = mkdtempSync(join(tmpdir(), 'geolens-bench-queue-'));
ensureModel();
await writeCollection(join(root, 'photos'), IMAGES, 64);
const images = await expandInputs([join(root, 'photos')]);

const locator = await referenceLocator(join(root, 'cache'));
await locateMany(locator, images.slice(0, BATCH), { batchSize: BATCH, writeLine: () => {} });
let started = performance.now();
await locateMany(locator, images, { batchSize: BATCH, writeLine: () => {} });
const folderRate = IMAGES / ((performance.now() - started) / 1000);
console.log(`locateMany (one process, batch ${BATCH}): ${folderRate.toFixed(1)} images/s`);

const redis = await startRedis();
const rates: number[] = [];
try {
  for (const workers of [1, 2]) {
    const queue = `${redis.queue}-${workers}`;
    const children = Array.from({ length: workers }, () =>
      spawnCli(['worker', '--redis', redis.url, '--queue', queue, ...MODEL_FLAGS, '--batch-size', String(BATCH), '--no-merge', '--no-names', '--quiet'], { env: { GEOLENS_CACHE: join(root, 'cache') } }),
    );
    while ((await queueStatus({ redis: redis.url, queue })).workers < workers) await new Promise((r) => setTimeout(r, 200));
    started = performance.now();
    await enqueue([join(root, 'photos')], { redis: redis.url, queue });
    for (;;) {
      const status = await queueStatus({ redis: redis.url, queue });
      if (status.results + status.errors >= IMAGES) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const rate = IMAGES / ((performance.now() - started) / 1000);
    rates.push(rate);
    console.log(`queue, ${workers} worker${workers > 1 ? 's' : ''} (batch ${BATCH}): ${rate.toFixed(1)} images/s`);
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => new Promise((r) => child.once('exit', r))));
  }
  console.log(`two workers / one: ×${(rates[1]! / rates[0]!).toFixed(2)} (on one machine they share its CPU cores)`);
} finally {
  await redis.stop();
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);

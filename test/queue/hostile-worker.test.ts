// A queue worker given what a hostile user would queue: a FIFO, /dev/zero, a pixel bomb, URLs that never
// end, claim 10 GB or trickle. Every job must end (stored error or result) within the read bounds, memory
// bounded, and a worker closed while a job is being read hands that job back to the queue at once.
// In this process (createWorker with the tiny model) on a private redis-server (test/support/redis.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import type { LocateResult } from '../../src/api/index.js';
import { imageReadLimits } from '../../src/image/read.js';
import { createWorker, enqueue, jobId, queueStatus } from '../../src/queue/index.js';
import { pngHeader } from '../model/png-bomb.js';
import { ensureModel, referenceLocator, referenceResults, samePlaces, writeCollection } from '../support/collection.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const root = mkdtempSync(join(tmpdir(), 'geolens-hostile-worker-'));
const saved = { ...imageReadLimits };
let server: HostileServer;
let redis: TestRedis;
let photos: string[];

test.before(async () => {
  ensureModel();
  photos = await writeCollection(join(root, 'photos'), 2);
  server = await startHostileServer(new Uint8Array(readFileSync(photos[0]!)), 300);
  redis = await startRedis();
  Object.assign(imageReadLimits, { connectTimeoutMs: 800, idleTimeoutMs: 800, maxUrlBytes: 8 << 20 });
});
test.after(async () => {
  Object.assign(imageReadLimits, saved);
  await server.close();
  await redis.stop();
  rmSync(root, { recursive: true, force: true });
});

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('FIFO, /dev/zero, pixel bomb, endless, 10 GB and trickling URLs: every job ends with its reason within seconds, the photo is located, memory bounded', async () => {
  const fifo = join(root, 'x.jpg');
  execFileSync('mkfifo', [fifo]);
  const zero = join(root, 'z.png');
  symlinkSync('/dev/zero', zero);
  const bomb = join(root, 'bomb.png');
  writeFileSync(bomb, pngHeader(20000, 20000));
  const urls = ['endless', 'huge', 'trickle'].map((name) => `${server.url}/${name}.png`);
  const connection = { redis: redis.url, queue: `${redis.queue}-hostile` };
  const inputs = [fifo, zero, bomb, ...urls, photos[0]!];
  // The trickle fails for the network's reasons (tried again), the others for the image's (at once).
  await enqueue(inputs, { ...connection, attempts: 2, backoffMs: 100 });
  const rssBefore = process.memoryUsage().rss;
  const worker = await createWorker({ ...connection, locator: await referenceLocator(), batchSize: 2 });
  const started = performance.now();
  const client = new IORedis(redis.url);
  try {
    const status = await until('every job to end', 20_000, async () => {
      const s = await queueStatus(connection);
      return s.results + s.errors === inputs.length && s;
    });
    console.log(`  ${inputs.length} hostile and good jobs ended in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.is(status.results, 1);
    assert.is(status.errors, inputs.length - 1);
    const stored = async (input: string, kind: 'results' | 'errors') => JSON.parse((await client.hget(`geolens:${connection.queue}:${kind}`, jobId(input)))!) as Record<string, unknown>;
    const reasons: [string, RegExp][] = [
      [fifo, /x\.jpg' is a FIFO \(named pipe\), not a regular file/],
      [zero, /z\.png' is a character device, not a regular file/],
      [bomb, /20000×20000 is 400000000 pixels, more than the cap/],
      [urls[0]!, /endless\.png: image: more than the 8388608-byte limit/],
      [urls[1]!, /huge\.png: image: 10737418240 bytes, more than the 8388608-byte limit/],
      [urls[2]!, /trickle\.png: fewer than 1024 bytes in 0.8 s \(idle timeout\)/],
    ];
    for (const [input, reason] of reasons) assert.match(String((await stored(input, 'errors')).error), reason);
    const reference = await referenceResults([photos[0]!]);
    assert.is(samePlaces((await stored(photos[0]!, 'results')) as unknown as LocateResult, reference.get(photos[0]!) as LocateResult), null);
    const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grown < 300, `RSS grew ${grown.toFixed(0)} MiB`);
  } finally {
    await worker.close();
    await client.quit();
  }
});

test('close() while a job is being read: back within a second, the job waiting again with no attempt used', async () => {
  Object.assign(imageReadLimits, { idleTimeoutMs: 60_000 });
  const connection = { redis: redis.url, queue: `${redis.queue}-close` };
  const trickle = `${server.url}/trickle.png`;
  await enqueue([trickle], connection);
  const worker = await createWorker({ ...connection, locator: await referenceLocator(), batchSize: 2 });
  let closed = false;
  try {
    await until('the job to be taken', 10_000, async () => (await queueStatus(connection)).active === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    const handedBack = await worker.close();
    closed = true;
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 1500, `close took ${tookMs.toFixed(0)} ms`);
    assert.is(handedBack, 1);
    const status = await queueStatus(connection);
    assert.equal([status.waiting, status.active, status.failed, status.errors, status.results], [1, 0, 0, 0, 0]);
    const queue = new Queue(connection.queue, { connection: { url: redis.url } });
    const job = await queue.getJob(jobId(trickle));
    await queue.close();
    assert.is(job?.attemptsMade, 0);
  } finally {
    Object.assign(imageReadLimits, { idleTimeoutMs: 800 });
    if (!closed) await worker.close();
  }
});

test.run();

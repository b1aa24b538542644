// The queue scenario shared by test/queue (200 jobs in the default suite) and test/stress (1,000): a real
// redis-server on loopback, jobs for a generated collection, two `geolens worker` processes, one SIGKILLed
// mid-run. Every image must come back exactly once, equal to locate() on it alone; corrupt images end
// failed with their reason.
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocateResult } from '../../src/api/index.js';
import { enqueue, jobId, queueStatus } from '../../src/queue/index.js';
import { ensureModel, finished, isCorrupt, MODEL_FLAGS, referenceResults, samePlaces, spawnCli, writeCollection } from './collection.js';
import { startRedis } from './redis.js';
import { Queue } from 'bullmq';
import { Redis as IORedis } from 'ioredis';

let lastStatus: unknown = null;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastStatus ? `; queue: ${JSON.stringify(lastStatus)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function queueScenario(jobs: number): Promise<void> {
  ensureModel();
  const root = mkdtempSync(join(tmpdir(), 'geolens-queue-'));
  const redis = await startRedis();
  const workers: ReturnType<typeof spawnCli>[] = [];
  const workerLogs: Promise<{ stderr: string }>[] = [];
  let failed = true;
  const started = performance.now();
  const lap = (what: string) => process.env.GEOLENS_TEST_TIMES && console.log(`  ${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  try {
    console.log(`  redis-server ${redis.url} (${redis.origin}), queue ${redis.queue}`);
    const images = await writeCollection(join(root, 'photos'), jobs);
    const poisoned = images.filter((_, i) => isCorrupt(i));
    const connection = { redis: redis.url, queue: redis.queue };
    const env = { GEOLENS_CACHE: join(root, 'cache') };

    const added = await enqueue([join(root, 'photos')], connection);
    assert.equal(added, { images: jobs, queued: jobs, done: 0 });
    // Adding again (through the CLI) queues nothing new: the job ids are the images' own.
    const again = await finished(spawnCli(['queue', 'add', '--redis', redis.url, '--queue', redis.queue, join(root, 'photos')]));
    assert.is(again.code, 0, again.stderr);
    assert.is((await queueStatus(connection)).waiting, jobs);

    // Held until both workers are up, so the kill lands while both take jobs (on a fast machine the first
    // worker would otherwise finish the queue while the second is still compiling).
    const adminRedis = new IORedis(redis.url, { maxRetriesPerRequest: null });
    const admin = new Queue(redis.queue, { connection: adminRedis });
    await admin.pause();
    const workerArgs = ['worker', '--redis', redis.url, '--queue', redis.queue, ...MODEL_FLAGS, '--batch-size', '4', '--lock-ms', '5000', '--stalled-ms', '1000'];
    const victim = spawnCli(workerArgs, { env });
    const survivor = spawnCli(workerArgs, { env });
    workers.push(victim, survivor);
    const victimDone = finished(victim);
    const survivorDone = finished(survivor);
    workerLogs.push(victimDone, survivorDone);

    await until('both workers up', 180_000, async () => (await queueStatus(connection)).workers >= 2);
    await admin.resume();
    await admin.close();
    await adminRedis.quit();
    // Kill one worker while both are taking jobs; what it held must come back to the other.
    const atKill = await until('both workers busy', 180_000, async () => {
      const status = (lastStatus = await queueStatus(connection));
      return status.workers >= 2 && status.results + status.errors >= Math.min(20, jobs / 4) && status.active > 0 && status;
    });
    victim.kill('SIGKILL');
    assert.is((await victimDone).signal, 'SIGKILL');
    assert.ok(atKill.results + atKill.errors < jobs, 'the kill came mid-run');
    lap(`killed one worker at ${atKill.results + atKill.errors} done`);

    const end = await until('all jobs done', 180_000, async () => {
      const status = (lastStatus = await queueStatus(connection));
      return status.results + status.errors === jobs && status.waiting + status.active + status.delayed === 0 && status;
    });
    lap('all done');
    const reference = await referenceResults(images);
    assert.is(end.errors, poisoned.length);
    assert.is(end.failed, poisoned.length);
    for (const failure of end.recentFailures) {
      assert.ok(poisoned.includes(failure.image), `${failure.image} failed: ${failure.reason}`);
      assert.match(failure.reason, /decodeImage/);
      assert.ok(failure.reason.includes(failure.image), `the reason names the image: ${failure.reason}`);
    }

    const out = join(root, 'results.jsonl');
    const collected = await finished(spawnCli(['queue', 'results', '--redis', redis.url, '--queue', redis.queue, '--out', out]));
    assert.is(collected.code, 0, collected.stderr);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.is(lines.length, jobs);
    const seen = new Map<string, number>();
    for (const line of lines) seen.set(line.image as string, (seen.get(line.image as string) ?? 0) + 1);
    for (const image of images) assert.is(seen.get(image), 1, `${image} appears ${seen.get(image) ?? 0} times`);
    for (const line of lines) {
      const image = line.image as string;
      const want = reference.get(image)!;
      if (poisoned.includes(image)) {
        assert.ok('error' in want, `reference fails on ${image} too`);
        assert.match(String(line.error), /decodeImage/);
      } else assert.is(samePlaces(line as unknown as LocateResult, want as LocateResult), null, image);
    }
    assert.ok(jobId(images[0]!) !== jobId(images[1]!));

    const status = await finished(spawnCli(['queue', 'status', '--redis', redis.url, '--queue', redis.queue]));
    assert.match(status.stdout, new RegExp(`waiting 0 .* failed ${poisoned.length} .*results ${jobs - poisoned.length} .*errors ${poisoned.length}`));

    survivor.kill('SIGTERM');
    const stopped = await survivorDone;
    assert.is(stopped.code, 0, `the worker stops cleanly on SIGTERM: ${stopped.stderr}`);
    failed = false;
  } finally {
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    if (failed) for (const log of await Promise.all(workerLogs)) console.error(`worker stderr:\n${log.stderr.split('\n').filter((l) => !/vulkan|dawn|^\s*$/i.test(l)).slice(-15).join('\n')}`);
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

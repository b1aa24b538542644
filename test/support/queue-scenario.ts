// The queue scenario shared by test/queue (200 jobs in the default suite) and test/stress (1,000): a real
// redis-server on loopback, jobs for a generated collection, two `geolens worker` processes, one SIGKILLed
// mid-run. Every image must come back exactly once, equal to locate() on it alone; corrupt images end
// failed with their reason.
//
// How often each job ran is counted from BullMQ's own event stream (`bull:<queue>:events`, written by its
// Lua scripts as a job becomes active, stalls, completes or fails), not from the results hash the worker
// writes (a hash keyed by job id would hide a job run twice). The jobs the killed worker held are found
// from their locks: the victim is frozen (SIGSTOP) first, and its locks are the group whose token (BullMQ's
// `<worker id>:<n>`) neither moves nor gets extended while the other worker's do.
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Active job id → its lock token and remaining lock time (ms), read straight from BullMQ's keys. */
async function activeLocks(redis: IORedis, queue: string): Promise<Map<string, { token: string; ttlMs: number }>> {
  const out = new Map<string, { token: string; ttlMs: number }>();
  for (const id of await redis.lrange(`bull:${queue}:active`, 0, -1)) {
    const [[, token], [, ttlMs]] = (await redis.multi().get(`bull:${queue}:${id}:lock`).pttl(`bull:${queue}:${id}:lock`).exec()) as [[null, string | null], [null, number]];
    if (token) out.set(id, { token, ttlMs });
  }
  return out;
}

/**
 * With `victim` frozen: the jobs it holds. Locks are grouped by worker (the token's prefix); over `watchMs`
 * (under half the lock time, so a frozen worker's locks cannot expire yet) a live worker releases or extends
 * some of its locks, a frozen one none. Null when that does not single out one frozen group beside a live one.
 */
async function frozenWorkersJobs(redis: IORedis, queue: string, watchMs: number): Promise<string[] | null> {
  const before = await activeLocks(redis, queue);
  const started = Date.now();
  await sleep(watchMs);
  const after = await activeLocks(redis, queue);
  const elapsed = Date.now() - started;
  const groups = new Map<string, { ids: string[]; frozen: boolean }>();
  for (const [id, lock] of before) {
    const worker = lock.token.split(':')[0]!;
    const group = groups.get(worker) ?? { ids: [], frozen: true };
    const now = after.get(id);
    // Untouched: same token, and its time ran down by the time that passed (an extension resets it).
    if (!now || now.token !== lock.token || now.ttlMs > lock.ttlMs - elapsed + 500) group.frozen = false;
    group.ids.push(id);
    groups.set(worker, group);
  }
  const frozen = [...groups.values()].filter((g) => g.frozen);
  return frozen.length === 1 && groups.size === 2 ? frozen[0]!.ids : null;
}

interface JobEvents {
  active: number;
  stalled: number;
  completed: number;
  failed: number;
  /** Stream ids (ms-seq) of this job's events, in order, with their names. */
  log: { id: string; event: string }[];
}

/** Every event of the queue's BullMQ event stream, per job id. */
async function jobEvents(redis: IORedis, queue: string): Promise<{ perJob: Map<string, JobEvents>; added: number }> {
  const perJob = new Map<string, JobEvents>();
  let added = 0;
  let from = '-';
  for (;;) {
    const page = (await redis.xrange(`bull:${queue}:events`, from, '+', 'COUNT', 1000)) as [string, string[]][];
    for (const [id, fields] of page) {
      const field = (name: string) => fields[fields.indexOf(name) + 1];
      const event = field('event')!;
      const job = fields.includes('jobId') ? field('jobId')! : null;
      if (!job) continue;
      if (event === 'added') added++;
      const entry = perJob.get(job) ?? { active: 0, stalled: 0, completed: 0, failed: 0, log: [] };
      if (event === 'active' || event === 'stalled' || event === 'completed' || event === 'failed') entry[event]++;
      entry.log.push({ id, event });
      perJob.set(job, entry);
    }
    if (page.length < 1000) break;
    from = `(${page[page.length - 1]![0]}`;
  }
  return { perJob, added };
}

/** Stream ids compare as (ms, seq). */
function streamAfter(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am > bm || (am === bm && as > bs);
}

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
  let adminRedis: IORedis | null = null;
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
    adminRedis = new IORedis(redis.url, { maxRetriesPerRequest: null });
    const admin = new Queue(redis.queue, { connection: adminRedis });
    await admin.pause();
    const workerArgs = ['worker', '--redis', redis.url, '--queue', redis.queue, ...MODEL_FLAGS, '--batch-size', '4', '--lock-ms', '5000', '--stalled-ms', '1000', '--no-merge', '--no-names'];
    const victim = spawnCli(workerArgs, { env });
    const survivor = spawnCli(workerArgs, { env });
    workers.push(victim, survivor);
    const victimDone = finished(victim);
    const survivorDone = finished(survivor);
    workerLogs.push(victimDone, survivorDone);

    await until('both workers up', 180_000, async () => (await queueStatus(connection)).workers >= 2);
    await admin.resume();
    await admin.close();
    // Kill one worker while both are taking jobs; what it held must come back to the other. It is frozen
    // first, so the jobs it holds are known (and cannot finish) at the moment it dies.
    let atKill: Awaited<ReturnType<typeof queueStatus>> | null = null;
    let held: string[] | null = null;
    let freezes = 0;
    for (let attempt = 0; attempt < 8 && !held; attempt++, freezes++) {
      if (attempt > 0) {
        victim.kill('SIGCONT');
        await sleep(300);
      }
      atKill = await until('both workers busy', 180_000, async () => {
        const status = (lastStatus = await queueStatus(connection));
        return status.workers >= 2 && status.results + status.errors >= Math.min(20, jobs / 4) && status.active > 0 && status;
      });
      victim.kill('SIGSTOP');
      await sleep(200);
      held = await frozenWorkersJobs(adminRedis, redis.queue, 1500);
    }
    assert.ok(held && held.length > 0, 'the frozen worker held no job its locks could name in 8 tries');
    const killMark = ((await adminRedis.xrevrange(`bull:${redis.queue}:events`, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]![0];
    victim.kill('SIGKILL');
    assert.is((await victimDone).signal, 'SIGKILL');
    const doneAtKill = (await adminRedis.hlen(`geolens:${redis.queue}:results`)) + (await adminRedis.hlen(`geolens:${redis.queue}:errors`));
    assert.ok(doneAtKill < jobs, 'the kill came mid-run');
    lap(`killed one worker at ${doneAtKill} done (${atKill!.results + atKill!.errors} before it was frozen), holding ${held!.length} jobs (frozen ${freezes} time${freezes === 1 ? '' : 's'})`);

    const end = await until('all jobs done', 180_000, async () => {
      const status = (lastStatus = await queueStatus(connection));
      return status.results + status.errors === jobs && status.waiting + status.active + status.delayed === 0 && status;
    });
    lap('all done');

    // How often each job ran, from BullMQ's event stream: at least once, never again unless it stalled;
    // finished once; and every job the killed worker held stalled, ran again after the kill (on the
    // survivor, the only worker left) and finished there.
    const { perJob, added: addedEvents } = await jobEvents(adminRedis, redis.queue);
    assert.is(addedEvents, jobs, 'the event stream holds every job from its start');
    const poisonedIds = new Set(poisoned.map((image) => jobId(image)));
    let reruns = 0;
    for (const image of images) {
      const id = jobId(image);
      const events = perJob.get(id);
      assert.ok(events && events.active >= 1, `${image} (job ${id}) never ran`);
      assert.is(events.active, 1 + events.stalled, `${image} ran ${events.active} times, stalled ${events.stalled}`);
      assert.is(events.completed + events.failed, 1, `${image} finished ${events.completed + events.failed} times`);
      assert.is(events.failed, poisonedIds.has(id) ? 1 : 0, `${image} failed ${events.failed} times`);
      reruns += events.active - 1;
    }
    for (const id of held!) {
      const log = perJob.get(id)?.log ?? [];
      const afterKill = log.filter((e) => streamAfter(e.id, killMark));
      const rerun = afterKill.findIndex((e) => e.event === 'active');
      assert.ok(afterKill.some((e) => e.event === 'stalled'), `job ${id}, held by the killed worker, never stalled: ${JSON.stringify(log)}`);
      assert.ok(rerun >= 0, `job ${id}, held by the killed worker, never ran again: ${JSON.stringify(log)}`);
      assert.ok(afterKill.slice(rerun).some((e) => e.event === 'completed' || e.event === 'failed'), `job ${id} did not finish after the kill`);
    }
    console.log(`  ${jobs} jobs: ${held!.length} held by the killed worker, each stalled and run again by the survivor; ${reruns} runs beyond one per job`);
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
    assert.is(stopped.code, 143, `the worker stops on SIGTERM with 128 + 15: ${stopped.stderr}`);
    failed = false;
  } finally {
    adminRedis?.disconnect();
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    if (failed) for (const log of await Promise.all(workerLogs)) console.error(`worker stderr:\n${log.stderr.split('\n').filter((l) => !/vulkan|dawn|^\s*$/i.test(l)).slice(-15).join('\n')}`);
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

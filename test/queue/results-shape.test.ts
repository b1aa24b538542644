// One output: what `geolens worker` stores and `geolens queue results` writes reads exactly like
// `geolens locate --out` on the same photos (merged, named places by default; raw gallery rows with the
// same --no-merge --no-names flags). And `geolens worker` stopped by SIGTERM while a job is being read
// ends within seconds, status 143, one line, the job back in the queue.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocateResult } from '../../src/api/index.js';
import { enqueue, queueStatus } from '../../src/queue/index.js';
import { ensureModel, finished, MODEL_FLAGS, referenceResults, samePlaces, spawnCli, writeCollection } from '../support/collection.js';
import { startHostileServer } from '../support/hostile-server.js';
import { startRedis } from '../support/redis.js';

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Null when `got` has the same fields, arrays and strings as `want`, numbers within float rounding; else where they differ. */
function sameLine(got: unknown, want: unknown, path = 'line'): string | null {
  if (typeof got === 'number' && typeof want === 'number') return Math.abs(got - want) <= 1e-7 + 1e-4 * Math.abs(want) ? null : `${path}: ${got}, want ${want}`;
  if (Array.isArray(got) && Array.isArray(want)) {
    if (got.length !== want.length) return `${path}: ${got.length} entries, want ${want.length}`;
    for (let i = 0; i < want.length; i++) {
      const diff = sameLine(got[i], want[i], `${path}[${i}]`);
      if (diff) return diff;
    }
    return null;
  }
  if (got && want && typeof got === 'object' && typeof want === 'object') {
    const [g, w] = [Object.keys(got).sort(), Object.keys(want).sort()];
    if (g.join() !== w.join()) return `${path}: fields ${g.join(', ')}, want ${w.join(', ')}`;
    for (const key of w) {
      const diff = sameLine((got as Record<string, unknown>)[key], (want as Record<string, unknown>)[key], `${path}.${key}`);
      if (diff) return diff;
    }
    return null;
  }
  return got === want ? null : `${path}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
}

function readLines(path: string): Map<string, Record<string, unknown>> {
  const lines = readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  return new Map(lines.map((line) => [line.image as string, line]));
}

test('queue results equal locate --out on the same photos, merged and named by default, raw with --no-merge --no-names; SIGTERM hands a job being read back', async () => {
  ensureModel();
  const root = mkdtempSync(join(tmpdir(), 'geolens-results-shape-'));
  const redis = await startRedis();
  const photos = await writeCollection(join(root, 'photos'), 3);
  const server = await startHostileServer(new Uint8Array(readFileSync(photos[0]!)), 300);
  const env = { GEOLENS_CACHE: join(root, 'cache'), GEOLENS_URL_IDLE_MS: '60000' };
  const merged = { redis: redis.url, queue: `${redis.queue}-merged` };
  const raw = { redis: redis.url, queue: `${redis.queue}-raw` };
  const workerArgs = (queue: string, extra: string[] = []) => ['worker', '--redis', redis.url, '--queue', queue, ...MODEL_FLAGS, '--batch-size', '4', ...extra];
  const mergedWorker = spawnCli(workerArgs(merged.queue), { env });
  const rawWorker = spawnCli(workerArgs(raw.queue, ['--no-merge', '--no-names']), { env });
  const mergedDone = finished(mergedWorker);
  const rawDone = finished(rawWorker);
  try {
    const locateOut = join(root, 'locate.jsonl');
    const located = finished(spawnCli(['locate', ...photos, '--out', locateOut, ...MODEL_FLAGS, '--batch-size', '4', '--quiet'], { env }));
    await enqueue(photos, merged);
    await enqueue(photos, raw);
    await until('both queues done', 240_000, async () => (await queueStatus(merged)).results === photos.length && (await queueStatus(raw)).results === photos.length);
    assert.is((await located).code, 0);

    const mergedOut = join(root, 'merged.jsonl');
    const rawOut = join(root, 'raw.jsonl');
    for (const [queue, out] of [[merged.queue, mergedOut], [raw.queue, rawOut]] as const) {
      const collected = await finished(spawnCli(['queue', 'results', '--redis', redis.url, '--queue', queue, '--out', out]));
      assert.is(collected.code, 0, collected.stderr);
    }
    // Where the lines go is checked first; a disk that fills up is an error naming the file.
    const full = join(root, 'full.jsonl');
    symlinkSync('/dev/full', full);
    for (const [out, why] of [[full, /^geolens: GeolensError: could not write '.*full\.jsonl' \(ENOSPC\)$/], [join(root, 'missing', 'r.jsonl'), /^geolens: GeolensError: --out .*missing\/r\.jsonl: the folder .*missing does not exist$/]] as const) {
      const refused = await finished(spawnCli(['queue', 'results', '--redis', redis.url, '--queue', merged.queue, '--out', out]));
      assert.is(refused.code, 1, refused.stderr);
      assert.ok(why.test(refused.stderr.trim()), refused.stderr);
    }
    const fromQueue = readLines(mergedOut);
    const fromLocate = readLines(locateOut);
    for (const photo of photos) {
      const line = fromQueue.get(photo)!;
      assert.ok(line, `${photo} is in the queue's results`);
      assert.is(sameLine(line, fromLocate.get(photo)), null, photo);
      const places = line.places as { name?: unknown; members?: unknown }[];
      assert.ok(places.every((place) => place.name && Array.isArray(place.members)), 'merged, named places');
    }
    const rawLines = readLines(rawOut);
    const reference = await referenceResults(photos);
    for (const photo of photos) {
      const line = rawLines.get(photo)!;
      assert.is(samePlaces(line as unknown as LocateResult, reference.get(photo) as LocateResult), null, photo);
      assert.ok((line.places as object[]).every((place) => !('name' in place) && !('members' in place)), 'raw gallery rows');
    }

    // A job the worker is reading when SIGTERM comes goes back to the queue; the worker ends at once.
    await enqueue([`${server.url}/trickle.png`], merged);
    await until('the trickling job to be taken', 20_000, async () => (await queueStatus(merged)).active === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentAt = performance.now();
    mergedWorker.kill('SIGTERM');
    const stopped = await mergedDone;
    const tookMs = performance.now() - sentAt;
    assert.ok(tookMs < 3000, `the worker ended ${tookMs.toFixed(0)} ms after SIGTERM`);
    assert.is(stopped.code, 143, stopped.stderr);
    const last = stopped.stderr.trim().split('\n').pop()!;
    assert.ok(/^geolens: worker stopped by SIGTERM after \d+ images; 1 job being read went back to the queue$/.test(last), last);
    const status = await queueStatus(merged);
    assert.equal([status.waiting, status.active, status.errors], [1, 0, 0]);
    rawWorker.kill('SIGINT');
    const rawStopped = await rawDone;
    assert.is(rawStopped.code, 130, rawStopped.stderr);
    assert.ok(/^geolens: worker stopped by SIGINT after 3 images$/.test(rawStopped.stderr.trim().split('\n').pop()!), rawStopped.stderr);
  } finally {
    for (const worker of [mergedWorker, rawWorker]) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await server.close();
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();

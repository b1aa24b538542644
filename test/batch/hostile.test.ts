// The batch path (locateMany, expandInputs: what `geolens locate <folder|list> --out` runs) given what a
// hostile user would give it: FIFOs and /dev/zero among the photos, a pixel bomb, URLs that trickle, never
// end or never answer, list files that are not files, a results file on a full disk, a stop mid-run.
// Each bad image must become its own error line, fast, while its micro-batch neighbours are located.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocateResult } from '../../src/api/index.js';
import { locateMany } from '../../src/batch/folder.js';
import { expandInputs } from '../../src/batch/inputs.js';
import { imageReadLimits } from '../../src/image/read.js';
import { pngHeader } from '../model/png-bomb.js';
import { ensureModel, referenceLocator, referenceResults, samePlaces, writeCollection } from '../support/collection.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';

const root = mkdtempSync(join(tmpdir(), 'geolens-hostile-'));
const saved = { ...imageReadLimits };
let server: HostileServer;
let good: string[];

test.before(async () => {
  ensureModel();
  good = await writeCollection(join(root, 'good'), 4);
  server = await startHostileServer(new Uint8Array(readFileSync(good[0]!)), 300);
  // Small URL bounds, so a test waits about a second where a user would wait 15.
  Object.assign(imageReadLimits, { connectTimeoutMs: 800, idleTimeoutMs: 800, maxUrlBytes: 8 << 20 });
});
test.after(async () => {
  Object.assign(imageReadLimits, saved);
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

/** locateMany over `inputs` (expanded), collecting the lines; fails instead of hanging after `limitMs`. */
async function run(inputs: string[], options: { batchSize?: number; limitMs?: number } = {}): Promise<{ lines: Record<string, unknown>[]; ms: number }> {
  const images = await expandInputs(inputs);
  const locator = await referenceLocator();
  const lines: Record<string, unknown>[] = [];
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    locateMany(locator, images, { batchSize: options.batchSize ?? 8, writeLine: (line) => lines.push(JSON.parse(line)) }),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`locateMany still running after ${options.limitMs ?? 20_000} ms`)), options.limitMs ?? 20_000))),
  ]);
  clearTimeout(timer);
  return { lines, ms: performance.now() - started };
}

function byImage(lines: Record<string, unknown>[]): Map<string, Record<string, unknown>> {
  return new Map(lines.map((line) => [line.image as string, line]));
}

/** The good photos' lines equal locate() on each alone. */
async function assertGoodLocated(lines: Map<string, Record<string, unknown>>, photos: string[]): Promise<void> {
  const reference = await referenceResults(photos);
  for (const photo of photos) {
    const line = lines.get(photo);
    assert.ok(line, `${photo} has a line`);
    assert.is(line!.error, undefined, `${photo}: ${line!.error}`);
    assert.is(samePlaces(line as unknown as LocateResult, reference.get(photo) as LocateResult), null, photo);
  }
}

test('a folder with a FIFO, a /dev/zero link and a pixel bomb beside good photos: one error line each, in one micro-batch, the photos located', async () => {
  const folder = join(root, 'mixed');
  mkdirSync(folder);
  execFileSync('mkfifo', [join(folder, 'x.jpg')]);
  symlinkSync('/dev/zero', join(folder, 'z.png'));
  writeFileSync(join(folder, 'bomb.png'), pngHeader(20000, 20000));
  const photos = [join(folder, 'a.png'), join(folder, 'b.png')];
  photos.forEach((photo, i) => copyFileSync(good[i]!, photo));
  const { lines, ms } = await run([folder]);
  assert.is(lines.length, 5);
  const found = byImage(lines);
  assert.match(String(found.get(join(folder, 'x.jpg'))?.error), /x\.jpg' is a FIFO \(named pipe\), not a regular file/);
  assert.match(String(found.get(join(folder, 'z.png'))?.error), /z\.png' is a character device, not a regular file/);
  assert.match(String(found.get(join(folder, 'bomb.png'))?.error), /bomb\.png: .*20000×20000 is 400000000 pixels, more than the cap/);
  await assertGoodLocated(found, photos);
  assert.ok(ms < 15_000, `${ms.toFixed(0)} ms`);
});

test('a list of URLs that trickle, never end, claim 10 GB or never answer: each its error line within the bounds, the good URL and path located', async () => {
  const list = join(root, 'urls.txt');
  const hostile = ['trickle', 'endless', 'huge', 'silent'].map((name) => `${server.url}/${name}.png`);
  writeFileSync(list, [good[1]!, ...hostile, `${server.url}/good.png`].join('\n') + '\n');
  const rssBefore = process.memoryUsage().rss;
  const { lines, ms } = await run([list]);
  const found = byImage(lines);
  assert.is(lines.length, 6);
  assert.match(String(found.get(hostile[0]!)?.error), /trickle\.png: fewer than 1024 bytes in 0.8 s \(idle timeout\)/);
  assert.match(String(found.get(hostile[1]!)?.error), /endless\.png: image: more than the 8388608-byte limit/);
  assert.match(String(found.get(hostile[2]!)?.error), /huge\.png: image: 10737418240 bytes, more than the 8388608-byte limit/);
  assert.match(String(found.get(hostile[3]!)?.error), /silent\.png: no response within 0.8 s \(connect timeout\)/);
  const served = found.get(`${server.url}/good.png`)!;
  assert.is(served.error, undefined, String(served.error));
  // The URL serves good[0]'s bytes: it is located as that photo is.
  const reference = await referenceResults([good[0]!]);
  assert.is(samePlaces(served as unknown as LocateResult, reference.get(good[0]!) as LocateResult), null);
  await assertGoodLocated(found, [good[1]!]);
  assert.ok(ms < 10_000, `the bounds held the run to ${ms.toFixed(0)} ms`);
  const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grown < 300, `RSS grew ${grown.toFixed(0)} MiB`);
});

test('list files that are not files (a FIFO, /dev/zero, binary bytes) are one-line errors, at once', async () => {
  const fifo = join(root, 'fifo.txt');
  execFileSync('mkfifo', [fifo]);
  const zero = join(root, 'zero.txt');
  symlinkSync('/dev/zero', zero);
  const binary = join(root, 'binary.list');
  writeFileSync(binary, new Uint8Array([0x61, 0x00, 0x62, 0x0a]));
  for (const [list, why] of [[fifo, /list file '.*fifo\.txt' is a FIFO \(named pipe\), not a regular file/], [zero, /list file '.*zero\.txt' is a character device, not a regular file/], [binary, /holds NUL bytes/]] as const) {
    const started = performance.now();
    const error = await expandInputs([list]).then(() => null, (e: Error) => e);
    assert.ok(error, `${list} was read as a list`);
    assert.match(error!.message, why);
    assert.not.match(error!.message, /\n/);
    assert.ok(performance.now() - started < 1000, `${list}: ${(performance.now() - started).toFixed(0)} ms`);
  }
});

test('a stop mid-run returns within a second while a URL trickles; the lines written before stay whole', async () => {
  Object.assign(imageReadLimits, { idleTimeoutMs: 60_000 });
  try {
    const out = join(root, 'stopped.jsonl');
    const images = [good[0]!, good[1]!, `${server.url}/trickle.png`, good[2]!];
    const locator = await referenceLocator();
    const stop = new AbortController();
    let stoppedAt = 0;
    const summary = await locateMany(locator, images, {
      out,
      batchSize: 2,
      signal: stop.signal,
      // The first micro-batch is written; the second waits on the trickling URL when the stop comes.
      onProgress: (progress) => {
        if (progress.done === 2) setTimeout(() => {
          stoppedAt = performance.now();
          stop.abort();
        }, 300);
      },
    });
    const tookMs = performance.now() - stoppedAt;
    assert.ok(stoppedAt > 0, 'the stop came');
    assert.ok(tookMs < 1000, `returned ${tookMs.toFixed(0)} ms after the stop`);
    assert.is(summary.done, 2);
    const text = readFileSync(out, 'utf8');
    assert.ok(text.endsWith('\n'), 'no torn last line');
    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(lines.map((line) => line.image), [good[0], good[1]]);
    await assertGoodLocated(byImage(lines), [good[0]!, good[1]!]);
  } finally {
    Object.assign(imageReadLimits, { idleTimeoutMs: 800 });
  }
});

test('a results file that cannot take the lines (/dev/full): they are printed instead, and the error names the file and ENOSPC', async () => {
  const out = join(root, 'full.jsonl');
  symlinkSync('/dev/full', out);
  const locator = await referenceLocator();
  const printed: string[] = [];
  const error = await locateMany(locator, [good[0]!, good[1]!], { out, writeLine: (line) => printed.push(line) }).then(() => null, (e: Error) => e);
  assert.ok(error, 'the failed write is an error');
  assert.match(error!.message, /could not write to '.*full\.jsonl' \(ENOSPC\); the last 2 results are printed above/);
  assert.is(error!.name, 'GeolensError');
  assert.equal(printed.map((line) => (JSON.parse(line) as { image: string }).image), [good[0], good[1]]);
  await assertGoodLocated(byImage(printed.map((line) => JSON.parse(line) as Record<string, unknown>)), [good[0]!, good[1]!]);
});

test.run();

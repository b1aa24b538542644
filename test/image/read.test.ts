// readImage(), the one reader every path uses: what it refuses, how fast, and that it reads good images
// as the decoder does. Paths come from a temp folder (mkfifo, a /dev/zero link); URLs from a loopback
// server that misbehaves on purpose (test/support/hostile-server.ts). Timeouts are set small per call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AbortError } from '../../src/runtime/abort.js';
import { decodeImage } from '../../src/image/decode-node.js';
import { ImageError } from '../../src/image/image.js';
import { ImageFetchError, imageReadLimits, readImage } from '../../src/image/read.js';
import { pngHeader } from '../model/png-bomb.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { KAUAI } from '../support/tiny-model.js';

const root = mkdtempSync(join(tmpdir(), 'geolens-read-'));
const photo = new Uint8Array(readFileSync(KAUAI));
let server: HostileServer;

test.before(async () => {
  server = await startHostileServer(photo, 300);
});
test.after(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

/** The rejection of `work` and how long it took to come; a read still going after 10 s fails the test instead of hanging it. */
async function refusal(work: () => Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<Error>((resolve) => (timer = setTimeout(() => resolve(new Error('still reading after 10 s')), 10_000)));
  const error = await Promise.race([
    work().then(
      () => null,
      (e: Error) => e,
    ),
    hung,
  ]);
  clearTimeout(timer);
  const ms = performance.now() - started;
  if (!error) throw new assert.Assertion({ message: 'expected a refusal, got an image', operator: 'refusal', actual: null, expects: 'an error' });
  return { error, ms };
}

test('paths: a FIFO, /dev/zero and a folder are refused by their type before being opened, in milliseconds', async () => {
  const fifo = join(root, 'x.jpg');
  execFileSync('mkfifo', [fifo]);
  const zero = join(root, 'z.png');
  symlinkSync('/dev/zero', zero);
  const folder = join(root, 'folder.png');
  mkdirSync(folder);
  for (const [path, kind] of [[fifo, /is a FIFO \(named pipe\), not a regular file/], [zero, /is a character device, not a regular file/], [folder, /is a directory, not a regular file/]] as const) {
    const { error, ms } = await refusal(() => readImage(path));
    assert.instance(error, ImageError);
    assert.match(error.message, kind);
    assert.ok(error.message.includes(path), `the message names the file: ${error.message}`);
    assert.ok(ms < 1000, `${path} took ${ms.toFixed(0)} ms`);
  }
  // A file: URL goes the same way.
  assert.match((await refusal(() => readImage(pathToFileURL(fifo).href))).error.message, /FIFO/);
});

test('paths: a file over the byte cap is refused by its size, unread', async () => {
  const big = join(root, 'big.png');
  writeFileSync(big, new Uint8Array(4096));
  const { error } = await refusal(() => readImage(big, { maxFileBytes: 1000 }));
  assert.instance(error, ImageError);
  assert.match(error.message, /is 4096 bytes, more than the 1000-byte limit/);
});

test('the pixel cap holds from the header, for a path and for a URL, before any pixel is decoded', async () => {
  const bomb = join(root, 'bomb.png');
  writeFileSync(bomb, pngHeader(20000, 20000));
  const fromPath = await refusal(() => readImage(bomb));
  assert.instance(fromPath.error, ImageError);
  assert.match(fromPath.error.message, /20000×20000 is 400000000 pixels, more than the cap of 100000000/);
  assert.ok(fromPath.ms < 2000, `${fromPath.ms.toFixed(0)} ms`);
  const capped = await refusal(() => readImage(`${server.url}/good.png`, { maxPixels: 10_000 }));
  assert.match(capped.error.message, /512×504 is 258048 pixels, more than the cap of 10000/);
});

test('URLs: a Content-Length of 10 GB is refused from the header; a body that never ends is cut at the cap', async () => {
  const rssBefore = process.memoryUsage().rss;
  const huge = await refusal(() => readImage(`${server.url}/huge.png`));
  assert.instance(huge.error, ImageError);
  assert.match(huge.error.message, /10737418240 bytes, more than the 67108864-byte limit/);
  assert.ok(huge.ms < 2000, `${huge.ms.toFixed(0)} ms`);

  const sentBefore = server.sent();
  const endless = await refusal(() => readImage(`${server.url}/endless.png`, { maxUrlBytes: 4 << 20 }));
  assert.instance(endless.error, ImageError);
  assert.match(endless.error.message, /more than the 4194304-byte limit/);
  // The server stops being read at the cap (plus what the socket buffers hold), not when memory runs out.
  const read = server.sent() - sentBefore;
  assert.ok(read < 32 << 20, `${(read / 2 ** 20).toFixed(1)} MiB sent for a 4 MiB cap`);

  // The default cap (64 MiB) bounds memory the same way.
  const atDefault = await refusal(() => readImage(`${server.url}/endless.png`));
  assert.match(atDefault.error.message, /more than the 67108864-byte limit/);
  const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grown < 400, `RSS grew ${grown.toFixed(0)} MiB`);
});

test('URLs: one byte every 300 ms fails at the idle timeout; no headers fails at the connect timeout; a steady endless body at the total timeout', async () => {
  const trickle = await refusal(() => readImage(`${server.url}/trickle.png`, { idleTimeoutMs: 1000 }));
  assert.instance(trickle.error, ImageFetchError);
  assert.match(trickle.error.message, /fewer than 1024 bytes in 1 s \(idle timeout\)/);
  assert.ok(trickle.ms >= 900 && trickle.ms < 2500, `idle timeout after ${trickle.ms.toFixed(0)} ms`);

  const silent = await refusal(() => readImage(`${server.url}/silent.png`, { connectTimeoutMs: 500 }));
  assert.instance(silent.error, ImageFetchError);
  assert.match(silent.error.message, /no response within 0.5 s \(connect timeout\)/);
  assert.ok(silent.ms >= 450 && silent.ms < 2000, `connect timeout after ${silent.ms.toFixed(0)} ms`);

  const steady = await refusal(() => readImage(`${server.url}/steady.png`, { totalTimeoutMs: 1200, idleTimeoutMs: 500 }));
  assert.instance(steady.error, ImageFetchError);
  assert.match(steady.error.message, /the body took more than 1.2 s \(total timeout\)/);
  assert.ok(steady.ms >= 1100 && steady.ms < 3000, `total timeout after ${steady.ms.toFixed(0)} ms`);
  // The process-wide defaults are what a call without options gets.
  assert.equal([imageReadLimits.connectTimeoutMs, imageReadLimits.idleTimeoutMs, imageReadLimits.idleMinBytes], [15_000, 15_000, 1024]);
});

test('URLs: an abort ends a read in flight at once; HTTP 404 is the image\'s fault, 503 the server\'s', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const aborted = await refusal(() => readImage(`${server.url}/trickle.png`, { signal: controller.signal }));
  assert.instance(aborted.error, AbortError);
  assert.ok(aborted.ms < 1000, `abort took ${aborted.ms.toFixed(0)} ms`);

  const missing = await refusal(() => readImage(`${server.url}/missing.png`));
  assert.instance(missing.error, ImageError);
  assert.match(missing.error.message, /HTTP 404/);
  const refused = await refusal(() => readImage('http://127.0.0.1:1/x.png'));
  assert.instance(refused.error, ImageFetchError);
});

test('a good photo reads the same from a path, a file: URL, an http URL and its bytes', async () => {
  const want = await decodeImage(photo);
  for (const input of [KAUAI, pathToFileURL(KAUAI).href, `${server.url}/good.png`, photo]) {
    const got = await readImage(input);
    assert.equal([got.width, got.height, got.channels], [want.width, want.height, want.channels]);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `pixels of ${typeof input === 'string' ? input : 'bytes'}`);
  }
});

test.run();

// docs/LIMITS.md's download promises that no other test holds, each against a loopback server whose
// handler the test writes: credentials across redirects, bodies longer than declared, stale partial files,
// and two calls in one process for one file.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STALE_PARTIAL_MS } from '../../src/weights/hub/cache-files.js';
import { cachePath, downloadWeights, WeightsError } from '../../src/weights/index.js';
import { rejection } from './support.js';

interface Seen {
  path: string;
  authorization: string | null;
  range: string | null;
}

/** A server whose handler the test writes, logging every request's path, Authorization and Range. */
async function rawServer(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((request, response) => {
    seen.push({ path: request.url!, authorization: request.headers.authorization ?? null, range: request.headers.range ?? null });
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'geolens-limits-'));
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();
}

const body = new Uint8Array(50_000).map((_, i) => (i * 2654435761) >>> 24);
const sha256 = createHash('sha256').update(body).digest('hex');

test('Authorization goes along a redirect within one origin and is dropped on a redirect to another', async () => {
  // Two servers on two ports: two origins, as the hub and its CDN are.
  const cdn = await rawServer((_, response) => response.writeHead(200, { 'Content-Length': String(body.length) }).end(body));
  const hub = await rawServer((request, response) => {
    if (request.url === '/o/r/resolve/main/blob.bin') response.writeHead(302, { Location: '/o/r/moved/blob.bin' }).end();
    else response.writeHead(302, { Location: `${cdn.url}/cdn/blob.bin` }).end();
  });
  const cacheDir = tempDir();
  try {
    const path = await downloadWeights(`${hub.url}/o/r/resolve/main/blob.bin`, { cacheDir, sha256, headers: { Authorization: 'Bearer secret-token' } });
    assert.equal(new Uint8Array(readFileSync(path as string)), body);
    assert.equal(hub.seen.map((r) => [r.path, r.authorization]), [['/o/r/resolve/main/blob.bin', 'Bearer secret-token'], ['/o/r/moved/blob.bin', 'Bearer secret-token']], 'same origin: kept');
    assert.equal(cdn.seen.map((r) => [r.path, r.authorization]), [['/cdn/blob.bin', null]], 'another origin: dropped');
  } finally {
    await Promise.all([hub.close(), cdn.close()]);
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a body longer than declared is refused and nothing is cached: past X-Linked-Size, past a resume\'s Content-Range total, past the caller\'s size', async () => {
  const declared = 30_000;
  // Chunked (no Content-Length), so only the other declarations bound the body.
  const server = await rawServer((request, response) => {
    if (request.url!.startsWith('/linked/')) {
      response.writeHead(302, { Location: `/cdn${request.url}`, 'X-Linked-Size': String(declared) }).end();
      return;
    }
    if (request.url!.startsWith('/resume/') && request.headers.range) {
      const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range)![1]);
      response.writeHead(206, { 'Content-Range': `bytes ${start}-${declared - 1}/${declared}`, 'Transfer-Encoding': 'chunked' });
      response.end(body.subarray(start));
      return;
    }
    response.writeHead(200, { 'Transfer-Encoding': 'chunked' });
    response.end(body);
  });
  const cacheDir = tempDir();
  try {
    const linked = await rejection(() => downloadWeights(`${server.url}/linked/a.bin`, { cacheDir }));
    assert.instance(linked, WeightsError);
    assert.match(linked.message, new RegExp(`refused: the server sent more than the ${declared} bytes it declared`));

    const target = await cachePath(`${server.url}/resume/b.bin`, cacheDir);
    mkdirSync(dirname(target), { recursive: true });
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
    writeFileSync(`${target}.partial-${deadPid}-abcdef`, body.subarray(0, 10_000));
    const resumed = await rejection(() => downloadWeights(`${server.url}/resume/b.bin`, { cacheDir }));
    assert.match(resumed.message, new RegExp(`refused: the server sent more than the ${declared} bytes it declared`));
    assert.is(server.seen.at(-1)!.range, 'bytes=10000-', 'the refusal came on the resume');

    const sized = await rejection(() => downloadWeights(`${server.url}/plain/c.bin`, { cacheDir, size: declared }));
    assert.match(sized.message, new RegExp(`refused: size ${body.length} bytes, expected ${declared} \\(deleted, not cached\\)`));
    assert.equal(filesUnder(cacheDir), [], 'no file, no partial left');
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a partial file of a live process that has not grown for STALE_PARTIAL_MS is adopted and resumed; a growing one is left alone', async () => {
  const server = await rawServer((request, response) => {
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    response.writeHead(range ? 206 : 200, { 'Content-Length': String(body.length - start), ...(range ? { 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    response.end(body.subarray(start));
  });
  const cacheDir = tempDir();
  // A live writer that will never finish: its partial files are its own until they go stale.
  const writer = spawn('sleep', ['60']);
  try {
    assert.is(STALE_PARTIAL_MS, 10 * 60_000, 'docs/LIMITS.md says 10 minutes');
    const stale = await cachePath(`${server.url}/stale.bin`, cacheDir);
    mkdirSync(dirname(stale), { recursive: true });
    writeFileSync(`${stale}.partial-${writer.pid}-0a0b0c`, body.subarray(0, 20_000));
    const then = (Date.now() - STALE_PARTIAL_MS - 60_000) / 1000;
    utimesSync(`${stale}.partial-${writer.pid}-0a0b0c`, then, then);
    assert.is(await downloadWeights(`${server.url}/stale.bin`, { cacheDir, sha256 }), stale);
    assert.equal(server.seen.map((r) => r.range), ['bytes=20000-'], 'resumed from the stale partial');

    const growing = await cachePath(`${server.url}/growing.bin`, cacheDir);
    const recent = (Date.now() - STALE_PARTIAL_MS + 60_000) / 1000;
    writeFileSync(`${growing}.partial-${writer.pid}-0d0e0f`, body.subarray(0, 20_000));
    utimesSync(`${growing}.partial-${writer.pid}-0d0e0f`, recent, recent);
    assert.is(await downloadWeights(`${server.url}/growing.bin`, { cacheDir, sha256 }), growing);
    assert.is(server.seen.at(-1)!.range, null, 'a partial another live writer may still grow is not taken');
    assert.equal(new Uint8Array(readFileSync(growing)), body);
    assert.ok(existsSync(`${growing}.partial-${writer.pid}-0d0e0f`), 'and is left where it was');
  } finally {
    writer.kill('SIGKILL');
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('two calls in one process for one file share one download', async () => {
  let requests = 0;
  // A slow body, so the second call arrives while the first is still receiving.
  const server = await rawServer((_, response) => {
    requests++;
    response.writeHead(200, { 'Content-Length': String(body.length) });
    response.write(body.subarray(0, 1000));
    setTimeout(() => response.end(body.subarray(1000)), 300);
  });
  const cacheDir = tempDir();
  try {
    const first = downloadWeights(`${server.url}/shared.bin`, { cacheDir, sha256 });
    await new Promise((r) => setTimeout(r, 100));
    assert.is(requests, 1, 'the first call is under way');
    const second = downloadWeights(`${server.url}/shared.bin`, { cacheDir, sha256 });
    const [a, b] = await Promise.all([first, second]);
    assert.is(a, b);
    assert.is(requests, 1, 'one request for both calls');
    assert.equal(new Uint8Array(readFileSync(a as string)), body);
    assert.equal(filesUnder(cacheDir), ['shared.bin']);
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test.run();

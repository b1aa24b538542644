import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GeolensError } from '../../src/runtime/index.js';
import { removeOrphans } from '../../src/weights/hub/cache-files.js';
import { cachePath, checkTensors, clipVisionShapes, downloadWeights, loadJson, MemoryByteSource, openWeights, PthSource, WeightsError } from '../../src/weights/index.js';
import { startServer } from '../support/server.js';
import { PickleWriter, pthZip } from './pth-builder.js';
import { FIXTURES, rejection } from './support.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'geolens-hardening-'));
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

/** A server whose handler the test writes: raw control over headers and how the body ends. */
async function rawServer(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

const PORTAL = new TextEncoder().encode('<!DOCTYPE html><html><head><title>Sign in to the hotel Wi-Fi</title></head><body>…</body></html>');

test('a captive-portal page served for a .safetensors or config.json is refused and not cached', async () => {
  const server = await startServer({ '/o/r/resolve/main/model.safetensors': PORTAL, '/o/r/resolve/main/config.json': PORTAL, '/o/r/resolve/main/weights.pth': PORTAL });
  const cacheDir = tempDir();
  try {
    for (const file of ['model.safetensors', 'weights.pth']) {
      const error = await rejection(() => openWeights(`hf:o/r/${file}`, { hubUrl: server.url, cacheDir }));
      assert.instance(error, WeightsError);
      assert.match(error.message, /refused: it is an HTML page \(starts with '<!doctype html'\)/);
    }
    const json = await rejection(() => loadJson('hf:o/r/config.json', { hubUrl: server.url, cacheDir }));
    assert.instance(json, WeightsError);
    assert.match(json.message, /config\.json refused: it is an HTML page/);
    assert.equal(filesUnder(cacheDir), [], 'nothing cached, no partial left');
    // The real file, once served, downloads and loads.
    server.files.set('/o/r/resolve/main/config.json', { body: new TextEncoder().encode('{"projection_dim": 768}') });
    assert.equal(await loadJson('hf:o/r/config.json', { hubUrl: server.url, cacheDir }), { projection_dim: 768 });
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

const CSV = `LAT,LON\n${Array.from({ length: 2000 }, (_, i) => `${((i * 37) % 180 - 89.5).toFixed(6)},${((i * 101) % 360 - 179.5).toFixed(6)}`).join('\n')}\n`;

test('a body cut short is refused: with a Content-Length, and without one (an unterminated CSV)', async () => {
  const bytes = new TextEncoder().encode(CSV);
  const half = Math.floor(bytes.length / 2) + 3; // mid-number, mid-line
  let declare = true;
  const server = await rawServer((request, response) => {
    // The body is sent by hand and the socket closed early; without Content-Length the end is the close.
    response.socket!.write(`HTTP/1.1 200 OK\r\nConnection: close\r\n${declare ? `Content-Length: ${bytes.length}\r\n` : ''}\r\n`);
    response.socket!.end(bytes.subarray(0, half));
  });
  const cacheDir = tempDir();
  try {
    const declared = await rejection(() => downloadWeights(`${server.url}/gallery.csv`, { cacheDir, retries: 1 }));
    assert.instance(declared, WeightsError);
    assert.match(declared.message, new RegExp(`failed after 2 attempts: connection closed after \\d+ of ${bytes.length} bytes`), declared.message);
    assert.not.ok(existsSync(await cachePath(`${server.url}/gallery.csv`, cacheDir)), 'not cached');
    declare = false;
    const undeclared = await rejection(() => downloadWeights(`${server.url}/gallery.csv`, { cacheDir, retries: 0 }));
    assert.instance(undeclared, WeightsError);
    assert.match(undeclared.message, /refused: its length was not declared and its last line is unterminated/);
    assert.equal(filesUnder(cacheDir).filter((name) => !name.includes('.partial-')), [], 'nothing under the real name');
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a truncated safetensors or zip with no length header is refused by its format sniff', async () => {
  const safetensors = new Uint8Array(execFileSync('cat', [`${FIXTURES}/mixed.safetensors`]));
  const pth = new Uint8Array(execFileSync('cat', [`${FIXTURES}/mixed.pth`]));
  const server = await rawServer((request, response) => {
    const body = request.url!.endsWith('.pth') ? pth : safetensors;
    response.socket!.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
    response.socket!.end(body.subarray(0, body.length - 40));
  });
  const cacheDir = tempDir();
  try {
    const cutSafetensors = await rejection(() => openWeights(`${server.url}/m.safetensors`, { cacheDir, cache: true }));
    assert.match(cutSafetensors.message, /refused: its safetensors header describes \d+ bytes but the file has \d+: it was cut short/);
    const cutZip = await rejection(() => openWeights(`${server.url}/m.pth`, { cacheDir, cache: true }));
    assert.match(cutZip.message, /refused: the zip has no end-of-central-directory record/);
    assert.equal(filesUnder(cacheDir), []);
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test("the hub's X-Linked-Etag sha256 (on the redirect) and git ETag are checked; a mismatch is refused", async () => {
  const body = new TextEncoder().encode('{"hidden_size": 64}');
  const sha = createHash('sha256').update(body).digest('hex');
  const git = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
  let linked = sha;
  let etag = git;
  const server = await rawServer((request, response) => {
    if (!request.url!.startsWith('/cdn/')) {
      // As the hub does for LFS files: digest and size on the redirect, the bytes from the CDN.
      response.writeHead(302, { Location: `/cdn${request.url}`, 'X-Linked-Etag': `"${linked}"`, 'X-Linked-Size': String(body.length) }).end();
      return;
    }
    response.writeHead(200, { 'Content-Length': String(body.length), ETag: `"${etag}"` }).end(body);
  });
  const cacheDir = tempDir();
  try {
    assert.equal(await loadJson('hf:o/r/a.json', { hubUrl: server.url, cacheDir }), { hidden_size: 64 });
    linked = '0'.repeat(64);
    const wrong = await rejection(() => loadJson('hf:o/r/b.json', { hubUrl: server.url, cacheDir }));
    assert.match(wrong.message, new RegExp(`refused: sha256 ${sha}, the server's X-Linked-Etag says 0{64}`));
    assert.not.ok(existsSync(await cachePath(`${server.url}/o/r/resolve/main/b.json`, cacheDir)));
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
  // A small (non-LFS) hub file: its ETag is the git blob sha1.
  const plain = await rawServer((request, response) => response.writeHead(200, { 'Content-Length': String(body.length), ETag: `"${etag}"` }).end(body));
  const cache2 = tempDir();
  try {
    etag = git;
    assert.equal(await loadJson('hf:o/r/c.json', { hubUrl: plain.url, cacheDir: cache2 }), { hidden_size: 64 });
    etag = 'f'.repeat(40);
    const wrong = await rejection(() => loadJson('hf:o/r/d.json', { hubUrl: plain.url, cacheDir: cache2 }));
    assert.match(wrong.message, new RegExp(`git blob sha1 ${git}, the server's ETag says f{40}`));
  } finally {
    await plain.close();
    rmSync(cache2, { recursive: true, force: true });
  }
});

test('an abandoned partial file of a dead process is adopted and resumed; old orphans are removed', async () => {
  const body = new Uint8Array(200_000).map((_, i) => (i * 2654435761) >>> 24);
  const server = await startServer({ '/blob.bin': body });
  const cacheDir = tempDir();
  try {
    const target = await cachePath(`${server.url}/blob.bin`, cacheDir);
    execFileSync('mkdir', ['-p', join(target, '..')]);
    // A process that has exited: its id is free.
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
    writeFileSync(`${target}.partial-${deadPid}-abcdef`, body.subarray(0, 120_000));
    const path = await downloadWeights(`${server.url}/blob.bin`, { cacheDir, sha256: createHash('sha256').update(body).digest('hex') });
    assert.is(server.log.length, 1);
    assert.is(server.log[0]!.range, 'bytes=120000-', 'resumed from the adopted partial');
    assert.equal(filesUnder(join(target, '..')), ['blob.bin']);
    assert.is(path, target);

    const folder = join(target, '..');
    const old = Date.now() / 1000 - 8 * 24 * 3600;
    writeFileSync(join(folder, 'x.bin.partial-1-00aa'), 'x');
    utimesSync(join(folder, 'x.bin.partial-1-00aa'), old, old);
    writeFileSync(join(folder, `g.bin.${deadPid}.tmp`), 'x');
    utimesSync(join(folder, `g.bin.${deadPid}.tmp`), old, old);
    writeFileSync(join(folder, 'fresh.bin.partial-1-00bb'), 'x');
    const removed = await removeOrphans(folder);
    assert.equal(removed.map((p) => p.slice(folder.length + 1)).sort(), [`g.bin.${deadPid}.tmp`, 'x.bin.partial-1-00aa']);
    assert.ok(existsSync(join(folder, 'fresh.bin.partial-1-00bb')), 'a recent partial is kept');
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

async function openPickle(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}): Promise<PthSource> {
  const entries: Record<string, Uint8Array> = { 'data.pkl': pickle };
  for (const [key, data] of Object.entries(storages)) entries[`data/${key}`] = data;
  return PthSource.open(new MemoryByteSource(pthZip(entries), 'hostile.pth'));
}

async function timedRefusal(label: string, run: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  const started = performance.now();
  const error = await rejection(run);
  const ms = performance.now() - started;
  assert.instance(error, WeightsError, `${label}: ${error}`);
  assert.match(error.message, pattern, `${label}: ${error.message}`);
  assert.ok(ms < 1000, `${label}: refused in ${ms.toFixed(0)} ms`);
}

test('pickles of shared references (x = [x, x], 40 levels), self-reference and 100,000-deep nesting are refused in under a second', async () => {
  // {'w': L40} where L0 = [] and Li = [L(i-1), L(i-1)]: 222 bytes, 2^40 paths.
  const shared = new PickleWriter().op(0x7d).str('w').op(0x5d).put(0).op(0x30);
  for (let i = 1; i <= 40; i++) {
    shared.op(0x5d, 0x28).get(i - 1).get(i - 1).op(0x65).put(i);
    if (i < 40) shared.op(0x30);
  }
  shared.op(0x73);
  const sharedBytes = shared.bytes();
  assert.ok(sharedBytes.length < 1024, `${sharedBytes.length} bytes`);
  await timedRefusal('shared references', () => openPickle(sharedBytes), /one list is reached by more than 16 paths \(last 'w(\.[01])+'; limit maxShares\)/);

  // {'w': L} with L.append(L).
  const self = new PickleWriter().op(0x7d).str('w').op(0x5d).put(0).get(0).op(0x61, 0x73).bytes();
  await timedRefusal("self reference", () => openPickle(self), /contains itself \(a self-referencing list\)/);

  // {'w': [[[…]]]} 100,000 deep.
  const deep = new PickleWriter().op(0x7d).str('w');
  for (let i = 0; i < 100_000; i++) deep.op(0x5d);
  for (let i = 1; i < 100_000; i++) deep.op(0x61);
  deep.op(0x73);
  await timedRefusal('deep nesting', () => openPickle(deep.bytes()), /nests lists, tuples or dicts deeper than 64 levels \(limit maxDepth\)/);

  // Bounds on the unpickler itself: memo references and values.
  const manyRefs = new PickleWriter().op(0x5d).put(0).op(0x28);
  for (let i = 0; i < 40; i++) manyRefs.get(0);
  manyRefs.op(0x65);
  PthSource.limits = { maxMemoRefs: 20 };
  try {
    await timedRefusal('memo references', () => openPickle(manyRefs.bytes()), /fetches memo entries more than 20 times \(limit maxMemoRefs\)/);
  } finally {
    PthSource.limits = {};
  }
  // APPENDS of 300,000 items: a spread would overflow the call stack.
  const wide = new PickleWriter().op(0x7d).str('w').op(0x5d, 0x28);
  for (let i = 0; i < 300_000; i++) wide.op(0x4e);
  wide.op(0x65, 0x73);
  const source = await openPickle(wide.bytes());
  assert.is(source.tensors.size, 0);
  assert.is(source.skipped.length, 300_000);
  PthSource.limits = { maxVisits: 1000 };
  try {
    await timedRefusal('visit budget', () => openPickle(wide.bytes()), /take more than 1000 steps to walk \(limit maxVisits/);
  } finally {
    PthSource.limits = {};
  }
});

test('one dict saved under two names is shared, not multiplied: both names load', async () => {
  const storage = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  // {'model': D, 'ema': D} with D = {'t': tensor}: the second is a memo reference to the first.
  const pickle = new PickleWriter().op(0x7d, 0x28).str('model').op(0x7d).str('t').tensor('0', 4, 0, [4], [1]).op(0x73).put(0).str('ema').get(0).op(0x75).bytes();
  const source = await openPickle(pickle, { '0': storage });
  assert.equal([...source.tensors.keys()], ['model.t', 'ema.t']);
  assert.equal(Array.from(await source.readF32('ema.t')), [1, 2, 3, 4]);
});

test('stride-0 and overlapping views are refused; a transposed view reads the right values', async () => {
  const storage = new Float32Array([1, 2, 3, 4]);
  const bytes = new Uint8Array(storage.buffer);
  const one = (shape: number[], stride: number[]) => new PickleWriter().op(0x7d).str('t').tensor('0', 4, 0, shape, stride).op(0x73).bytes();
  const expanded = await rejection(() => openPickle(one([100_000, 4], [0, 1]), { '0': bytes }));
  assert.instance(expanded, WeightsError);
  assert.match(expanded.message, /tensor 't' of shape \[100000, 4\] has 400000 elements but its storage holds 4: an expanded or overlapping view/);
  const overlapping = await rejection(() => openPickle(one([2, 2], [1, 1]), { '0': bytes }));
  assert.match(overlapping.message, /with stride \[1, 1\] reuses storage elements/);
  const zeroStride = await rejection(() => openPickle(one([2, 2], [0, 1]), { '0': bytes }));
  assert.match(zeroStride.message, /reuses storage elements \(stride 0/);
  const transposed = await openPickle(one([2, 2], [1, 2]), { '0': bytes });
  // t[i][j] = storage[i + 2j]
  assert.equal(Array.from(await transposed.readF32('t')), [1, 3, 2, 4]);
});

test('a checkpoint with more layers than its config is refused; the other tower and position_ids stay allowed', () => {
  const config = { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, image_size: 4, patch_size: 2, num_channels: 3, projection_dim: 4, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu' };
  const expected = clipVisionShapes(config as never);
  const withTwoLayers = clipVisionShapes({ ...config, num_hidden_layers: 2 } as never);
  const tensors = new Map([...withTwoLayers].map(([name, shape]) => [name, { dtype: 'F32' as const, shape }]));
  tensors.set('text_model.embeddings.token_embedding.weight', { dtype: 'F32', shape: [10, 8] });
  tensors.set('vision_model.embeddings.position_ids', { dtype: 'F32', shape: [1, 5] });
  tensors.set('logit_scale', { dtype: 'F32', shape: [] });
  const error = (() => {
    try {
      checkTensors({ tensors }, expected, { what: 'CLIP vision checkpoint' });
    } catch (e) {
      return e as Error;
    }
    return null;
  })();
  assert.instance(error, WeightsError);
  assert.match(error!.message, /16 tensors the config does not use .*vision_model\.encoder\.layers\.1\.self_attn\.q_proj\.weight/);
  assert.not.match(error!.message, /text_model|position_ids|logit_scale/);
  for (const name of [...tensors.keys()]) if (name.includes('layers.1.')) tensors.delete(name);
  const report = checkTensors({ tensors }, expected);
  assert.ok(report.ok);
  assert.equal(report.unused, []);
  assert.equal(report.unexpected.sort(), ['logit_scale', 'text_model.embeddings.token_embedding.weight']);
});

test('a FIFO, /dev/zero and a directory are refused as weight files and JSON without blocking or reading', async () => {
  const dir = tempDir();
  const fifo = join(dir, 'weights.fifo');
  execFileSync('mkfifo', [fifo]);
  try {
    const before = process.memoryUsage().rss;
    const started = performance.now();
    for (const [path, kind] of [[fifo, 'a FIFO \\(named pipe\\)'], ['/dev/zero', 'a character device'], [dir, 'a directory']] as const) {
      const weights = await rejection(() => openWeights(path));
      assert.instance(weights, GeolensError);
      assert.match(weights.message, new RegExp(`weight file '${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' is ${kind}, not a regular file`));
      const json = await rejection(() => loadJson(path));
      assert.match(json.message, new RegExp(`is ${kind}, not a regular file`));
    }
    assert.ok(performance.now() - started < 2000, 'no blocking');
    assert.ok(process.memoryUsage().rss - before < 64 << 20, 'no memory grown');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

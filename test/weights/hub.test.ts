import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachePath, defaultCacheDir, downloadWeights, loadJson, openWeights, resolveUrl, WeightsError, type DownloadProgress } from '../../src/weights/index.js';
import { startServer } from '../support/server.js';
import { assertMatches, FIXTURES, loadExpected, rejection } from './support.js';

const BODY = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 24);
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

/** Partial files of a cached path still in its folder. */
function leftovers(path: string): string[] {
  const folder = dirname(path);
  return existsSync(folder) ? readdirSync(folder).filter((name) => name.startsWith(`${basename(path)}.partial`)) : [];
}

function tempCache(): string {
  return mkdtempSync(join(tmpdir(), 'geolens-cache-'));
}

test('hf: locations resolve to huggingface.co resolve URLs, with revision and endpoint overrides', () => {
  assert.is(resolveUrl('hf:openai/clip-vit-large-patch14/model.safetensors'), 'https://huggingface.co/openai/clip-vit-large-patch14/resolve/main/model.safetensors');
  assert.is(resolveUrl('hf:VicenteVivanco/geoclip-geolocation@v1/sub dir/config.json'), 'https://huggingface.co/VicenteVivanco/geoclip-geolocation/resolve/v1/sub%20dir/config.json');
  assert.is(resolveUrl('hf:a/b/c.bin', 'http://127.0.0.1:9/'), 'http://127.0.0.1:9/a/b/resolve/main/c.bin');
  assert.is(resolveUrl('https://example.com/x'), 'https://example.com/x');
  assert.throws(() => resolveUrl('hf:just-a-repo'), /neither an http\(s\) URL nor hf:owner\/repo\/file/);
  assert.throws(() => resolveUrl('hf:a/b/../../etc/passwd'), /bad file path/);
});

test('the cache lives in GEOLENS_CACHE when set, else ~/.cache/geolens', async () => {
  const saved = process.env.GEOLENS_CACHE;
  process.env.GEOLENS_CACHE = '/somewhere/else';
  assert.is(await defaultCacheDir(), '/somewhere/else');
  assert.is(await cachePath('https://huggingface.co/o/r/resolve/main/model.safetensors'), '/somewhere/else/huggingface.co/o/r/resolve/main/model.safetensors');
  delete process.env.GEOLENS_CACHE;
  assert.match(await defaultCacheDir(), /\.cache\/geolens$/);
  if (saved !== undefined) process.env.GEOLENS_CACHE = saved;
});

test('an interrupted download resumes from the partial file with a Range request', async () => {
  const server = await startServer({ '/o/r/resolve/main/blob.bin': BODY });
  const cacheDir = tempCache();
  try {
    server.files.get('/o/r/resolve/main/blob.bin')!.cutAfter = 100_000;
    const progress: DownloadProgress[] = [];
    const path = await downloadWeights('hf:o/r/blob.bin', { hubUrl: server.url, cacheDir, sha256: BODY_SHA, size: BODY.length, onProgress: (p) => progress.push({ ...p }) });
    assert.equal(new Uint8Array(readFileSync(path as string)), BODY);
    assert.is(server.log.length, 2, 'one cut request, one resumed request');
    assert.is(server.log[0]!.range, null);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.log[1]!.range ?? '')?.[1]);
    assert.ok(resumedAt >= 100_000 && resumedAt < BODY.length, `resumed at ${resumedAt}`);
    assert.is(server.log[1]!.status, 206);
    assert.is(progress[progress.length - 1]!.loaded, BODY.length);
    assert.is(progress[progress.length - 1]!.total, BODY.length);
    assert.equal(leftovers(path as string), [], 'no partial file left');
    // Cached now: no further request.
    await downloadWeights('hf:o/r/blob.bin', { hubUrl: server.url, cacheDir, sha256: BODY_SHA });
    assert.is(server.log.length, 2);
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a wrong sha256 or size is refused and nothing enters the cache', async () => {
  const server = await startServer({ '/blob.bin': BODY });
  const cacheDir = tempCache();
  try {
    const wrong = await rejection(() => downloadWeights(`${server.url}/blob.bin`, { cacheDir, sha256: '0'.repeat(64) }));
    assert.instance(wrong, WeightsError);
    assert.match(wrong.message, new RegExp(`refused: sha256 ${BODY_SHA}, expected 0{64}`));
    const path = await cachePath(`${server.url}/blob.bin`, cacheDir);
    assert.not.ok(existsSync(path) || leftovers(path).length > 0, 'nothing cached');
    const size = await rejection(() => downloadWeights(`${server.url}/blob.bin`, { cacheDir, size: 12 }));
    assert.match(size.message, /300000 bytes, expected 12/);
    const missing = await rejection(() => downloadWeights(`${server.url}/none.bin`, { cacheDir }));
    assert.match(missing.message, /HTTP 404/);
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('offline mode reads from the cache and names what is missing', async () => {
  const server = await startServer({ '/m/w/resolve/main/mixed.safetensors': `${FIXTURES}/mixed.safetensors`, '/m/w/resolve/main/config.json': new TextEncoder().encode('{"projection_dim": 768}') });
  const cacheDir = tempCache();
  try {
    const online = await openWeights('hf:m/w/mixed.safetensors', { hubUrl: server.url, cacheDir });
    await online.close();
    assert.equal(await loadJson('hf:m/w/config.json', { hubUrl: server.url, cacheDir }), { projection_dim: 768 });
    await server.close();
    const offline = await openWeights('hf:m/w/mixed.safetensors', { hubUrl: server.url, cacheDir, offline: true });
    await assertMatches(offline, loadExpected(`${FIXTURES}/mixed.expected.json`), 'offline from cache');
    await offline.close();
    assert.equal(await loadJson('hf:m/w/config.json', { hubUrl: server.url, cacheDir, offline: true }), { projection_dim: 768 });
    const absent = await rejection(() => openWeights('hf:m/w/other.safetensors', { hubUrl: server.url, cacheDir, offline: true }));
    assert.match(absent.message, /offline: .*m\/w\/resolve\/main\/other\.safetensors is not in the cache/);
  } finally {
    await server.close().catch(() => {});
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a file that changed on the server between the cut and the resume is fetched whole again, not spliced', async () => {
  const server = await startServer({ '/blob.bin': BODY });
  const cacheDir = tempCache();
  try {
    server.files.get('/blob.bin')!.cutAfter = 80_000;
    await rejection(() => downloadWeights(`${server.url}/blob.bin`, { cacheDir, retries: 0 }));
    const changed = BODY.map((b) => b ^ 0x5a);
    server.files.set('/blob.bin', { body: changed });
    const path = await downloadWeights(`${server.url}/blob.bin`, { cacheDir });
    assert.equal(new Uint8Array(readFileSync(path as string)), changed);
    assert.ok(server.log[1]!.range !== null && server.log[1]!.status === 200, 'resume asked with If-Range and got the whole new file');
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a download that keeps failing stops with the partial file kept for the next call', async () => {
  const server = await startServer({ '/blob.bin': BODY });
  const cacheDir = tempCache();
  try {
    server.files.get('/blob.bin')!.cutAfter = 50_000;
    const failed = await rejection(() => downloadWeights(`${server.url}/blob.bin`, { cacheDir, retries: 0 }));
    assert.match(failed.message, /failed after 1 attempts.*partial file .* is kept/);
    const path = await downloadWeights(`${server.url}/blob.bin`, { cacheDir, sha256: BODY_SHA });
    assert.equal(new Uint8Array(readFileSync(path as string)), BODY);
    assert.match(server.log[1]!.range ?? '', /^bytes=\d+-$/);
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LOCATIONS, openLocation } from '../../src/api/sources.js';
import { WeightsError } from '../../src/weights/index.js';

// The default GeoCLIP files are pinned by size and sha256. A stand-in fetch serves the real release files
// from ../shared (this machine has no network), then a copy with one byte changed.
const REAL = new Uint8Array(readFileSync('../shared/data/geoclip/image_encoder_mlp_weights.pth'));

function serving(body: Uint8Array): typeof fetch {
  return (async (_input: RequestInfo | URL, init?: RequestInit) => {
    const range = /bytes=(\d+)-/.exec(new Headers(init?.headers).get('range') ?? '');
    const start = range ? Number(range[1]) : 0;
    const part = body.slice(start);
    return new Response(part, {
      status: range ? 206 : 200,
      headers: { 'content-length': String(part.byteLength), ...(range ? { 'content-range': `bytes ${start}-${body.byteLength - 1}/${body.byteLength}` } : {}) },
    });
  }) as typeof fetch;
}

test('the default image MLP downloads, passes its pinned sha256 and loads; a changed byte is refused', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'geolens-defaults-'));
  try {
    const source = await openLocation(DEFAULT_LOCATIONS.geoclip.imageMlp, { fetch: serving(REAL), cacheDir, cache: true });
    assert.equal(source.tensors.get('0.weight')?.shape, [768, 768]);
    await source.close();

    const tampered = REAL.slice();
    tampered[REAL.length >> 1] ^= 1;
    const otherCache = join(cacheDir, 'second');
    await openLocation(DEFAULT_LOCATIONS.geoclip.imageMlp, { fetch: serving(tampered), cacheDir: otherCache, cache: true }).then(
      () => assert.unreachable('a file whose sha256 differs from the release must not load'),
      (error: Error) => assert.ok(error instanceof WeightsError && /sha256/.test(error.message), error.message),
    );
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test.run();

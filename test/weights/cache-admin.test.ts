import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileGalleryCache } from '../../src/model/geoclip/gallery.js';
import { cachePath, clearCache, downloadWeights, listCache, WeightsError } from '../../src/weights/index.js';
import { startServer } from '../support/server.js';
import { rejection } from './support.js';

const BODY = new Uint8Array(123_457).map((_, i) => (i * 2654435761) >>> 24);

test('listCache names every download, unfinished download and gallery in the Node cache with its size; clearCache removes exactly those', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'geolens-cache-admin-'));
  const server = await startServer({ '/models/w.bin': BODY });
  try {
    const downloaded = await downloadWeights(`${server.url}/models/w.bin`, { cacheDir });
    const partial = `${await cachePath(`${server.url}/models/other.bin`, cacheDir)}.partial`;
    writeFileSync(partial, new Uint8Array(999));
    const gallery = new Float32Array(3 * 8).fill(0.5);
    // A gallery record: a 48-byte header (magic, version, count, the rows' sha256) and the rows.
    await fileGalleryCache(cacheDir).put('k'.repeat(64), gallery);

    const entries = await listCache({ cacheDir });
    const galleryFile = join(cacheDir, 'galleries', `${'k'.repeat(64)}.bin`);
    assert.equal(entries, [
      { kind: 'download', location: downloaded as string, bytes: BODY.length },
      { kind: 'partial', location: partial, bytes: 999 },
      { kind: 'gallery', location: galleryFile, bytes: 48 + gallery.byteLength },
    ].sort((a, b) => (a.location < b.location ? -1 : 1)));

    const cleared = await clearCache({ cacheDir });
    assert.equal(cleared, { entries: 3, bytes: BODY.length + 999 + 48 + gallery.byteLength, where: [cacheDir] });
    assert.equal(await listCache({ cacheDir }), []);
    assert.equal(readdirSync(cacheDir), [], 'the emptied folders are gone too');
    // And the cache still works afterwards.
    assert.is(await downloadWeights(`${server.url}/models/w.bin`, { cacheDir }), downloaded);
  } finally {
    await server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a cache folder that does not exist lists as empty; the home folder or / is refused as a cache', async () => {
  assert.equal(await listCache({ cacheDir: join(tmpdir(), 'geolens-no-such-cache', String(process.pid)) }), []);
  for (const cacheDir of [homedir(), '/']) {
    const error = await rejection(() => clearCache({ cacheDir }));
    assert.instance(error, WeightsError);
    assert.match(error.message, /refusing to use '.*' as the geolens cache/);
  }
});

test.run();

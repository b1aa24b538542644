import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildGallery, fileGalleryCache, parseGalleryCsv, predict, readGalleryCsv } from '../../src/model/geoclip/gallery.js';
import { GeolensError, ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { DATA, GENERATED, loadNarrowGeoClip, readFixture } from './geoclip-fixtures.js';

test('gallery CSV: header in any column order, CRLF, blank lines, headerless rows', () => {
  assert.equal([...parseGalleryCsv('LAT,LON\n1.5,2\n-3,4\n')], [1.5, 2, -3, 4]);
  assert.equal([...parseGalleryCsv('id,lon,lat\r\n7,10,20\r\n\r\n8,-170,-80\r\n')], [20, 10, -80, -170]);
  assert.equal([...parseGalleryCsv('45,90\n-45,-90')], [45, 90, -45, -90]);
});

test('gallery CSV is read from a path, a file: URL and a data: URL', async () => {
  const first = parseGalleryCsv('LAT,LON\n-50.943392,-72.935664\n');
  const fromPath = await readGalleryCsv(`${DATA}/coordinates_100K.csv`);
  assert.is(fromPath.length, 200000);
  assert.equal([...fromPath.subarray(0, 2)], [...first]);
  const fromUrl = await readGalleryCsv(new URL(`file://${process.cwd()}/${DATA}/coordinates_100K.csv`));
  assert.is(fromUrl.length, 200000);
  assert.equal([...(await readGalleryCsv('data:text/csv,LAT%2CLON%0A1%2C2'))], [1, 2]);
});

test('gallery CSV: bad rows, out-of-range coordinates and empty galleries are named', () => {
  const fails = (text: string, pattern: RegExp) =>
    assert.throws(() => parseGalleryCsv(text), (e: Error) => e instanceof GeolensError && pattern.test(e.message));
  fails('LAT,LON\n1,2\n3,abc\n', /line 3 has 'abc' as LON value, not a finite number/);
  fails('LAT,LON\n1,2\n3\n', /line 3 has no LON value/);
  fails('LAT,LON\nNaN,2\n', /line 2 has 'NaN' as LAT value/);
  fails('LAT,LON\n1,2\n90.5,0\n', /line 3 has latitude 90.5, outside \[-90, 90\]/);
  fails('LAT,LON\n1,181\n', /line 2 has longitude 181/);
  fails('LAT,LON\n', /empty \(a header but no points\)/);
  fails('', /empty \(no lines\)/);
  fails('latitude,longitude\n1,2\n', /line 1 must be a header naming LAT and LON/);
});

test('5,000 real gallery points: top-5 indices and probabilities equal PyTorch softmax+topk; cache reload', async () => {
  const gpu = await testGpu();
  const model = await loadNarrowGeoClip(gpu);
  const fixture = await readFixture(`${GENERATED}/geoclip-pipeline-5000.safetensors`);
  const gps = parseGalleryCsv(readFileSync(`${DATA}/coordinates_100K.csv`, 'utf8')).subarray(0, 10000);
  assert.equal([...gps.subarray(0, 20)], [...fixture.gps!.subarray(0, 20)]);

  const dir = mkdtempSync(join(tmpdir(), 'geolens-gallery-'));
  try {
    const progress: number[] = [];
    const warm = await buildGallery(model, gps.subarray(0, 200), { cache: false });
    warm.release();
    let started = performance.now();
    const gallery = await buildGallery(model, gps, { chunkRows: 2000, cache: fileGalleryCache(dir), onProgress: (done) => progress.push(done) });
    const buildSeconds = (performance.now() - started) / 1000;
    assert.equal(progress, [0, 2000, 4000, 5000]);
    assert.is(gallery.size, 5000);
    assert.is(gallery.fromCache, false);
    assert.is(gallery.scale, model.scale);

    const images = model.imageEmbeddings(gpu.upload(fixture.input!, [3, 768]));
    const predictions = await predict(images, gallery, 5);
    let worst = 0;
    predictions.forEach((row, q) =>
      row.forEach((p, j) => {
        assert.is(p.galleryIndex, fixture.topk_index![q * 5 + j], `image ${q} rank ${j}`);
        // The same float32, given as its shortest decimal (no float32 noise such as 29.553747177124023).
        assert.is(Math.fround(p.lat), gps[2 * p.galleryIndex]);
        assert.is(Math.fround(p.lon), gps[2 * p.galleryIndex + 1]);
        assert.ok(String(p.lat).length <= 11 && String(p.lon).length <= 12, `${p.lat}, ${p.lon}`);
        worst = Math.max(worst, Math.abs(p.probability - fixture.topk_probability![q * 5 + j]!));
      }),
    );
    console.log(`  5,000-point gallery: built in ${buildSeconds.toFixed(1)} s; top-5 indices equal, max |Δprobability| = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5, `probabilities differ by ${worst}`);

    started = performance.now();
    const cached = await buildGallery(model, gps, { cache: fileGalleryCache(dir), onProgress: (done) => progress.push(done) });
    console.log(`  reloaded from cache in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    assert.is(cached.fromCache, true);
    assert.is(cached.cacheKey, gallery.cacheKey);
    assert.is(progress.at(-1), 5000);
    assert.equal(await predict(images, cached, 5), predictions);
    assert.equal(await predict(model, images, cached, 5), predictions);

    // An unwritable cache does not fail the build.
    const readOnly = { get: async () => null, put: async () => Promise.reject(new Error('read-only')) };
    const uncached = await buildGallery(model, gps.subarray(0, 20), { cache: readOnly });
    assert.is(uncached.size, 10);
    uncached.release();

    // A different gallery is a different key.
    const other = await buildGallery(model, gps.subarray(0, 128), { cache: fileGalleryCache(dir) });
    assert.is(other.fromCache, false);
    assert.is.not(other.cacheKey, gallery.cacheKey);

    try {
      await predict(images, other, 65);
      assert.unreachable('k beyond the gallery');
    } catch (error) {
      assert.ok(error instanceof ShapeError && /k = 65 is more than the gallery's 64 points/.test((error as Error).message), String(error));
    }
    for (const bad of [new Float32Array(0), new Float32Array([1, 2, NaN, 3]), new Float32Array([1, 2, -91, 3])]) {
      try {
        await buildGallery(model, bad, { cache: false });
        assert.unreachable('built a bad gallery');
      } catch (error) {
        assert.match((error as Error).message, /empty|row 1/);
      }
    }
    gallery.release();
    cached.release();
    other.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    model.release();
  }
});

test.run();

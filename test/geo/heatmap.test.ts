import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { equirectangularCells, galleryHeatmaps } from '../../src/geo/heatmap.js';
import { heatmapReference } from '../../src/kernels/heatmap.js';
import { uploadGalleryChunks } from '../../src/kernels/search.js';
import { Gallery } from '../../src/model/geoclip/gallery.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, normalizeRows, randomArray, seededRandom } from '../support/numeric.js';

test('equirectangularCells: row 0 is the north, column 0 starts at 180° W, edges clamp inward', () => {
  const gps = new Float32Array([90, -180, -90, 180, 0, 0, 45.5, -90.5, -0.01, 179.99]);
  // 8 × 4 cells of 45°: (0,0), (3,7), equator/prime meridian → row 2, col 4, …
  assert.equal(Array.from(equirectangularCells(gps, 8, 4)), [0, 3 * 8 + 7, 2 * 8 + 4, 0 * 8 + 1 /* 45.5 N is in row 0 */, 2 * 8 + 7]);
});

test('galleryHeatmaps: the softmax over a small gallery binned per cell, summing to 1', async () => {
  const gpu = await testGpu();
  const dim = 16;
  const size = 2000;
  const next = seededRandom(5);
  const gps = new Float32Array(size * 2);
  for (let i = 0; i < size; i++) [gps[2 * i], gps[2 * i + 1]] = [next() * 180 - 90, next() * 360 - 180];
  const embeddings = normalizeRows(randomArray(size * dim, 6), dim);
  const gallery = new Gallery(gps, uploadGalleryChunks(gpu, embeddings, size, dim, 700), dim, 39.7, false, 'test');
  const queries = normalizeRows(randomArray(2 * dim, 7), dim);
  const maps = await galleryHeatmaps(gpu.upload(queries, [2, dim]), gallery, { width: 24, height: 12 });
  // The expected grid: each point's cell by the formula in the docs, computed here.
  const cells = Uint32Array.from({ length: size }, (_, i) => Math.min(11, Math.floor(((90 - gps[2 * i]!) / 180) * 12)) * 24 + Math.min(23, Math.floor(((gps[2 * i + 1]! + 180) / 360) * 24)));
  const expected = heatmapReference(queries, embeddings, dim, cells, { scale: 39.7, cells: 24 * 12 });
  maps.forEach((map, i) => {
    assert.is(map.width, 24);
    assert.is(map.height, 12);
    assert.ok(Math.abs(map.values.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assertClose(map.values, expected[i]!, 1e-4, 1e-7, `image ${i}`);
  });
  await galleryHeatmaps(gpu.upload(queries, [2, dim]), gallery, { width: 0, height: 12 }).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /heatmap: width must be an integer from 1 to 4096, got 0/),
  );
});

test.run();

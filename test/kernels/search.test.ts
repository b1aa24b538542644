import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { galleryChunkRows, NonFiniteError, searchTopK, searchTopKReference, uploadGalleryChunks, type SearchResult } from '../../src/kernels/search.js';
import { floatsToHalves, halvesToFloats, ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, normalizeRows, randomArray } from '../support/numeric.js';

const GEOCLIP_SCALE = 39.7;

/** Queries near chosen gallery rows (a peaked softmax, as for a real photo) plus one unrelated query. */
function queriesNear(gallery: Float32Array, dim: number, rows: number[], seed: number): Float32Array {
  const noise = randomArray((rows.length + 1) * dim, seed);
  const out = new Float32Array((rows.length + 1) * dim);
  rows.forEach((row, q) => {
    for (let d = 0; d < dim; d++) out[q * dim + d] = gallery[row * dim + d]! + 0.03 * noise[q * dim + d]!;
  });
  out.set(noise.subarray(rows.length * dim), rows.length * dim);
  return normalizeRows(out, dim);
}

function assertSameResult(actual: SearchResult, expected: SearchResult, label: string): void {
  assert.is(actual.k, expected.k);
  assert.is(actual.queries, expected.queries);
  assert.equal(Array.from(actual.indices), Array.from(expected.indices), `${label}: indices`);
  assertClose(actual.logits, expected.logits, 0, 1e-5, `${label}: logits`);
  assertClose(actual.logSumExp, expected.logSumExp, 1e-5, 0, `${label}: logSumExp`);
  assertClose(actual.probabilities, expected.probabilities, 1e-5, 1e-7, `${label}: probabilities`);
}

test('small gallery: every k up to the row count, odd row counts, ties broken by lower row', async () => {
  const gpu = await testGpu();
  const dim = 8;
  const rows = 517;
  const gallery = normalizeRows(randomArray(rows * dim, 11), dim);
  // Rows 3, 200 and 516 duplicate row 100: equal logits must come back in row order.
  for (const copy of [3, 200, 516]) gallery.copyWithin(copy * dim, 100 * dim, 101 * dim);
  const queries = queriesNear(gallery, dim, [100, 7, 516], 12);
  const q = gpu.upload(queries, [4, dim]);
  const g = gpu.upload(gallery, [rows, dim]);
  for (const k of [1, 5, 64, 65, 256]) {
    const expected = searchTopKReference(queries, gallery, dim, { k, scale: GEOCLIP_SCALE });
    for (const scores of ['direct', 'gemm'] as const) assertSameResult(await searchTopK(q, g, { k, scale: GEOCLIP_SCALE, scores }), expected, `k=${k}, scores ${scores}`);
  }
  const single = queries.subarray(0, dim);
  assertSameResult(await searchTopK(gpu.upload(single, [1, dim]), g, { k: 9, scale: GEOCLIP_SCALE }), searchTopKReference(single, gallery, dim, { k: 9, scale: GEOCLIP_SCALE }), 'Q=1');
  for (const tilesPerWorkgroup of [16, 1]) {
    // One workgroup holds all four copies, or (256 rows each) they meet only in the merge.
    for (const scores of ['direct', 'gemm'] as const) {
      const top = await searchTopK(q, g, { k: 4, scale: GEOCLIP_SCALE, tilesPerWorkgroup, scores });
      assert.equal(Array.from(top.indices.subarray(0, 4)), [3, 100, 200, 516], `${tilesPerWorkgroup} tiles, scores ${scores}`);
    }
  }
});

test('more than 8 queries (two query blocks), several tilings and both score sources agree with the reference', async () => {
  const gpu = await testGpu();
  const dim = 16;
  const rows = 3000;
  const gallery = normalizeRows(randomArray(rows * dim, 21), dim);
  const queries = queriesNear(gallery, dim, [0, 1, 2, 2999, 1500, 77, 78, 79, 80, 81], 22);
  const expected = searchTopKReference(queries, gallery, dim, { k: 10, scale: 10 });
  const q = gpu.upload(queries, [11, dim]);
  const g = gpu.upload(gallery, [rows, dim]);
  for (const scores of ['direct', 'gemm'] as const) {
    for (const tilesPerWorkgroup of [1, 3, 50]) {
      assertSameResult(await searchTopK(q, g, { k: 10, scale: 10, tilesPerWorkgroup, scores }), expected, `${tilesPerWorkgroup} tiles per workgroup, scores ${scores}`);
    }
  }
  // k = 200 over 256-row workgroups: the last holds 184 rows, so its lists are padded, and 12 lists merge.
  const expected200 = searchTopKReference(queries, gallery, dim, { k: 200, scale: 10 });
  assertSameResult(await searchTopK(q, g, { k: 200, scale: 10, tilesPerWorkgroup: 1 }), expected200, 'k=200');
});

test('a gallery of identical rows returns the lowest rows, in order, with probability 1/N each', async () => {
  const gpu = await testGpu();
  const dim = 8;
  const rows = 3000;
  const row = normalizeRows(randomArray(dim, 51), dim);
  const gallery = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) gallery.set(row, r * dim);
  const queries = normalizeRows(randomArray(2 * dim, 52), dim);
  const expected = searchTopKReference(queries, gallery, dim, { k: 50, scale: GEOCLIP_SCALE });
  assert.equal(Array.from(expected.indices.subarray(0, 50)), Array.from({ length: 50 }, (_, i) => i));
  const result = await searchTopK(gpu.upload(queries, [2, dim]), gpu.upload(gallery, [rows, dim]), { k: 50, scale: GEOCLIP_SCALE, tilesPerWorkgroup: 1 });
  assertSameResult(result, expected, 'identical rows');
  assertClose(result.probabilities, new Float32Array(100).fill(1 / rows), 1e-5, 0, 'identical rows: probabilities');
});

test('f16 gallery matches the reference on the same half-rounded values', async () => {
  const gpu = await testGpu();
  const dim = 24;
  const rows = 2000;
  const gallery = halvesToFloats(floatsToHalves(normalizeRows(randomArray(rows * dim, 31), dim)));
  const queries = queriesNear(gallery, dim, [5, 1999], 32);
  const expected = searchTopKReference(queries, gallery, dim, { k: 20, scale: GEOCLIP_SCALE });
  const chunks = uploadGalleryChunks(gpu, gallery, rows, dim, 700, 'f16');
  assert.equal(chunks.map((c) => c.shape[0]), [700, 700, 600]);
  assert.ok(chunks.every((c) => c.dtype === 'f16'));
  for (const scores of ['direct', 'gemm'] as const) {
    assertSameResult(await searchTopK(gpu.upload(queries, [3, dim]), chunks, { k: 20, scale: GEOCLIP_SCALE, scores }), expected, `f16 chunks, scores ${scores}`);
  }
});

test('bad input: k out of range, empty gallery, D mismatch, non-finite scale', async () => {
  const gpu = await testGpu();
  const q = gpu.upload(new Float32Array(2 * 8).fill(0.25), [2, 8]);
  const g = gpu.upload(new Float32Array(10 * 8).fill(0.1), [10, 8]);
  const rejects = async (run: () => Promise<unknown>, pattern: RegExp) => {
    try {
      await run();
    } catch (error) {
      assert.instance(error, ShapeError);
      assert.match((error as Error).message, pattern);
      return;
    }
    assert.unreachable(`expected a ShapeError matching ${pattern}`);
  };
  await rejects(() => searchTopK(q, g, { k: 11, scale: 1 }), /k = 11 is larger than the gallery \(10 rows\)/);
  await rejects(() => searchTopK(q, [g, g], { k: 21, scale: 1 }), /k = 21 is larger than the gallery \(20 rows\)/);
  await rejects(() => searchTopK(q, g, { k: 0, scale: 1 }), /k must be a positive integer, got 0/);
  await rejects(() => searchTopK(q, [], { k: 1, scale: 1 }), /gallery is empty/);
  await rejects(() => searchTopK(q, gpu.upload(new Float32Array(10 * 12), [10, 12]), { k: 1, scale: 1 }), /\[10, 12\] has D = 12, queries \[2, 8\] have D = 8/);
  await rejects(() => searchTopK(q, [g, gpu.upload(new Float32Array(4), [1, 4])], { k: 1, scale: 1 }), /gallery chunk 1 \[1, 4\]/);
  await rejects(() => searchTopK(q, g, { k: 1, scale: NaN }), /scale must be finite/);
  await rejects(() => searchTopK(q, g, { k: 1, scale: 1, scores: 'fastest' as 'gemm' }), /scores must be 'direct' or 'gemm', got "fastest"/);
  await rejects(async () => uploadGalleryChunks(gpu, new Float32Array(8), 2, 8), /holds 8 values, not \[2, 8\]/);
  assert.throws(() => searchTopKReference(new Float32Array(8), new Float32Array(80), 8, { k: 11, scale: 1 }), /larger than the gallery/);
});

test('NaN in a query rejects naming the query row; NaN in the gallery rejects too', async () => {
  const gpu = await testGpu();
  const dim = 8;
  const queries = normalizeRows(randomArray(3 * dim, 41), dim);
  const gallery = normalizeRows(randomArray(300 * dim, 42), dim);
  queries[2 * dim + 5] = NaN;
  for (const scores of ['direct', 'gemm'] as const) {
    try {
      await searchTopK(gpu.upload(queries, [3, dim]), gpu.upload(gallery, [300, dim]), { k: 3, scale: 1, scores });
      assert.unreachable(`NaN query accepted (scores ${scores})`);
    } catch (error) {
      assert.instance(error, NonFiniteError);
      assert.match((error as Error).message, /query row 2 holds NaN at column 5/);
    }
  }
  assert.throws(() => searchTopKReference(queries, gallery, dim, { k: 3, scale: 1 }), /query row 2 holds NaN/);
  queries[2 * dim + 5] = 0;
  gallery[123 * dim] = NaN;
  for (const scores of ['direct', 'gemm'] as const) {
    try {
      await searchTopK(gpu.upload(queries, [3, dim]), gpu.upload(gallery, [300, dim]), { k: 3, scale: 1, scores });
      assert.unreachable(`NaN gallery accepted (scores ${scores})`);
    } catch (error) {
      assert.instance(error, NonFiniteError);
      assert.match((error as Error).message, /gallery holds NaN/);
    }
  }
});

test('chunk sizing follows the binding limit and names sizes when one row cannot fit', () => {
  assert.is(galleryChunkRows(1_500_000, 512, 'f32', 1 << 30), 524_288);
  assert.is(galleryChunkRows(1_500_000, 512, 'f16', 1 << 30), 1_048_576);
  assert.is(galleryChunkRows(1_500_000, 512, 'f32', 1 << 30, 400_000), 400_000);
  assert.is(galleryChunkRows(100, 512, 'f32', 1 << 30), 100);
  assert.throws(() => galleryChunkRows(10, 512, 'f32', 1000), /D = 512 f32 needs 2048 bytes, more than one binding holds \(1000 bytes\)/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accumulateHeatmap, heatmapReference } from '../../src/kernels/heatmap.js';
import { searchTopK, uploadGalleryChunks } from '../../src/kernels/search.js';
import { floatsToHalves, halvesToFloats, ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, normalizeRows, randomArray, seededRandom } from '../support/numeric.js';

const SCALE = 39.7;

/** Queries close to chosen rows (a peaked softmax, as for a real photo) and one unrelated query. */
function peakedQueries(gallery: Float32Array, dim: number, rows: number[], seed: number): Float32Array {
  const noise = randomArray((rows.length + 1) * dim, seed);
  const out = new Float32Array(noise);
  rows.forEach((row, q) => {
    for (let d = 0; d < dim; d++) out[q * dim + d] = gallery[row * dim + d]! + 0.05 * noise[q * dim + d]!;
  });
  return normalizeRows(out, dim);
}

function randomCells(n: number, cells: number, seed: number): Uint32Array {
  const next = seededRandom(seed);
  // Clustered, as gallery points are: a third of the rows fall into five cells.
  return Uint32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? Math.floor(next() * 5) : Math.floor(next() * cells)));
}

test('heat map equals the float64 reference and sums to 1 (f32, several chunks)', async () => {
  const gpu = await testGpu();
  const dim = 64;
  const rows = 5003;
  const cells = 36 * 18;
  const gallery = normalizeRows(randomArray(rows * dim, 31), dim);
  const queries = peakedQueries(gallery, dim, [17, 4000, 4001], 32);
  const rowCells = randomCells(rows, cells, 33);
  const expected = heatmapReference(queries, gallery, dim, rowCells, { scale: SCALE, cells });
  const q = gpu.upload(queries, [4, dim]);
  const cellTensor = gpu.upload(rowCells, [rows], 'u32');
  for (const chunkRows of [rows, 1200]) {
    const chunks = uploadGalleryChunks(gpu, gallery, rows, dim, chunkRows);
    const { logSumExp } = await searchTopK(q, chunks, { k: 1, scale: SCALE });
    const got = await accumulateHeatmap(q, chunks, cellTensor, logSumExp, { scale: SCALE, cells });
    assert.is(got.length, 4);
    got.forEach((mass, i) => {
      const sum = mass.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `query ${i} (${chunks.length} chunks): sum ${sum}`);
      assertClose(mass, expected[i]!, 1e-4, 1e-7, `query ${i}, ${chunks.length} chunks`);
    });
    // The peaked queries put most of their mass into their row's cell.
    assert.ok(got[0]![rowCells[17]!]! > 0.5, `peak ${got[0]![rowCells[17]!]}`);
    for (const chunk of chunks) chunk.release();
  }
});

test('f16 gallery: equals the reference on the halves', async () => {
  const gpu = await testGpu();
  const dim = 32;
  const rows = 777;
  const cells = 10;
  const gallery = normalizeRows(randomArray(rows * dim, 41), dim);
  const halves = halvesToFloats(floatsToHalves(gallery));
  const queries = peakedQueries(gallery, dim, [5], 42);
  const rowCells = randomCells(rows, cells, 43);
  const chunks = uploadGalleryChunks(gpu, gallery, rows, dim, 300, 'f16');
  const q = gpu.upload(queries, [2, dim]);
  const { logSumExp } = await searchTopK(q, chunks, { k: 1, scale: SCALE });
  const got = await accumulateHeatmap(q, chunks, gpu.upload(rowCells, [rows], 'u32'), logSumExp, { scale: SCALE, cells });
  const expected = heatmapReference(queries, halves, dim, rowCells, { scale: SCALE, cells });
  got.forEach((mass, i) => {
    assert.ok(Math.abs(mass.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assertClose(mass, expected[i]!, 1e-4, 1e-7, `f16 query ${i}`);
  });
});

test('one query (its own path in the shader), f32 and f16', async () => {
  const gpu = await testGpu();
  const dim = 24;
  const rows = 901;
  const cells = 7;
  const gallery = normalizeRows(randomArray(rows * dim, 51), dim);
  const queries = peakedQueries(gallery, dim, [], 52);
  const rowCells = randomCells(rows, cells, 53);
  const q = gpu.upload(queries, [1, dim]);
  for (const dtype of ['f32', 'f16'] as const) {
    const chunks = uploadGalleryChunks(gpu, gallery, rows, dim, 400, dtype);
    const { logSumExp } = await searchTopK(q, chunks, { k: 1, scale: SCALE });
    const [mass] = await accumulateHeatmap(q, chunks, gpu.upload(rowCells, [rows], 'u32'), logSumExp, { scale: SCALE, cells });
    const reference = heatmapReference(queries, dtype === 'f16' ? halvesToFloats(floatsToHalves(gallery)) : gallery, dim, rowCells, { scale: SCALE, cells });
    assert.ok(Math.abs(mass!.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assertClose(mass!, reference[0]!, 1e-4, 1e-7, `one query ${dtype}`);
  }
});

test('bad shapes are named', async () => {
  const gpu = await testGpu();
  const q = gpu.upload(normalizeRows(randomArray(8, 1), 8), [1, 8]);
  const g = gpu.upload(normalizeRows(randomArray(80, 2), 8), [10, 8]);
  const cells = gpu.upload(new Uint32Array(9), [9], 'u32');
  await accumulateHeatmap(q, g, cells, new Float32Array(1), { scale: 1, cells: 4 }).then(
    () => assert.unreachable(),
    (e: Error) => assert.ok(e instanceof ShapeError && /rowCells must be \[10\] u32/.test(e.message), e.message),
  );
  await accumulateHeatmap(q, g, gpu.upload(new Uint32Array(10), [10], 'u32'), new Float32Array(2), { scale: 1, cells: 4 }).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /2 log-sum-exp values for 1 queries/),
  );
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultVariantName, forceGemmVariant, gemmShapeKey, linear, linearReference, setTunedGemmChoices } from '../../src/kernels/gemm.js';
import {
  attention, attentionKernels, attentionReference, attentionShapeKey, ATTENTION_WORKGROUP_SIZES, defaultAttentionKernel, setTunedAttentionChoices,
} from '../../src/kernels/attention.js';
import {
  clipVisionAttentionShapes, clipVisionGemmShapes, clipVisionRowShapes, fileTuningStore, geoclipLocationGemmShapes, geoclipRowShapes, geoclipSearchShapes, tuneAttentionShapes, loadTuningTable,
  prepareTuning, saveTuningTable, TUNING_FORMAT, tuneGemmShapes, tuneRowShapes, tuneSearchShapes, tuningIdentity, type TuningTable,
} from '../../src/kernels/tuning.js';
import { layerNorm, layerNormReference } from '../../src/kernels/layernorm.js';
import { softmax } from '../../src/kernels/softmax.js';
import { defaultRowStrategy, rowShapeKey, rowStrategies, setTunedRowChoices, type RowStrategy } from '../../src/kernels/rows.js';
import {
  defaultTilesPerWorkgroup, SEARCH_TILINGS, searchScoresFor, searchShapeKey, searchTilingFor, searchTopK, searchTopKReference, setTunedSearchChoices,
  uploadGalleryChunks,
} from '../../src/kernels/search.js';
import type { Gpu } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, normalizeRows, randomArray, relativeError } from '../support/numeric.js';

/** The GEMM variant a linear() call of this shape runs with no variant named, read from its dispatch label. */
function variantRun(gpu: Gpu, m: number, k: number, n: number): string {
  const x = gpu.upload(new Float32Array(m * k), [m, k]);
  const w = gpu.upload(new Float32Array(n * k), [n, k]);
  const labels = gpu.plan(() => void linear(x, w)).map((r) => r.label);
  x.release();
  w.release();
  // gemm.<variant>.<io>; the first dispatch is the main block (a second may be a short tail).
  return labels[0]!.split('.')[1]!;
}

/** The kernel an attention() call of this shape runs with none named, read from its dispatch. */
function attentionKernelRun(gpu: Gpu, batch: number, seq: number, heads: number, headDim: number, causal = false): string {
  const qkv = gpu.upload(new Float32Array(batch * seq * 3 * heads * headDim), [batch, seq, 3 * heads * headDim]);
  const [request] = gpu.plan(() => void attention(qkv, heads, { causal }));
  qkv.release();
  return request!.label === 'attention' ? `blocks${request!.constants!.WORKGROUP_SIZE}` : request!.label.split('.')[1]!;
}

const folders: string[] = [];
function freshFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'geolens-tuning-'));
  folders.push(folder);
  return folder;
}

test.after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

test('tuning times the candidates per shape, picks the fastest, and linear() then uses it', async () => {
  const gpu = await testGpu();
  const shape = { rows: 40, k: 64, n: 48, dtype: 'f32' as const };
  const table = await tuneGemmShapes(gpu, [shape, { ...shape, rows: 33 }], { candidates: ['register4x4', 'register8x8'], repeats: 2 });
  const key = gemmShapeKey('f32', 40, 64, 48);
  // 40 and 33 rows are one row class: one entry.
  assert.equal(Object.keys(table.gemm), [key]);
  const entry = table.gemm[key]!;
  assert.equal(Object.keys(entry.ms).sort(), ['register4x4', 'register8x8']);
  const fastest = Object.entries(entry.ms).sort((a, b) => a[1] - b[1])[0]![0];
  assert.is(entry.variant, fastest);
  assert.is(variantRun(gpu, 40, 64, 48), fastest);
  // Other shapes keep the per-adapter-class default.
  assert.is(variantRun(gpu, 40, 64, 52), defaultVariantName(gpu, 40));
  // Forcing still wins over the table.
  forceGemmVariant(gpu, 'naive');
  assert.is(variantRun(gpu, 40, 64, 48), 'naive');
  forceGemmVariant(gpu, null);
  // And the tuned variant computes the product.
  const x = randomArray(40 * 64, 3);
  const w = randomArray(48 * 64, 4, 0.125);
  const y = await linear(gpu.upload(x, [40, 64]), gpu.upload(w, [48, 64])).read();
  assert.ok(relativeError(y, linearReference(x, [40, 64], w, [48, 64])) <= 1e-5);
  setTunedGemmChoices(gpu, null);
});

test('a stored table survives a restart: in-memory choices dropped, the table read back from its folder', async () => {
  const gpu = await testGpu();
  const folder = freshFolder();
  const table = await tuneGemmShapes(gpu, [{ rows: 20, k: 32, n: 24, dtype: 'f32' }], { candidates: ['register8x8'], repeats: 1 });
  const where = await saveTuningTable(gpu, table, { cacheDir: folder });
  assert.ok(where.startsWith(join(folder, 'tuning')), where);
  const stored = JSON.parse(readFileSync(where, 'utf8')) as TuningTable;
  assert.is(stored.format, TUNING_FORMAT);
  assert.equal({ adapter: stored.adapter, driver: stored.driver, version: stored.version }, tuningIdentity(gpu));

  setTunedGemmChoices(gpu, null); // what a new process starts with
  assert.is(variantRun(gpu, 20, 32, 24), defaultVariantName(gpu, 20));
  const logs: string[] = [];
  const loaded = await loadTuningTable(gpu, { cacheDir: folder, log: (m) => logs.push(m) });
  assert.ok(loaded);
  assert.equal(logs, []);
  assert.is(variantRun(gpu, 20, 32, 24), 'register8x8');
  setTunedGemmChoices(gpu, null);
});

test('a corrupt or foreign table is ignored with one log line, and the defaults apply', async () => {
  const gpu = await testGpu();
  const identity = tuningIdentity(gpu);
  const good: TuningTable = { format: TUNING_FORMAT, ...identity, gemm: { [gemmShapeKey('f32', 20, 32, 24)]: { variant: 'register8x8', ms: {} } } };
  const cases: [string, string, RegExp][] = [
    ['truncated JSON', JSON.stringify(good).slice(0, 40), /not JSON/],
    ['another adapter', JSON.stringify({ ...good, adapter: 'NVIDIA GeForce RTX 4090' }), /made for adapter "NVIDIA GeForce RTX 4090"/],
    ['another driver', JSON.stringify({ ...good, driver: 'Mesa 23.0' }), /made for driver "Mesa 23.0"/],
    ['another version', JSON.stringify({ ...good, version: '0.0.1-old' }), /made for version "0.0.1-old"/],
    ['another format', JSON.stringify({ ...good, format: 'geolens-tuning/0' }), /format "geolens-tuning\/0"/],
    ['unknown variant', JSON.stringify({ ...good, gemm: { x: { variant: 'fastest', ms: {} } } }), /names no known GEMM variant/],
  ];
  for (const [what, text, pattern] of cases) {
    const folder = freshFolder();
    const store = fileTuningStore(folder);
    await store.write(identity, text);
    const logs: string[] = [];
    setTunedGemmChoices(gpu, null);
    const loaded = await loadTuningTable(gpu, { store, log: (m) => logs.push(m) });
    assert.is(loaded, null, what);
    assert.is(logs.length, 1, `${what}: ${logs.join(' | ')}`);
    assert.match(logs[0]!, pattern, what);
    assert.match(logs[0]!, /ignored.*using the defaults/, what);
    assert.is(variantRun(gpu, 20, 32, 24), defaultVariantName(gpu, 20), what);
  }
  // No table at all is not worth a line.
  const logs: string[] = [];
  assert.is(await loadTuningTable(gpu, { cacheDir: freshFolder(), log: (m) => logs.push(m) }), null);
  assert.equal(logs, []);
});

test('prepareTuning reads the stored table and tunes only when asked, only the shapes it lacks', async () => {
  const gpu = await testGpu();
  const folder = freshFolder();
  const shapes = [{ rows: 9, k: 16, n: 12, dtype: 'f32' as const }];
  setTunedGemmChoices(gpu, null);
  assert.is(await prepareTuning(gpu, { cacheDir: folder, shapes }), null, 'no table and no tune: nothing timed');
  const tuned = await prepareTuning(gpu, { cacheDir: folder, shapes, tune: { candidates: ['register4x4'], repeats: 1 } });
  assert.is(tuned?.gemm[gemmShapeKey('f32', 9, 16, 12)]?.variant, 'register4x4');
  // The stored file now holds it; a second tune with a different candidate leaves the known shape alone.
  const again = await prepareTuning(gpu, { cacheDir: folder, shapes, tune: { candidates: ['register8x8'], repeats: 1 } });
  assert.is(again?.gemm[gemmShapeKey('f32', 9, 16, 12)]?.variant, 'register4x4');
  setTunedGemmChoices(gpu, null);
});

test('attention: the tuner times every kernel per shape, and attention() then uses the fastest', async () => {
  const gpu = await testGpu();
  for (const headDim of [8, 64]) {
    const shape = { batch: 2, seq: 19, heads: 3, headDim };
    const table = await tuneAttentionShapes(gpu, [shape, { ...shape, causal: true }], { repeats: 2 });
    const key = attentionShapeKey(2, 19, 3, headDim);
    assert.equal(Object.keys(table.attention!).sort(), [key, attentionShapeKey(2, 19, 3, headDim, true)].sort());
    const entry = table.attention![key]!;
    assert.equal(Object.keys(entry.ms).sort(), attentionKernels(gpu, headDim).sort());
    // Every workgroup size, and each subgroup kernel exactly where it runs (head dim 64, 8- or 4-lane subgroups).
    assert.ok(ATTENTION_WORKGROUP_SIZES.every((size) => `blocks${size}` in entry.ms));
    assert.is('subgroup64' in entry.ms, headDim === 64 && gpu.subgroupsOfAtLeast(8));
    assert.is('subgroup64w4' in entry.ms, headDim === 64 && gpu.subgroupsOfAtLeast(4));
    const fastest = Object.entries(entry.ms).sort((a, b) => a[1] - b[1])[0]![0];
    assert.is(entry.kernel, fastest);
    assert.is(attentionKernelRun(gpu, 2, 19, 3, headDim), fastest);
    // A shape the table lacks keeps the per-adapter default.
    assert.is(attentionKernelRun(gpu, 2, 20, 3, headDim), defaultAttentionKernel(gpu, headDim));
    setTunedAttentionChoices(gpu, null);
  }
});

test('attention: a stored kernel other than the default is used after a restart and computes the same attention', async () => {
  const gpu = await testGpu();
  const folder = freshFolder();
  const other = attentionKernels(gpu, 12).find((kernel) => kernel !== defaultAttentionKernel(gpu, 12))!;
  const key = attentionShapeKey(1, 13, 2, 12);
  const table: TuningTable = { format: TUNING_FORMAT, ...tuningIdentity(gpu), gemm: {}, attention: { [key]: { kernel: other, ms: {} } } };
  await saveTuningTable(gpu, table, { cacheDir: folder });
  setTunedAttentionChoices(gpu, null); // what a new process starts with
  assert.is(attentionKernelRun(gpu, 1, 13, 2, 12), defaultAttentionKernel(gpu, 12));
  assert.ok(await loadTuningTable(gpu, { cacheDir: folder }));
  assert.is(attentionKernelRun(gpu, 1, 13, 2, 12), other);
  // Naming a kernel or a size still wins over the table.
  const qkvValues = randomArray(13 * 3 * 24, 7);
  const qkv = gpu.upload(qkvValues, [1, 13, 72]);
  assert.is(gpu.plan(() => void attention(qkv, 2, { workgroupSize: 64 }))[0]!.constants!.WORKGROUP_SIZE, 64);
  const out = await attention(qkv, 2).read();
  assert.ok(relativeError(out, attentionReference(qkvValues, 1, 13, 2)) <= 1e-5);
  // A table naming a kernel this adapter does not run at that head dim is refused whole, with one line.
  for (const bad of ['blocks3', 'subgroup64', 'fastest']) {
    const store = fileTuningStore(freshFolder());
    await store.write(tuningIdentity(gpu), JSON.stringify({ ...table, attention: { [key]: { kernel: bad, ms: {} } } }));
    setTunedAttentionChoices(gpu, null);
    const logs: string[] = [];
    assert.is(await loadTuningTable(gpu, { store, log: (m) => logs.push(m) }), null, bad);
    assert.is(logs.length, 1, bad);
    assert.match(logs[0]!, /attention entry .* names no attention kernel this adapter runs/, bad);
    assert.is(attentionKernelRun(gpu, 1, 13, 2, 12), defaultAttentionKernel(gpu, 12), bad);
  }
});

test('a model\'s attention shapes: ViT-B/32 and ViT-L/14', () => {
  const b32 = { hidden_size: 768, num_attention_heads: 12, image_size: 224, patch_size: 32 };
  assert.equal(clipVisionAttentionShapes(b32, [1, 8]), [{ batch: 1, seq: 50, heads: 12, headDim: 64 }, { batch: 8, seq: 50, heads: 12, headDim: 64 }]);
  assert.equal(clipVisionAttentionShapes({ hidden_size: 1024, num_attention_heads: 16, image_size: 224, patch_size: 14 }), [{ batch: 1, seq: 257, heads: 16, headDim: 64 }]);
});

test('a model\'s GEMM shapes: ViT-B/32 per image', () => {
  const b32 = { hidden_size: 768, intermediate_size: 3072, image_size: 224, patch_size: 32, projection_dim: 512 };
  const shapes = clipVisionGemmShapes(b32, 'q8', [1, 2]);
  assert.equal(shapes.slice(0, 5).map((s) => [s.rows, s.k, s.n]), [[50, 768, 2304], [50, 768, 768], [50, 768, 3072], [50, 3072, 768], [1, 768, 512]]);
  assert.equal(shapes[5], { rows: 100, k: 768, n: 2304, dtype: 'q8' });
  assert.ok(shapes.every((s) => s.dtype === 'q8'));
});

test('a half-written table is ignored with a log line, and saving again replaces it', async () => {
  const gpu = await testGpu();
  const folder = freshFolder();
  const table: TuningTable = { format: TUNING_FORMAT, ...tuningIdentity(gpu), gemm: {} };
  const where = await saveTuningTable(gpu, table, { cacheDir: folder });
  writeFileSync(where, '{"format":');
  const logs: string[] = [];
  assert.is(await loadTuningTable(gpu, { cacheDir: folder, log: (m) => logs.push(m) }), null);
  assert.is(logs.length, 1);
  await saveTuningTable(gpu, table, { cacheDir: folder });
  assert.ok(await loadTuningTable(gpu, { cacheDir: folder }));
});

const ROW_ENTRY_POINTS: Record<RowStrategy, string> = { workgroup: 'main', invocation: 'rowPerInvocation', subgroup: 'rowPerSubgroup' };

/** The strategy a row-wise op runs with none forced, read from its dispatch's entry point. */
function rowStrategyRun(gpu: Gpu, op: 'layerNorm' | 'softmax', rows: number, cols: number): RowStrategy {
  const x = gpu.upload(new Float32Array(rows * cols), [rows, cols]);
  const gamma = gpu.upload(new Float32Array(cols), [cols]);
  const [request] = gpu.plan(() => void (op === 'layerNorm' ? layerNorm(x, gamma, gamma) : softmax(x)));
  x.release();
  gamma.release();
  return (Object.keys(ROW_ENTRY_POINTS) as RowStrategy[]).find((s) => ROW_ENTRY_POINTS[s] === request!.entryPoint)!;
}

function clearRowsAndSearch(gpu: Gpu): void {
  setTunedRowChoices(gpu, null);
  setTunedSearchChoices(gpu, null);
}

/** A unit-norm gallery and one query, with the float64 reference's answer. */
function searchCase(rows: number, dim: number, seed: number) {
  const gallery = normalizeRows(randomArray(rows * dim, seed), dim);
  const query = normalizeRows(randomArray(dim, seed + 1), dim);
  return { gallery, query, expected: searchTopKReference(query, gallery, dim, { k: 5, scale: 39.7 }) };
}

test('rows: the tuner times every strategy this adapter runs, picks its fastest, and the kernels then use it', async () => {
  const gpu = await testGpu();
  clearRowsAndSearch(gpu);
  const table = await tuneRowShapes(gpu, [{ op: 'layerNorm', rows: 20, cols: 96 }, { op: 'layerNorm', rows: 30, cols: 96 }, { op: 'softmax', rows: 1, cols: 3000 }], { repeats: 2 });
  // 20 and 30 rows are one class: one entry.
  const layerKey = rowShapeKey('layerNorm', 20, 96);
  assert.equal(Object.keys(table.rows!).sort(), [layerKey, rowShapeKey('softmax', 1, 3000)].sort());
  for (const [key, entry] of Object.entries(table.rows!)) {
    assert.equal(Object.keys(entry.ms).sort(), rowStrategies(gpu).sort(), key);
    assert.is(entry.strategy, Object.entries(entry.ms).sort((a, b) => a[1] - b[1])[0]![0], key);
  }
  assert.is(rowStrategyRun(gpu, 'layerNorm', 25, 96), table.rows![layerKey]!.strategy);
  assert.is(rowStrategyRun(gpu, 'softmax', 1, 3000), table.rows![rowShapeKey('softmax', 1, 3000)]!.strategy);
  // Another row class keeps the default.
  assert.is(rowStrategyRun(gpu, 'layerNorm', 100, 96), defaultRowStrategy(gpu));
  clearRowsAndSearch(gpu);
});

test('search: the tuner times every tiling, picks its fastest, and searchTopK then uses it and finds the reference rows', async () => {
  const gpu = await testGpu();
  clearRowsAndSearch(gpu);
  const shape = { rows: 3000, dim: 64, dtype: 'f32' as const, queries: 1 };
  const table = await tuneSearchShapes(gpu, [shape, { ...shape, dtype: 'f16' }], { repeats: 2 });
  const key = searchShapeKey(3000, 64, 'f32', 1);
  const halfKey = searchShapeKey(3000, 64, 'f16', 1);
  assert.equal(Object.keys(table.search!).sort(), [key, halfKey].sort());
  const entry = table.search![key]!;
  assert.equal(Object.keys(entry.ms).sort(), [...SEARCH_TILINGS.map(String), 'gemm'].sort());
  const best = Object.entries(entry.ms).sort((a, b) => a[1] - b[1])[0]![0];
  assert.equal([entry.scores, entry.tilesPerWorkgroup], best === 'gemm' ? ['gemm', defaultTilesPerWorkgroup(gpu)] : ['direct', Number(best)]);
  assert.is(searchTilingFor(gpu, 2500, 64, 'f32', 1), entry.tilesPerWorkgroup);
  assert.is(searchScoresFor(gpu, 2500, 64, 'f32', 1), entry.scores);
  // f16 galleries, 4-query blocks and other sizes are their own classes.
  assert.is(searchTilingFor(gpu, 3000, 64, 'f16', 1), table.search![halfKey]!.tilesPerWorkgroup);
  assert.is(searchTilingFor(gpu, 3000, 64, 'f32', 3), defaultTilesPerWorkgroup(gpu));
  assert.is(searchTilingFor(gpu, 20000, 64, 'f32', 1), defaultTilesPerWorkgroup(gpu));
  const { gallery, query, expected } = searchCase(3000, 64, 21);
  const result = await searchTopK(gpu.upload(query, [1, 64]), uploadGalleryChunks(gpu, gallery, 3000, 64), { k: 5, scale: 39.7 });
  assert.equal([...result.indices], [...expected.indices]);
  assertClose(result.logits, expected.logits, 1e-5, 1e-5, 'logits');
  clearRowsAndSearch(gpu);
});

test('a stored table\'s row strategies and search tilings are used after a restart, and compute the references', async () => {
  const gpu = await testGpu();
  const folder = freshFolder();
  const other = rowStrategies(gpu).find((s) => s !== defaultRowStrategy(gpu))!;
  const tiles = defaultTilesPerWorkgroup(gpu) === 1 ? 2 : 1;
  const rowKey = rowShapeKey('layerNorm', 7, 200);
  const searchKey = searchShapeKey(1500, 32, 'f32', 1);
  // Eight queries' search: the GEMM's scores where the default is the tile kernel's, and the other way round.
  const batchKey = searchShapeKey(1500, 32, 'f32', 8);
  const batchScores = searchScoresFor(gpu, 1500, 32, 'f32', 8) === 'gemm' ? 'direct' : 'gemm';
  const table: TuningTable = {
    format: TUNING_FORMAT, ...tuningIdentity(gpu), gemm: {},
    rows: { [rowKey]: { strategy: other, ms: {} } },
    search: { [searchKey]: { tilesPerWorkgroup: tiles, ms: {} }, [batchKey]: { tilesPerWorkgroup: 2, scores: batchScores, ms: {} } },
  };
  await saveTuningTable(gpu, table, { cacheDir: folder });
  clearRowsAndSearch(gpu); // what a new process starts with
  assert.is(rowStrategyRun(gpu, 'layerNorm', 7, 200), defaultRowStrategy(gpu));
  assert.is(searchTilingFor(gpu, 1500, 32, 'f32', 1), defaultTilesPerWorkgroup(gpu));
  const logs: string[] = [];
  assert.ok(await loadTuningTable(gpu, { cacheDir: folder, log: (m) => logs.push(m) }));
  assert.equal(logs, []);
  assert.is(rowStrategyRun(gpu, 'layerNorm', 7, 200), other);
  assert.is(searchTilingFor(gpu, 1500, 32, 'f32', 1), tiles);
  assert.is(searchScoresFor(gpu, 1500, 32, 'f32', 1), 'direct');
  assert.is(searchScoresFor(gpu, 1500, 32, 'f32', 8), batchScores);

  const x = randomArray(7 * 200, 31, 3).map((v) => v + 50);
  const gamma = randomArray(200, 32);
  const beta = randomArray(200, 33);
  const out = await layerNorm(gpu.upload(x, [7, 200]), gpu.upload(gamma, [200]), gpu.upload(beta, [200])).read();
  assertClose(out, layerNormReference(x, 200, gamma, beta), 1e-4, 1e-5, `layerNorm [${other}]`);
  const { gallery, query, expected } = searchCase(1500, 32, 34);
  const result = await searchTopK(gpu.upload(query, [1, 32]), uploadGalleryChunks(gpu, gallery, 1500, 32), { k: 5, scale: 39.7 });
  assert.equal([...result.indices], [...expected.indices]);
  assertClose(result.probabilities, expected.probabilities, 1e-4, 1e-6, `search ${tiles} tiles/workgroup`);
  const batch = normalizeRows(randomArray(8 * 32, 35), 32);
  const batchResult = await searchTopK(gpu.upload(batch, [8, 32]), uploadGalleryChunks(gpu, gallery, 1500, 32), { k: 5, scale: 39.7 });
  const batchExpected = searchTopKReference(batch, gallery, 32, { k: 5, scale: 39.7 });
  assert.equal([...batchResult.indices], [...batchExpected.indices]);
  assertClose(batchResult.probabilities, batchExpected.probabilities, 1e-4, 1e-6, `8 queries, scores ${batchScores}`);
  clearRowsAndSearch(gpu);
});

test('a table naming a row strategy this adapter lacks, or a tiling below 1, is ignored whole with one log line', async () => {
  const gpu = await testGpu();
  const rowKey = rowShapeKey('softmax', 3, 40);
  const searchKey = searchShapeKey(1500, 32, 'f32', 1);
  const good: TuningTable = {
    format: TUNING_FORMAT, ...tuningIdentity(gpu), gemm: {},
    rows: { [rowKey]: { strategy: rowStrategies(gpu).find((s) => s !== defaultRowStrategy(gpu))!, ms: {} } },
    search: { [searchKey]: { tilesPerWorkgroup: 3, ms: {} } },
  };
  const badRows = ['fastest', 'warp', ...(rowStrategies(gpu).includes('subgroup') ? [] : ['subgroup'])];
  const cases: [string, unknown, RegExp][] = [
    ...badRows.map((strategy): [string, unknown, RegExp] => [`strategy ${strategy}`, { ...good, rows: { [rowKey]: { strategy, ms: {} } } }, /rows entry .* names no row strategy this adapter runs/]),
    ...[0, -4, 1.5, '4', null].map((tiles): [string, unknown, RegExp] => [`tiling ${tiles}`, { ...good, search: { [searchKey]: { tilesPerWorkgroup: tiles, ms: {} } } }, /search entry .* names no tiling/]),
    ...['GEMM', 'tiles', 7].map((scores): [string, unknown, RegExp] => [`scores ${scores}`, { ...good, search: { [searchKey]: { tilesPerWorkgroup: 3, scores, ms: {} } } }, /search entry .*: scores must be 'direct' or 'gemm'/]),
    ['rows not an object', { ...good, rows: 7 }, /rows section is not an object/],
  ];
  for (const [what, bad, pattern] of cases) {
    const store = fileTuningStore(freshFolder());
    await store.write(tuningIdentity(gpu), JSON.stringify(bad));
    clearRowsAndSearch(gpu);
    const logs: string[] = [];
    assert.is(await loadTuningTable(gpu, { store, log: (m) => logs.push(m) }), null, what);
    assert.is(logs.length, 1, `${what}: ${logs.join(' | ')}`);
    assert.match(logs[0]!, pattern, what);
    assert.match(logs[0]!, /ignored.*using the defaults/, what);
    // Ignored whole: the good entries beside the bad one are not used either.
    assert.is(rowStrategyRun(gpu, 'softmax', 3, 40), defaultRowStrategy(gpu), what);
    assert.is(searchTilingFor(gpu, 1500, 32, 'f32', 1), defaultTilesPerWorkgroup(gpu), what);
  }
  // The good table itself loads (so the cases above fail for their one bad entry).
  const store = fileTuningStore(freshFolder());
  await store.write(tuningIdentity(gpu), JSON.stringify(good));
  assert.ok(await loadTuningTable(gpu, { store }));
  assert.is(searchTilingFor(gpu, 1500, 32, 'f32', 1), 3);
  clearRowsAndSearch(gpu);
});

test('prepareTuning times the row and search shapes a stored table lacks, and only those', async () => {
  const gpu = await testGpu();
  const folder = freshFolder();
  clearRowsAndSearch(gpu);
  const rowShapes = [{ op: 'softmax' as const, rows: 2, cols: 500 }];
  const searchShapes = [{ rows: 1200, dim: 32, dtype: 'f32' as const, queries: 1 }];
  const tuned = await prepareTuning(gpu, { cacheDir: folder, rowShapes, searchShapes, tune: { repeats: 1 } });
  const rowKey = rowShapeKey('softmax', 2, 500);
  const searchKey = searchShapeKey(1200, 32, 'f32', 1);
  assert.ok(tuned?.rows?.[rowKey] && tuned.search?.[searchKey]);
  // Stored: a new process reads it back; a second prepare finds nothing missing and times nothing.
  clearRowsAndSearch(gpu);
  const again = await prepareTuning(gpu, { cacheDir: folder, rowShapes, searchShapes, tune: { repeats: 1 } });
  assert.equal(again?.rows, tuned!.rows);
  assert.equal(again?.search, tuned!.search);
  assert.is(rowStrategyRun(gpu, 'softmax', 2, 500), tuned!.rows![rowKey]!.strategy);
  clearRowsAndSearch(gpu);
});

test('a model\'s row-kernel, search and location-encoder shapes: ViT-B/32 layer norms, GeoCLIP\'s l2Normalize, a 100,000-row gallery', () => {
  const b32 = { hidden_size: 768, image_size: 224, patch_size: 32 };
  assert.equal(clipVisionRowShapes(b32, [1, 8]), [
    { op: 'layerNorm', rows: 50, cols: 768 }, { op: 'layerNorm', rows: 1, cols: 768 },
    { op: 'layerNorm', rows: 400, cols: 768 }, { op: 'layerNorm', rows: 8, cols: 768 },
  ]);
  assert.equal(clipVisionRowShapes({ hidden_size: 1024, image_size: 224, patch_size: 14 })[0], { op: 'layerNorm', rows: 257, cols: 1024 });
  assert.equal(geoclipRowShapes([1]), [{ op: 'l2Normalize', rows: 1, cols: 512 }, { op: 'l2Normalize', rows: 2048, cols: 512 }]);
  // The released location encoder, 2048 gallery points at a time: 512 Fourier features → 1024 → 1024 → 1024 → 512.
  assert.equal(geoclipLocationGemmShapes('f16'), [
    { rows: 2048, k: 512, n: 1024, dtype: 'f16' }, { rows: 2048, k: 1024, n: 1024, dtype: 'f16' }, { rows: 2048, k: 1024, n: 512, dtype: 'f16' },
  ]);
  assert.equal(geoclipSearchShapes(), [{ rows: 100000, dim: 512, dtype: 'f32', queries: 1 }, { rows: 100000, dim: 512, dtype: 'f16', queries: 1 }]);
});

test.run();

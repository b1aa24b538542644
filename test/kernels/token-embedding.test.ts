import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gatherRows, tokenEmbedding, tokenEmbeddingReference } from '../../src/kernels/token-embedding.js';
import { floatsToHalves, halvesToFloats, ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray, seededRandom } from '../support/numeric.js';

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  const next = seededRandom(seed);
  return Int32Array.from({ length: n }, () => Math.floor(next() * vocab));
}

test('token + position embedding matches the reference exactly, f32 table, batch 3 × seq 7 of 9 positions', async () => {
  const gpu = await testGpu();
  const [vocab, dim, batch, seq] = [1000, 20, 3, 7];
  const table = randomArray(vocab * dim, 1);
  const positions = randomArray(9 * dim, 2);
  const ids = randomIds(batch * seq, vocab, 3);
  ids[0] = 0;
  ids[1] = vocab - 1;
  const out = tokenEmbedding(gpu.upload(ids, [batch, seq]), gpu.upload(table, [vocab, dim]), gpu.upload(positions, [9, dim]));
  assert.equal(out.shape, [batch, seq, dim]);
  assertClose(await out.read(), tokenEmbeddingReference(ids, table, dim, { values: positions, seq }), 0, 0, 'tokenEmbedding');
});

test('f16 table (packed) reads the same halves the reference widens, odd row counts included', async () => {
  const gpu = await testGpu();
  const [vocab, dim, rows] = [333, 6, 5];
  const halves = floatsToHalves(randomArray(vocab * dim, 4));
  const positions = randomArray(rows * dim, 5);
  const ids = randomIds(rows, vocab, 6);
  const out = tokenEmbedding(gpu.upload(ids, [rows]), gpu.upload(halves, [vocab, dim], 'f16'), gpu.upload(positions, [rows, dim]));
  assertClose(await out.read(), tokenEmbeddingReference(ids, halvesToFloats(halves), dim, { values: positions, seq: rows }), 0, 0, 'f16 table');
});

test('gatherRows picks rows; out-of-range ids give NaN rows instead of another row', async () => {
  const gpu = await testGpu();
  const [rows, dim] = [10, 4];
  const table = randomArray(rows * dim, 7);
  const indices = new Int32Array([9, 0, 3, 10, -1]);
  const out = gatherRows(gpu.upload(table, [rows, dim]), gpu.upload(indices, [5]));
  assert.equal(out.shape, [5, dim]);
  const got = await out.read();
  assertClose(got, tokenEmbeddingReference(indices, table, dim), 0, 0, 'gatherRows');
  assert.ok(got.subarray(12).every(Number.isNaN));
});

test('shape errors name the operands', async () => {
  const gpu = await testGpu();
  const table = gpu.upload(new Float32Array(12), [4, 3]);
  const ids = gpu.upload(new Int32Array(5), [5]);
  assert.throws(() => tokenEmbedding(ids, table, gpu.upload(new Float32Array(12), [4, 3])), (e: Error) => e instanceof ShapeError && /\[≥5, 3\]/.test(e.message));
  assert.throws(() => gatherRows(table, gpu.upload(new Float32Array(2), [2])), (e: Error) => e instanceof ShapeError && /ids must be i32/.test(e.message));
  assert.throws(() => gatherRows(gpu.upload(new Uint16Array(12), [4, 3], 'f16'), ids), (e: Error) => e instanceof ShapeError && /even row length/.test(e.message));
});

test.run();

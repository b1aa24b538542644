import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SearchReference, searchTopK, searchTopKReference, uploadGalleryChunks, type SearchResult } from '../../src/kernels/search.js';
import { floatToHalf, type Gpu, type Tensor } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray, normalizeRows } from '../support/numeric.js';

// GeoCLIP's gallery size and scale: 100k GPS embeddings of 512, exp(logit_scale) ≈ 39.7.
const DIM = 512;
const SCALE = 39.7;

function assertSameResult(actual: SearchResult, expected: SearchResult, label: string): void {
  assert.equal(Array.from(actual.indices), Array.from(expected.indices), `${label}: indices`);
  assertClose(actual.logits, expected.logits, 0, 1e-5, `${label}: logits`);
  assertClose(actual.logSumExp, expected.logSumExp, 1e-5, 0, `${label}: logSumExp`);
  const logitError = Math.max(...actual.logits.map((v, i) => Math.abs(v - expected.logits[i]!)));
  const lseError = Math.max(...actual.logSumExp.map((v, i) => Math.abs(v - expected.logSumExp[i]!) / Math.abs(expected.logSumExp[i]!)));
  console.log(`  search ${label}: max |logit error| ${logitError.toExponential(2)}, max logSumExp relative error ${lseError.toExponential(2)}`);
}

/** Σ over every gallery row of softmax probability: GPU top-k probabilities plus the rest on the CPU. */
function totalProbability(result: SearchResult, queries: Float32Array, gallery: Float32Array, q: number): number {
  const k = result.k;
  const inTop = new Set(Array.from(result.indices.subarray(q * k, (q + 1) * k)));
  let total = 0;
  for (let j = 0; j < k; j++) total += result.probabilities[q * k + j]!;
  const lse = result.logSumExp[q]!;
  for (let row = 0; row < gallery.length / DIM; row++) {
    if (inTop.has(row)) continue;
    let dot = 0;
    for (let d = 0; d < DIM; d++) dot += queries[q * DIM + d]! * gallery[row * DIM + d]!;
    total += Math.exp(SCALE * dot - lse);
  }
  return total;
}

/** The most bytes one storage binding holds on this adapter (lavapipe and WebGPU's default: 128 MiB). */
function bindingBytes(gpu: Gpu): number {
  return Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
}

test('100k x 512 gallery, 4 queries, k = 5 (one tensor where it binds) and k = 50 (three chunks): indices, logits, logSumExp, probabilities sum to 1', async () => {
  const gpu = await testGpu();
  const rows = 100_000;
  const gallery = normalizeRows(randomArray(rows * DIM, 101), DIM);
  // Three queries near gallery rows (peaked softmax, like a real photo), one unrelated (flat softmax).
  const queries = randomArray(4 * DIM, 102);
  [17, 54_321, 99_999].forEach((row, q) => {
    for (let d = 0; d < DIM; d++) queries[q * DIM + d] = gallery[row * DIM + d]! + 0.05 * queries[q * DIM + d]!;
  });
  normalizeRows(queries, DIM);
  const q = gpu.upload(queries, [4, DIM]);

  // 205 MB of f32: one tensor where the adapter binds that much (SwiftShader: 1 GiB), else the fewest
  // chunks its binding limit allows (lavapipe: two of 128 MiB at most).
  const whole = rows * DIM * 4 <= bindingBytes(gpu) ? [gpu.upload(gallery, [rows, DIM])] : uploadGalleryChunks(gpu, gallery, rows, DIM);
  assert.ok(whole.every((t) => t.byteLength <= bindingBytes(gpu)));
  const top5 = await searchTopK(q, whole.length === 1 ? whole[0]! : whole, { k: 5, scale: SCALE });
  assertSameResult(top5, searchTopKReference(queries, gallery, DIM, { k: 5, scale: SCALE }), `k=5, ${whole.length} tensor(s)`);
  assert.equal([top5.indices[0], top5.indices[5], top5.indices[10]], [17, 54_321, 99_999]);
  for (const t of whole) t.release();

  const chunks = uploadGalleryChunks(gpu, gallery, rows, DIM, 40_000);
  assert.equal(chunks.map((c) => c.shape[0]), [40_000, 40_000, 20_000]);
  const top50 = await searchTopK(q, chunks, { k: 50, scale: SCALE });
  assertSameResult(top50, searchTopKReference(queries, gallery, DIM, { k: 50, scale: SCALE }), 'k=50');
  for (const chunk of chunks) chunk.release();

  for (let i = 0; i < 4; i++) {
    const total = totalProbability(top50, queries, gallery, i);
    assert.ok(Math.abs(total - 1) <= 1e-5, `query ${i}: probabilities sum to ${total}`);
    console.log(`  search k=50 query ${i}: probabilities over all rows sum to 1 ${total >= 1 ? '+' : '-'} ${Math.abs(total - 1).toExponential(2)}`);
  }
  gpu.pool.trim();
});

/**
 * Gallery values are multiples of 2^-15 below 2^-4 in magnitude, exact in f16, so the GPU reads packed f16
 * while the reference sees the very same numbers as f32. A multiply-xorshift makes 768M of them in seconds.
 */
function halfExactTable(): { halves: Uint16Array; floats: Float32Array } {
  const halves = new Uint16Array(4096);
  const floats = new Float32Array(4096);
  for (let i = 0; i < 4096; i++) {
    floats[i] = (i - 2048) / 32768;
    halves[i] = floatToHalf(floats[i]!);
  }
  return { halves, floats };
}

async function uploadGeneratedChunk(gpu: Gpu, firstRow: number, rows: number, planted: Map<number, Float32Array>, reference: SearchReference): Promise<Tensor> {
  const { halves, floats } = halfExactTable();
  const chunk = gpu.empty([rows, DIM], 'f16', 'search.gallery');
  const blockRows = 20_000;
  const blockHalves = new Uint16Array(blockRows * DIM);
  const blockFloats = new Float32Array(blockRows * DIM);
  for (let start = 0; start < rows; start += blockRows) {
    const n = Math.min(blockRows, rows - start);
    let state = Math.imul(firstRow + start + 1, 0x9e3779b1) | 1;
    for (let i = 0; i < n * DIM; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const index = (state >>> 20) & 4095;
      blockHalves[i] = halves[index]!;
      blockFloats[i] = floats[index]!;
    }
    for (const [row, values] of planted) {
      const local = row - firstRow - start;
      if (local < 0 || local >= n) continue;
      for (let d = 0; d < DIM; d++) {
        const index = Math.max(0, Math.min(4095, Math.round(values[d]! * 32768) + 2048));
        blockHalves[local * DIM + d] = halves[index]!;
        blockFloats[local * DIM + d] = floats[index]!;
      }
    }
    gpu.write(chunk.buffer, blockHalves.subarray(0, n * DIM), start * DIM * 2);
    reference.addRows(blockFloats.subarray(0, n * DIM));
  }
  await gpu.sync(); // lets Dawn free the upload staging before the next chunk
  return chunk;
}

test('1.5M x 512 gallery in f16 chunks (4 of 400k rows, or what one binding holds), 4 queries, k = 20: rows numbered across chunks, equal to the reference', async () => {
  const gpu = await testGpu();
  const rows = 1_500_000;
  // 400k f16 rows are 410 MB: adapters that bind less (lavapipe: 128 MiB) get more, smaller chunks.
  const rowsPerChunk = Math.min(400_000, Math.floor(bindingBytes(gpu) / (DIM * 2)));
  const queries = normalizeRows(randomArray(4 * DIM, 201), DIM);
  // Scaled copies of queries 0..2 planted in the first, a middle and the last chunk: each must come back
  // first for its query under its global row number.
  const planted = new Map<number, Float32Array>([
    [3, queries.subarray(0, DIM).map((v) => v * 0.4)],
    [777_777, queries.subarray(DIM, 2 * DIM).map((v) => v * 0.4)],
    [1_499_998, queries.subarray(2 * DIM, 3 * DIM).map((v) => v * 0.4)],
  ]);
  const options = { k: 20, scale: SCALE };
  const reference = new SearchReference(queries, DIM, options);
  const chunks: Tensor[] = [];
  for (let first = 0; first < rows; first += rowsPerChunk) {
    chunks.push(await uploadGeneratedChunk(gpu, first, Math.min(rowsPerChunk, rows - first), planted, reference));
  }
  const expectedRows = Array.from({ length: Math.ceil(rows / rowsPerChunk) }, (_, i) => Math.min(rowsPerChunk, rows - i * rowsPerChunk));
  assert.equal(chunks.map((c) => c.shape[0]), expectedRows);
  if (rowsPerChunk === 400_000) assert.equal(expectedRows, [400_000, 400_000, 400_000, 300_000]);
  const result = await searchTopK(gpu.upload(queries, [4, DIM]), chunks, options);
  for (const chunk of chunks) chunk.release();
  gpu.pool.trim();
  const expected = reference.result();
  assert.equal([result.indices[0], result.indices[20], result.indices[40]], [3, 777_777, 1_499_998]);
  assertSameResult(result, expected, '1.5M');
  assertClose(result.probabilities, expected.probabilities, 1e-5, 1e-7, '1.5M: probabilities');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  conceptProbabilities,
  conceptProbabilitiesReference,
  conceptRerank,
  conceptRerankReference,
  type ConceptSimilarity,
} from '../../src/kernels/concept.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray } from '../support/numeric.js';

function normalizedRows(rows: number, dim: number, seed: number): Float32Array {
  const x = randomArray(rows * dim, seed);
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += x[r * dim + i]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < dim; i++) x[r * dim + i]! /= norm;
  }
  return x;
}

test('concept probabilities: identity projection, more concepts than invocations', async () => {
  const gpu = await testGpu();
  const n = 5, d = 12, k = 70, tau = 0.05;
  const source = normalizedRows(n, d, 1);
  const concepts = normalizedRows(k, d, 2);
  const out = await conceptProbabilities(gpu.upload(source, [n, d]), gpu.upload(concepts, [k, d]), { tau }).read();
  assertClose(out, conceptProbabilitiesReference(source, d, concepts, tau), 2e-5, 1e-7, 'probs');
});

test('concept probabilities: gathered rows through a projection with bias, D wider than the workgroup', async () => {
  const gpu = await testGpu();
  const n = 9, d = 136, k = 7, tau = 0.1;
  const source = normalizedRows(n, d, 3);
  const concepts = normalizedRows(k, d, 4);
  const weight = randomArray(d * d, 5, 0.1);
  const bias = randomArray(d, 6, 0.05);
  const indices = [8, 0, 3, 3, 7, 1];
  const out = await conceptProbabilities(gpu.upload(source, [n, d]), gpu.upload(concepts, [k, d]), {
    tau,
    indices: gpu.upload(new Uint32Array(indices), [indices.length]),
    weight: gpu.upload(weight, [d, d]),
    bias: gpu.upload(bias, [d]),
  }).read();
  assertClose(out, conceptProbabilitiesReference(source, d, concepts, tau, indices, weight, bias), 2e-5, 1e-7, 'probs');
});

test('concept probabilities: an index past the source gives a NaN row, not a read out of bounds', async () => {
  const gpu = await testGpu();
  const d = 8, k = 3;
  const out = await conceptProbabilities(gpu.upload(normalizedRows(2, d, 7), [2, d]), gpu.upload(normalizedRows(k, d, 8), [k, d]), {
    tau: 0.1,
    indices: gpu.upload(new Uint32Array([1, 2]), [2]),
  }).read();
  assert.ok(out.slice(0, k).every(Number.isFinite));
  assert.ok(out.slice(k).every(Number.isNaN));
});

test('concept probabilities: shape errors name the shapes', async () => {
  const gpu = await testGpu();
  const source = gpu.upload(new Float32Array(24), [3, 8]);
  assert.throws(
    () => conceptProbabilities(source, gpu.upload(new Float32Array(12), [3, 4]), { tau: 0.1 }),
    (e: Error) => e instanceof ShapeError && /\[3, 4\]/.test(e.message) && /\[3, 8\]/.test(e.message),
  );
  assert.throws(() => conceptProbabilities(source, gpu.upload(new Float32Array(16), [2, 8]), { tau: 0 }), /tau/);
  assert.throws(
    () => conceptProbabilities(source, gpu.upload(new Float32Array(16), [2, 8]), { tau: 1, weight: gpu.upload(new Float32Array(16), [2, 8]) }),
    (e: Error) => e instanceof ShapeError && /\[8, 8\]/.test(e.message),
  );
});

for (const similarity of ['bhattacharyya', 'cosine'] as ConceptSimilarity[]) {
  test(`concept rerank (${similarity}): scores and order match the reference, with ties and more candidates than invocations`, async () => {
    const gpu = await testGpu();
    const b = 3, d = 16, n = 400, t = 300, k = 9, lambda = 0.3;
    const query = normalizedRows(b, d, 10);
    const gallery = normalizedRows(n, d, 11);
    const candidates = new Uint32Array(b * t);
    for (let i = 0; i < candidates.length; i++) candidates[i] = (i * 7919) % n;
    // Duplicate candidates score identically: the sort must keep them in slot order.
    candidates[5] = candidates[6]!;
    const logits = randomArray((b + b * t) * k, 12, 3);
    const probs = softmaxRows(logits, k);
    const queryProbs = probs.slice(0, b * k);
    const candidateProbs = probs.slice(b * k);
    candidateProbs.copyWithin(5 * k, 6 * k, 7 * k);
    const result = conceptRerank(
      gpu.upload(query, [b, d]),
      gpu.upload(gallery, [n, d]),
      gpu.upload(candidates, [b, t]),
      gpu.upload(queryProbs, [b, k]),
      gpu.upload(candidateProbs, [b * t, k]),
      { lambda, similarity },
    );
    const expected = conceptRerankReference(query, gallery, d, candidates, t, queryProbs, candidateProbs, { lambda, similarity });
    const scores = await result.scores.read();
    const ids = new Uint32Array(await gpu.readRaw(result.ids));
    const parts = await result.parts.read();
    assertClose(scores, expected.scores, 1e-5, 1e-6, 'scores');
    assertClose(parts.subarray(0, b * t), expected.cosine, 1e-5, 1e-6, 'cosine');
    assertClose(parts.subarray(b * t), expected.similarity, 1e-5, 1e-6, 'similarity');
    // Orders agree wherever the reference's neighbouring scores are not within float noise of each other.
    for (let i = 0; i < b * t; i++) {
      const rowStart = i % t === 0;
      const close = (!rowStart && Math.abs(expected.scores[i]! - expected.scores[i - 1]!) < 1e-5) ||
        (i % t !== t - 1 && Math.abs(expected.scores[i]! - expected.scores[i + 1]!) < 1e-5);
      if (!close) assert.is(ids[i], expected.slots[i], `slot at ${i}`);
      assert.is(ids[b * t + i], candidates[Math.floor(i / t) * t + ids[i]!], `gallery row at ${i}`);
    }
    const tie = [...ids.subarray(0, t)].indexOf(5);
    assert.is(ids[tie + 1], 6, 'tied candidates keep slot order');
  });
}

test('concept rerank: a candidate past the gallery sorts last with NaN parts', async () => {
  const gpu = await testGpu();
  const d = 4, k = 2;
  const result = conceptRerank(
    gpu.upload(normalizedRows(1, d, 1), [1, d]),
    gpu.upload(normalizedRows(3, d, 2), [3, d]),
    gpu.upload(new Uint32Array([0, 99, 2]), [1, 3]),
    gpu.upload(new Float32Array([0.5, 0.5]), [1, k]),
    gpu.upload(new Float32Array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]), [3, k]),
    { lambda: 0.1, similarity: 'bhattacharyya' },
  );
  const ids = new Uint32Array(await gpu.readRaw(result.ids));
  const parts = await result.parts.read();
  assert.is(ids[2], 1);
  assert.ok(Number.isNaN(parts[1]!) && Number.isNaN(parts[4]!));
});

test('concept rerank: mismatched candidate probabilities are a ShapeError naming both shapes', async () => {
  const gpu = await testGpu();
  assert.throws(
    () =>
      conceptRerank(
        gpu.upload(new Float32Array(8), [2, 4]),
        gpu.upload(new Float32Array(12), [3, 4]),
        gpu.upload(new Uint32Array(6), [2, 3]),
        gpu.upload(new Float32Array(10), [2, 5]),
        gpu.upload(new Float32Array(25), [5, 5]),
        { lambda: 0.1, similarity: 'cosine' },
      ),
    (e: Error) => e instanceof ShapeError && /\[5, 5\]/.test(e.message) && /\[2, 3\]/.test(e.message),
  );
});

function softmaxRows(x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / k; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, x[r * k + c]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(x[r * k + c]! - max);
    for (let c = 0; c < k; c++) out[r * k + c] = Math.exp(x[r * k + c]! - max) / sum;
  }
  return out;
}

test.run();

import projectSource from '../../shaders/concept-project.wgsl';
import rerankSource from '../../shaders/concept-rerank.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';
import { conceptMatmul } from './concept-train.js';

/** How two concept distributions are compared when re-ranking. */
export type ConceptSimilarity = 'bhattacharyya' | 'cosine';

export interface ConceptProbabilityOptions {
  /** Softmax temperature τ over the concept scores. */
  tau: number;
  /** Rows of `source` to score ([R] u32 or i32); without it every row is scored. */
  indices?: Tensor;
  /** [K] offsets added to the concept scores before 1/τ (a folded projection bias); zeros when absent. */
  conceptBias?: Tensor;
  /**
   * Projection P as an nn.Linear weight [D, D] (and bias [D]), folded into the concepts for this call.
   * Callers that score many batches with one projection fold it once with foldConceptProjection.
   */
  weight?: Tensor;
  bias?: Tensor;
}

const PROJECT_WORKGROUP = 64;
const PROJECT_ROWS = 4;

/**
 * Concept distributions of embedding rows, in one fused dispatch:
 * probs[r] = softmax((source[indices[r]] · conceptsᵀ + conceptBias) / τ), or with a projection P(z) = W·z + b,
 * softmax((P(source[indices[r]]) · conceptsᵀ) / τ). source [N, D], concepts [K, D] → [R, K]
 * (R = N, or the number of indices).
 */
export function conceptProbabilities(source: Tensor, concepts: Tensor, options: ConceptProbabilityOptions): Tensor {
  const gpu = source.gpu;
  const [n, d] = matrixShape('conceptProbabilities', 'source', source);
  const [k, dc] = matrixShape('conceptProbabilities', 'concepts', concepts);
  if (dc !== d) throw new ShapeError(`conceptProbabilities: concepts ${formatShape(concepts.shape)} and source ${formatShape(source.shape)} differ in embedding width`);
  if (d % 4 !== 0) throw new ShapeError(`conceptProbabilities: embedding width ${d} of source ${formatShape(source.shape)} must be a multiple of 4`);
  checkTau('conceptProbabilities', options.tau);
  const { indices } = options;
  if (indices && indices.dtype !== 'u32' && indices.dtype !== 'i32') {
    throw new ShapeError(`conceptProbabilities: indices must be u32 or i32, got ${indices}`);
  }
  if (options.conceptBias && (options.weight || options.bias)) {
    throw new ShapeError('conceptProbabilities: give either a projection (weight, bias) or a folded conceptBias, not both');
  }
  let folded: FoldedConcepts | null = null;
  if (options.weight || options.bias) folded = foldConceptProjection(concepts, options.weight, options.bias);
  const conceptBias = folded?.bias ?? options.conceptBias;
  if (conceptBias && (conceptBias.size !== k || conceptBias.dtype !== 'f32')) {
    throw new ShapeError(`conceptProbabilities: conceptBias ${conceptBias} must be f32 [${k}] for concepts ${formatShape(concepts.shape)}`);
  }
  const rows = indices ? indices.size : n;
  const out = gpu.empty([rows, k], 'f32', 'concept.probs');
  const zeros = conceptBias ? null : gpu.upload(new Float32Array(k), [k], 'f32', 'concept.zeroBias');
  const uniforms = new Uint32Array(8);
  uniforms.set([rows, d, k, n]);
  new Float32Array(uniforms.buffer)[4] = 1 / options.tau;
  gpu.dispatch({
    label: 'concept-project',
    code: projectSource,
    constants: { WORKGROUP_SIZE: PROJECT_WORKGROUP, GATHER: indices ? 1 : 0 },
    uniforms,
    buffers: [source, indices ?? concepts, folded?.concepts ?? concepts, conceptBias ?? zeros!, out],
    workgroups: linearWorkgroups(Math.ceil(rows / PROJECT_ROWS), PROJECT_WORKGROUP),
  });
  zeros?.release();
  folded?.concepts.release();
  folded?.bias.release();
  return out;
}

export interface FoldedConcepts {
  /** [K, D] C·W. */
  concepts: Tensor;
  /** [K] C·b (zeros without a bias). */
  bias: Tensor;
}

/**
 * Folds a projection P(z) = W·z + b into the concept matrix: (W·z + b)·c_k = z·(C·W)_k + (C·b)_k.
 * concepts [K, D], weight [D, D] (nn.Linear layout; identity when absent), bias [D].
 */
export function foldConceptProjection(concepts: Tensor, weight?: Tensor, bias?: Tensor): FoldedConcepts {
  const gpu = concepts.gpu;
  const [k, d] = matrixShape('foldConceptProjection', 'concepts', concepts);
  if (weight && (weight.rank !== 2 || weight.shape[0] !== d || weight.shape[1] !== d || weight.dtype !== 'f32')) {
    throw new ShapeError(`foldConceptProjection: weight ${weight} must be f32 [${d}, ${d}] for concepts ${formatShape(concepts.shape)}`);
  }
  if (bias && (bias.size !== d || bias.dtype !== 'f32')) {
    throw new ShapeError(`foldConceptProjection: bias ${bias} must be f32 [${d}] for concepts ${formatShape(concepts.shape)}`);
  }
  const folded = weight ? conceptMatmul(concepts, weight) : null;
  const foldedBias = bias ? conceptMatmul(concepts, bias.reshape([d, 1])).reshape([k]) : gpu.upload(new Float32Array(k), [k], 'f32', 'concept.zeroBias');
  if (folded) return { concepts: folded, bias: foldedBias };
  // Without a weight the concepts pass through; copy them so the caller owns what it releases.
  const copy = gpu.empty([k, d], 'f32', 'concept.folded');
  gpu.copy(concepts.buffer, 0, copy.buffer, 0, concepts.byteLength);
  return { concepts: copy, bias: foldedBias };
}

/** Plain-TS conceptProbabilities, in f64. weight/bias null for the identity projection. */
export function conceptProbabilitiesReference(
  source: Float32Array,
  dim: number,
  concepts: Float32Array,
  tau: number,
  indices: ArrayLike<number> | null = null,
  weight: Float32Array | null = null,
  bias: Float32Array | null = null,
): Float32Array {
  const k = concepts.length / dim;
  const n = source.length / dim;
  const rows = indices ? indices.length : n;
  const out = new Float32Array(rows * k);
  const u = new Float64Array(dim);
  const logits = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    const row = indices ? indices[r]! : r;
    if (row >= n) {
      out.fill(NaN, r * k, (r + 1) * k);
      continue;
    }
    for (let i = 0; i < dim; i++) {
      if (!weight) {
        u[i] = source[row * dim + i]!;
        continue;
      }
      let acc = bias ? bias[i]! : 0;
      for (let e = 0; e < dim; e++) acc += weight[i * dim + e]! * source[row * dim + e]!;
      u[i] = acc;
    }
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      let acc = 0;
      for (let e = 0; e < dim; e++) acc += u[e]! * concepts[c * dim + e]!;
      logits[c] = acc / tau;
      max = Math.max(max, logits[c]!);
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[c]! - max);
    for (let c = 0; c < k; c++) out[r * k + c] = Math.exp(logits[c]! - max) / sum;
  }
  return out;
}

export interface ConceptRerankOptions {
  /** Weight λ of the concept similarity in score = cos + λ·sim. */
  lambda: number;
  similarity: ConceptSimilarity;
  /**
   * candidateProbs holds one row per gallery row ([N, K], computed once per gallery) instead of one per
   * candidate ([B·T, K]).
   */
  probsByGalleryRow?: boolean;
}

export interface ConceptRerankResult {
  /** [B, T] scores, best first. */
  scores: Tensor;
  /** [2, B, T] u32: [0] the candidate's slot in the input list, [1] its gallery row, in sorted order. */
  ids: Tensor;
  /** [2, B, T] in the input candidate order: [0] cosine(image, place), [1] concept similarity. */
  parts: Tensor;
}

const RERANK_WORKGROUP = 256;
/** Scores of one query's candidates live in workgroup memory (16 KiB of the 32 KiB WebGPU guarantees). */
export const MAX_RERANK_CANDIDATES = 4096;

/**
 * Re-ranks each query's T candidates by cos(query, gallery[candidate]) + λ·sim(queryProbs, candidateProbs)
 * and sorts them, best first, on the GPU.
 * query [B, D], gallery [N, D], candidates [B, T] (u32/i32), queryProbs [B, K], candidateProbs [B·T, K]
 * (or [N, K] with probsByGalleryRow).
 */
export function conceptRerank(
  query: Tensor,
  gallery: Tensor,
  candidates: Tensor,
  queryProbs: Tensor,
  candidateProbs: Tensor,
  options: ConceptRerankOptions,
): ConceptRerankResult {
  const gpu = query.gpu;
  const [b, d] = matrixShape('conceptRerank', 'query', query);
  const [n, dg] = matrixShape('conceptRerank', 'gallery', gallery);
  if (dg !== d) throw new ShapeError(`conceptRerank: query ${formatShape(query.shape)} and gallery ${formatShape(gallery.shape)} differ in embedding width`);
  if (d % 4 !== 0) throw new ShapeError(`conceptRerank: embedding width ${d} must be a multiple of 4`);
  if (candidates.dtype !== 'u32' && candidates.dtype !== 'i32') throw new ShapeError(`conceptRerank: candidates must be u32 or i32, got ${candidates}`);
  if (candidates.rank !== 2 || candidates.shape[0] !== b) {
    throw new ShapeError(`conceptRerank: candidates ${formatShape(candidates.shape)} must be [${b}, T] for query ${formatShape(query.shape)}`);
  }
  const t = candidates.shape[1]!;
  if (t > MAX_RERANK_CANDIDATES) throw new ShapeError(`conceptRerank: ${t} candidates per query (candidates ${formatShape(candidates.shape)}); at most ${MAX_RERANK_CANDIDATES}`);
  const [bq, k] = matrixShape('conceptRerank', 'queryProbs', queryProbs);
  if (bq !== b) throw new ShapeError(`conceptRerank: queryProbs ${formatShape(queryProbs.shape)} must be [${b}, K] for query ${formatShape(query.shape)}`);
  const probRows = options.probsByGalleryRow ? n : b * t;
  if (candidateProbs.dtype !== 'f32' || candidateProbs.size !== probRows * k || candidateProbs.shape[candidateProbs.rank - 1] !== k) {
    const per = options.probsByGalleryRow ? `gallery ${formatShape(gallery.shape)}` : `candidates ${formatShape(candidates.shape)}`;
    throw new ShapeError(`conceptRerank: candidateProbs ${candidateProbs} must be f32 [${probRows}, ${k}] for ${per} and queryProbs ${formatShape(queryProbs.shape)}`);
  }
  if (!Number.isFinite(options.lambda)) throw new ShapeError(`conceptRerank: lambda must be finite, got ${options.lambda}`);
  const scores = gpu.empty([b, t], 'f32', 'concept.rerank.scores');
  const ids = gpu.empty([2, b, t], 'u32', 'concept.rerank.ids');
  const parts = gpu.empty([2, b, t], 'f32', 'concept.rerank.parts');
  const uniforms = new Uint32Array(8);
  uniforms.set([b, t, d, k, n]);
  new Float32Array(uniforms.buffer)[5] = options.lambda;
  gpu.dispatch({
    label: 'concept-rerank',
    code: rerankSource,
    constants: {
      WORKGROUP_SIZE: RERANK_WORKGROUP,
      MAX_CANDIDATES: t,
      SIMILARITY: similarityCode(options.similarity),
      PROBS_BY_ROW: options.probsByGalleryRow ? 1 : 0,
    },
    uniforms,
    buffers: [query, gallery, candidates, queryProbs, candidateProbs, scores, ids, parts],
    workgroups: linearWorkgroups(b, 1),
  });
  return { scores, ids, parts };
}

export interface ConceptRerankReference {
  scores: Float32Array;
  slots: Uint32Array;
  rows: Uint32Array;
  cosine: Float32Array;
  similarity: Float32Array;
}

/** Plain-TS conceptRerank, in f64; the sort is stable (ties keep candidate order). */
export function conceptRerankReference(
  query: Float32Array,
  gallery: Float32Array,
  dim: number,
  candidates: ArrayLike<number>,
  candidateCount: number,
  queryProbs: Float32Array,
  candidateProbs: Float32Array,
  options: ConceptRerankOptions,
): ConceptRerankReference {
  const b = query.length / dim;
  const k = queryProbs.length / b;
  const t = candidateCount;
  const n = gallery.length / dim;
  const out: ConceptRerankReference = {
    scores: new Float32Array(b * t),
    slots: new Uint32Array(b * t),
    rows: new Uint32Array(b * t),
    cosine: new Float32Array(b * t),
    similarity: new Float32Array(b * t),
  };
  for (let q = 0; q < b; q++) {
    const p = queryProbs.subarray(q * k, (q + 1) * k);
    const scored: { slot: number; score: number }[] = [];
    for (let s = 0; s < t; s++) {
      const g = candidates[q * t + s]!;
      if (g >= n) {
        out.cosine[q * t + s] = NaN;
        out.similarity[q * t + s] = NaN;
        scored.push({ slot: s, score: -3e38 });
        continue;
      }
      const cosine = cosineSimilarity(query.subarray(q * dim, (q + 1) * dim), gallery.subarray(g * dim, (g + 1) * dim));
      const row = options.probsByGalleryRow ? g : q * t + s;
      const sim = distributionSimilarity(p, candidateProbs.subarray(row * k, (row + 1) * k), options.similarity);
      out.cosine[q * t + s] = cosine;
      out.similarity[q * t + s] = sim;
      scored.push({ slot: s, score: Math.fround(cosine + options.lambda * sim) });
    }
    scored.sort((x, y) => y.score - x.score || x.slot - y.slot);
    scored.forEach(({ slot, score }, rank) => {
      out.scores[q * t + rank] = score;
      out.slots[q * t + rank] = slot;
      out.rows[q * t + rank] = candidates[q * t + slot]!;
    });
  }
  return out;
}

export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Bhattacharyya coefficient Σ√(p·q), or the cosine of the two distributions. */
export function distributionSimilarity(p: ArrayLike<number>, q: ArrayLike<number>, similarity: ConceptSimilarity): number {
  if (similarity === 'cosine') return cosineSimilarity(p, q);
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += Math.sqrt(p[i]! * q[i]!);
  return sum;
}

function similarityCode(similarity: ConceptSimilarity): number {
  if (similarity === 'bhattacharyya') return 0;
  if (similarity === 'cosine') return 1;
  throw new ShapeError(`unknown concept similarity '${similarity as string}' (expected 'bhattacharyya' or 'cosine')`);
}

function matrixShape(op: string, name: string, t: Tensor): [number, number] {
  if (t.rank !== 2 || t.dtype !== 'f32') throw new ShapeError(`${op}: ${name} must be an f32 matrix, got ${t}`);
  return [t.shape[0]!, t.shape[1]!];
}

function checkTau(op: string, tau: number): void {
  if (!(tau > 0) || !Number.isFinite(tau)) throw new ShapeError(`${op}: temperature tau must be a positive number, got ${tau}`);
}

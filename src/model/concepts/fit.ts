import { dispatchConceptMatmul, dispatchConceptTrain, MAX_TRAIN_BATCH, type TrainParams } from '../../kernels/concept-train.js';
import { formatShape, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { openWeights } from '../../weights/index.js';
import type { ConceptBank } from './bank.js';
import { DEFAULT_CONCEPT_OPTIONS, type ConceptParams } from './module.js';

/**
 * Fits the concept module's projections P_img, P_loc (and optionally a residual Δ on the concept vectors)
 * on cached (image embedding, GPS embedding) pairs, entirely on the GPU. Per batch of B pairs:
 *
 *   S = softmax((X·W_imgᵀ + b_img)·(C + Δ)ᵀ / τ)     T = softmax((Y·W_locᵀ + b_loc)·(C + Δ)ᵀ / τ)
 *   BC_ij = Σ_k √(S_ik T_jk)                                    (concept-space similarity of image i, place j)
 *   loss = ½·CE_rows(BC/τc) + ½·CE_cols(BC/τc)                 (symmetric InfoNCE, matches on the diagonal)
 *        + μ · mean_i Σ_k (S_ik − T_ik)(log S_ik − log T_ik)   (symmetric KL between paired distributions)
 *
 * Forward and backward are WGSL kernels (concept-matmul.wgsl, concept-train.wgsl) with hand-derived
 * gradients (docs/CONCEPTS.md); every reduction has a fixed order, so a fit is repeatable bit for bit.
 */

export interface ConceptPairs {
  /** [N, D] image embeddings (GeoCLIP image encoder output), host or GPU. */
  images: Float32Array | Tensor;
  /** [N, D] GPS embeddings of the same photos' coordinates (GeoCLIP location encoder output). */
  locations: Float32Array | Tensor;
}

export interface FitConceptsOptions {
  bank: ConceptBank;
  /** Optimizer steps (default 200). */
  steps?: number;
  /** Pairs per step (default 256, at most 1024); the N pairs are reshuffled each epoch. */
  batchSize?: number;
  optimizer?: 'adam' | 'sgd';
  /** Learning rate (default 1e-3 for Adam, 0.1 for SGD). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** SGD momentum (default 0). */
  momentum?: number;
  /** L2 penalty added to the gradient, as torch's weight_decay (default 0). */
  weightDecay?: number;
  /** Concept softmax temperature τ (default the module's, 0.01). */
  tau?: number;
  /** Contrastive temperature τc over Bhattacharyya coefficients (default 0.07). */
  tauContrastive?: number;
  /** Weight μ of the symmetric KL term (default 0.1). */
  divergenceWeight?: number;
  /** Which parts learn (default image and location projections; Δ stays zero). */
  train?: { image?: boolean; location?: boolean; delta?: boolean };
  /** Starting point (default identity projections, zero bias, zero Δ). */
  init?: ConceptParams;
  /** Shuffle seed (default 0). */
  seed?: number;
  /** λ stored with the fitted parameters for re-ranking (default the module's, 0.1). */
  lambda?: number;
  /**
   * Called every `progressEvery` steps (default 10) and after the last, with that step's losses. Each call
   * waits for the GPU, so leave it out where throughput matters more than a progress bar.
   */
  onProgress?: (progress: { step: number; steps: number; total: number; contrastive: number; divergence: number }) => void;
  progressEvery?: number;
}

export interface ConceptFit {
  params: ConceptParams;
  losses: { total: Float32Array; contrastive: Float32Array; divergence: Float32Array };
}

export const DEFAULT_FIT = { steps: 200, batchSize: 256, tauContrastive: 0.07, divergenceWeight: 0.1 } as const;

/** Where each parameter lives in the flat buffer: [W_img | W_loc | b_img | b_loc | Δ]. */
export function conceptParamLayout(dim: number, concepts: number) {
  const weights = 0;
  const biases = 2 * dim * dim;
  const delta = biases + 2 * dim;
  return { weights, biases, delta, total: delta + concepts * dim };
}

export async function fitConcepts(gpu: Gpu, pairs: ConceptPairs, options: FitConceptsOptions): Promise<ConceptFit> {
  const { bank } = options;
  const d = bank.dim;
  const k = bank.names.length;
  const n = pairCount(pairs, d);
  const steps = options.steps ?? DEFAULT_FIT.steps;
  const batch = Math.min(options.batchSize ?? DEFAULT_FIT.batchSize, n);
  if (!Number.isInteger(steps) || steps <= 0) throw new ShapeError(`fitConcepts: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(batch) || batch < 2) throw new ShapeError(`fitConcepts: need a batch of at least 2 pairs, got ${batch} (from ${n} pairs)`);
  if (batch > MAX_TRAIN_BATCH) throw new ShapeError(`fitConcepts: batch of ${batch} pairs exceeds ${MAX_TRAIN_BATCH}`);
  const optimizer = options.optimizer ?? 'adam';
  const lr = options.lr ?? (optimizer === 'adam' ? 1e-3 : 0.1);
  const tau = options.tau ?? DEFAULT_CONCEPT_OPTIONS.tau;
  const tauC = options.tauContrastive ?? DEFAULT_FIT.tauContrastive;
  const mu = options.divergenceWeight ?? DEFAULT_FIT.divergenceWeight;
  for (const [name, v] of Object.entries({ lr, tau, tauContrastive: tauC })) {
    if (!(v > 0) || !Number.isFinite(v)) throw new ShapeError(`fitConcepts: ${name} must be a positive number, got ${v}`);
  }
  const train = { image: true, location: true, delta: false, ...options.train };
  const layout = conceptParamLayout(d, k);

  const initial = initialValues(d, k, layout, options.init);
  const values = gpu.upload(initial, [layout.total], 'f32', 'concept.fit.values');
  const zeros = new Float32Array(layout.total);
  const grads = gpu.upload(zeros, [layout.total], 'f32', 'concept.fit.grads');
  const moment1 = gpu.upload(zeros, [layout.total], 'f32', 'concept.fit.m');
  const moment2 = gpu.upload(zeros, [layout.total], 'f32', 'concept.fit.v');
  const concepts = gpu.upload(bank.vectors, [k, d], 'f32', 'concept.fit.concepts');
  const packed = packPairs(gpu, pairs, n, d);
  const order = gpu.upload(new Uint32Array(n), [n], 'u32', 'concept.fit.order');
  const b = batch;
  const tensor = (shape: number[], label: string) => gpu.empty(shape, 'f32', `concept.fit.${label}`);
  const ceff = tensor([k, d], 'ceff');
  const xy = tensor([2, b, d], 'xy');
  const uv = tensor([2, b, d], 'uv');
  const ab = tensor([2 * b, k], 'ab');
  const st = tensor([2 * b, k], 'st');
  const rq = tensor([2 * b, k], 'rq');
  const bc = tensor([b, b], 'bc');
  const g = tensor([b, b], 'g');
  const gdots = tensor([2 * b], 'gdots');
  const gqr = tensor([2 * b, k], 'gqr');
  const dab = tensor([2 * b, k], 'dab');
  const duv = tensor([2 * b, d], 'duv');
  const losses = tensor([steps, 3], 'losses');

  const sides = train.image && train.location ? { first: 0, count: 2 } : train.image ? { first: 0, count: 1 } : train.location ? { first: 1, count: 1 } : null;
  const segments: [number, number][] = [];
  if (sides) {
    segments.push([layout.weights + sides.first * d * d, sides.count * d * d]);
    segments.push([layout.biases + sides.first * d, sides.count * d]);
  }
  if (train.delta) segments.push([layout.delta, k * d]);
  if (segments.length === 0) throw new ShapeError('fitConcepts: nothing to train (train.image, train.location and train.delta are all false)');

  const perEpoch = Math.floor(n / b);
  const random = mulberry32(options.seed ?? 0);
  const base: TrainParams = { batch: b, dim: d, concepts: k };
  try {
    for (let step = 0; step < steps; step++) {
      if (step % perEpoch === 0) gpu.write(order.buffer, epochOrder(n, b, random));
      const offset = (step % perEpoch) * b;
      dispatchConceptTrain(gpu, 'gather_pairs', { ...base, count: n, offset }, [packed, order, xy], 2 * b * d);
      dispatchConceptTrain(gpu, 'add_delta', { ...base, count: k * d, offset: layout.delta }, [concepts, values, ceff], k * d);
      // Forward: U, V = X·W_imgᵀ + b_img, Y·W_locᵀ + b_loc (one batched product over the two sides).
      dispatchConceptMatmul(gpu, {
        m: b, n: d, k: d, batch: 2, a: xy, b: values, out: uv, transB: true,
        bias: values, biasOffset: layout.biases, bOffset: layout.weights, bStride: d * d, biasStride: d,
      });
      dispatchConceptMatmul(gpu, { m: 2 * b, n: k, k: d, a: uv, b: ceff, out: ab, transB: true, alpha: 1 / tau });
      dispatchConceptTrain(gpu, 'softmax_sqrt', { ...base, count: 2 * b }, [ab, st, rq], 2 * b);
      dispatchConceptMatmul(gpu, { m: b, n: b, k, a: rq, b: rq, bOffset: b * k, out: bc, transB: true });
      dispatchConceptTrain(gpu, 'pair_loss', { ...base, step, invTauC: 1 / tauC, mu }, [bc, ab, st, g, gdots, losses], 1);
      // Backward through the Bhattacharyya matrix: [G·Q; Gᵀ·R], then through both softmaxes.
      dispatchConceptMatmul(gpu, { m: b, n: k, k: b, a: g, b: rq, bOffset: b * k, out: gqr });
      dispatchConceptMatmul(gpu, { m: b, n: k, k: b, a: g, b: rq, out: gqr, outOffset: b * k, transA: true });
      dispatchConceptTrain(gpu, 'concept_grad', { ...base, mu }, [st, ab, rq, gqr, gdots, dab], b);
      dispatchConceptMatmul(gpu, { m: 2 * b, n: d, k, a: dab, b: ceff, out: duv, alpha: 1 / tau });
      if (train.delta) {
        dispatchConceptMatmul(gpu, { m: k, n: d, k: 2 * b, a: dab, b: uv, out: grads, outOffset: layout.delta, transA: true, alpha: 1 / tau });
      }
      if (sides) {
        const sideOffset = sides.first * b * d;
        dispatchConceptMatmul(gpu, {
          m: d, n: d, k: b, batch: sides.count, a: duv, b: xy, out: grads, transA: true,
          aOffset: sideOffset, bOffset: sideOffset, aStride: b * d, bStride: b * d,
          outOffset: layout.weights + sides.first * d * d, outStride: d * d,
        });
        dispatchConceptTrain(gpu, 'column_sum', { ...base, count: sides.count, offset: sides.first, outOffset: layout.biases + sides.first * d }, [duv, grads], sides.count * d);
      }
      const every = options.progressEvery ?? 10;
      if (options.onProgress && ((step + 1) % every === 0 || step === steps - 1)) {
        const [total, contrastive, divergence] = new Float32Array(await gpu.readBytes(losses.buffer, 12 * step, 12));
        options.onProgress({ step: step + 1, steps, total: total!, contrastive: contrastive!, divergence: divergence! });
      }
      for (const [offset, count] of segments) {
        if (optimizer === 'adam') {
          const beta1 = options.beta1 ?? 0.9;
          const beta2 = options.beta2 ?? 0.999;
          const t = step + 1;
          dispatchConceptTrain(gpu, 'adam', {
            count, offset, lr, beta1, beta2, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0,
            stepSize: lr / (1 - beta1 ** t), invSqrtBias2: 1 / Math.sqrt(1 - beta2 ** t),
          }, [values, grads, moment1, moment2], count);
        } else if (optimizer === 'sgd') {
          dispatchConceptTrain(gpu, 'sgd', { count, offset, step, lr, beta1: options.momentum ?? 0, weightDecay: options.weightDecay ?? 0 }, [values, grads, moment1], count);
        } else {
          throw new ShapeError(`fitConcepts: unknown optimizer '${optimizer as string}' (expected 'adam' or 'sgd')`);
        }
      }
    }
    const [fitted, lossValues] = await Promise.all([values.read(), losses.read()]);
    const pick = (offset: number, length: number) => fitted.slice(offset, offset + length);
    const column = (c: number) => Float32Array.from({ length: steps }, (_, s) => lossValues[3 * s + c]!);
    return {
      params: {
        dim: d,
        concepts: k,
        imageWeight: pick(layout.weights, d * d),
        imageBias: pick(layout.biases, d),
        locationWeight: pick(layout.weights + d * d, d * d),
        locationBias: pick(layout.biases + d, d),
        delta: train.delta || options.init?.delta ? pick(layout.delta, k * d) : null,
        options: { tau, lambda: options.lambda ?? options.init?.options?.lambda ?? DEFAULT_CONCEPT_OPTIONS.lambda, similarity: 'bhattacharyya' },
        names: [...bank.names],
      },
      losses: { total: column(0), contrastive: column(1), divergence: column(2) },
    };
  } finally {
    for (const t of [values, grads, moment1, moment2, concepts, packed, order, ceff, xy, uv, ab, st, rq, bc, g, gdots, gqr, dab, duv, losses]) t.release();
  }
}

/**
 * Cached training pairs from a safetensors (or .pth) file with tensors `images` and `locations`, both
 * [N, D]: what `geolens fit-concepts` reads.
 */
export async function loadConceptPairs(location: string | URL | Uint8Array): Promise<{ images: Float32Array; locations: Float32Array; dim: number }> {
  const source = await openWeights(location);
  try {
    const what = typeof location === 'string' ? location : location instanceof URL ? location.href : 'concept pairs';
    const [a, b] = ['images', 'locations'].map((name): readonly number[] => {
      const info = source.tensors.get(name);
      if (!info) throw new ShapeError(`${what}: no '${name}' tensor (found: ${[...source.tensors.keys()].join(', ') || 'none'})`);
      if (info.shape.length !== 2) throw new ShapeError(`${what}: '${name}' has shape ${formatShape(info.shape)}, expected [N, D]`);
      return info.shape;
    });
    if (a![0] !== b![0] || a![1] !== b![1]) throw new ShapeError(`${what}: images ${formatShape(a!)} and locations ${formatShape(b!)} differ`);
    return { images: await source.readF32('images'), locations: await source.readF32('locations'), dim: a[1]! };
  } finally {
    await source.close();
  }
}

function pairCount(pairs: ConceptPairs, d: number): number {
  const rows = (x: Float32Array | Tensor, name: string): number => {
    if (x instanceof Float32Array) {
      if (x.length % d !== 0 || x.length === 0) throw new ShapeError(`fitConcepts: ${name} has ${x.length} values, not a whole number of rows of ${d} (the bank's width)`);
      return x.length / d;
    }
    if (x.rank !== 2 || x.shape[1] !== d || x.dtype !== 'f32') throw new ShapeError(`fitConcepts: ${name} ${x} must be f32 [N, ${d}] (the bank's width)`);
    return x.shape[0]!;
  };
  const n = rows(pairs.images, 'images');
  const m = rows(pairs.locations, 'locations');
  if (n !== m) throw new ShapeError(`fitConcepts: ${n} image embeddings but ${m} location embeddings (images ${formatShape([n, d])}, locations ${formatShape([m, d])})`);
  return n;
}

function packPairs(gpu: Gpu, pairs: ConceptPairs, n: number, d: number): Tensor {
  if (pairs.images instanceof Float32Array && pairs.locations instanceof Float32Array) {
    const host = new Float32Array(2 * n * d);
    host.set(pairs.images);
    host.set(pairs.locations, n * d);
    return gpu.upload(host, [2, n, d], 'f32', 'concept.fit.pairs');
  }
  const packed = gpu.empty([2, n, d], 'f32', 'concept.fit.pairs');
  [pairs.images, pairs.locations].forEach((side, z) => {
    if (side instanceof Float32Array) gpu.write(packed.buffer, side, z * n * d * 4);
    else gpu.copy(side.buffer, 0, packed.buffer, z * n * d * 4, n * d * 4);
  });
  return packed;
}

function initialValues(d: number, k: number, layout: ReturnType<typeof conceptParamLayout>, init?: ConceptParams): Float32Array {
  const values = new Float32Array(layout.total);
  if (init && (init.dim !== d || init.concepts !== k)) {
    throw new ShapeError(`fitConcepts: init parameters are for [${init.concepts}, ${init.dim}] concepts, the bank is [${k}, ${d}]`);
  }
  const place = (data: Float32Array | null | undefined, offset: number, length: number, identity: boolean, what: string) => {
    if (data) {
      if (data.length !== length) throw new ShapeError(`fitConcepts: init ${what} has ${data.length} values, expected ${length}`);
      values.set(data, offset);
    } else if (identity) {
      for (let i = 0; i < d; i++) values[offset + i * d + i] = 1;
    }
  };
  place(init?.imageWeight, layout.weights, d * d, true, 'image weight');
  place(init?.locationWeight, layout.weights + d * d, d * d, true, 'location weight');
  place(init?.imageBias, layout.biases, d, false, 'image bias');
  place(init?.locationBias, layout.biases + d, d, false, 'location bias');
  place(init?.delta, layout.delta, k * d, false, 'delta');
  return values;
}

/** The pair order for one epoch: identity when a batch takes every pair, else a seeded shuffle. */
function epochOrder(n: number, batch: number, random: () => number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  if (batch >= n) return order;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

import matmulSource from '../../shaders/concept-matmul.wgsl';
import trainSource from '../../shaders/concept-train.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';

/**
 * Kernels of the concept module's training step (src/model/concept-fit.ts composes them). They work on
 * flat buffers with element offsets, because every parameter lives in one buffer and every gradient in
 * another, so that one optimizer dispatch updates them all.
 */

type Buffer = Tensor | GPUBuffer;

/** One batched product out[z] = alpha·op(A[z])·op(B[z]) (+ bias[z]) (+ out[z]); offsets and strides in elements. */
export interface MatmulSpec {
  m: number;
  n: number;
  k: number;
  a: Buffer;
  b: Buffer;
  out: Buffer;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  batch?: number;
  bias?: Buffer;
  accumulate?: boolean;
  aOffset?: number;
  bOffset?: number;
  outOffset?: number;
  biasOffset?: number;
  aStride?: number;
  bStride?: number;
  outStride?: number;
  biasStride?: number;
}

const TILE = 32;

export function dispatchConceptMatmul(gpu: Gpu, spec: MatmulSpec): void {
  const { m, n, k } = spec;
  const batch = spec.batch ?? 1;
  for (const [name, v] of Object.entries({ m, n, k, batch })) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`conceptMatmul: ${name} must be a positive integer, got ${v}`);
  }
  const words = new Uint32Array(16);
  const floats = new Float32Array(words.buffer);
  words.set([m, n, k, batch]);
  floats[4] = spec.alpha ?? 1;
  words[5] = (spec.bias ? 1 : 0) | (spec.accumulate ? 2 : 0);
  words.set([
    spec.aOffset ?? 0,
    spec.bOffset ?? 0,
    spec.outOffset ?? 0,
    spec.biasOffset ?? 0,
    spec.aStride ?? m * k,
    spec.bStride ?? k * n,
    spec.outStride ?? m * n,
    spec.biasStride ?? n,
  ], 6);
  // The vec4 kernel needs every size, offset and stride in whole vec4s (the 512-d shapes always are).
  const vec4 = [m, n, k, ...words.subarray(6, 14)].every((v) => v % 4 === 0);
  gpu.dispatch({
    label: vec4 ? 'concept-matmul-vec4' : 'concept-matmul',
    code: matmulSource,
    entryPoint: vec4 ? 'main_vec4' : 'main',
    constants: { TRANS_A: spec.transA ? 1 : 0, TRANS_B: spec.transB ? 1 : 0 },
    uniforms: words,
    buffers: [spec.a, spec.b, spec.bias ?? spec.b, spec.out],
    workgroups: [Math.ceil(n / TILE), Math.ceil(m / TILE), batch],
  });
}

export interface ConceptMatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** [N], added to every row. */
  bias?: Tensor;
}

/**
 * alpha·op(a)·op(b) (+ bias) for f32 matrices: a [M, K] (or [K, M] with transA), b [K, N] (or [N, K] with
 * transB) → [M, N]. The tensor-level face of the training step's product.
 */
export function conceptMatmul(a: Tensor, b: Tensor, options: ConceptMatmulOptions = {}): Tensor {
  for (const [name, t] of [['a', a], ['b', b]] as const) {
    if (t.rank !== 2 || t.dtype !== 'f32') throw new ShapeError(`conceptMatmul: ${name} must be an f32 matrix, got ${t}`);
  }
  const [m, k] = options.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = options.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (k !== kb) {
    throw new ShapeError(`conceptMatmul: inner sizes differ, a ${formatShape(a.shape)}${options.transA ? 'ᵀ' : ''} · b ${formatShape(b.shape)}${options.transB ? 'ᵀ' : ''}`);
  }
  if (options.bias && (options.bias.size !== n || options.bias.dtype !== 'f32')) {
    throw new ShapeError(`conceptMatmul: bias ${options.bias} must be f32 [${n}] for a result of [${m}, ${n}]`);
  }
  const out = a.gpu.empty([m, n], 'f32', 'concept.matmul');
  dispatchConceptMatmul(a.gpu, { m, n, k, a, b, out, transA: options.transA, transB: options.transB, alpha: options.alpha, bias: options.bias });
  return out;
}

/** Plain-TS conceptMatmul in f64. */
export function conceptMatmulReference(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  options: { transA?: boolean; transB?: boolean; alpha?: number; bias?: Float32Array } = {},
): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) {
        const av = options.transA ? a[p * m + i]! : a[i * k + p]!;
        const bv = options.transB ? b[j * k + p]! : b[p * n + j]!;
        acc += av * bv;
      }
      out[i * n + j] = (options.alpha ?? 1) * acc + (options.bias ? options.bias[j]! : 0);
    }
  }
  return out;
}

/** The fields of concept-train.wgsl's Params; unnamed ones are zero. */
export interface TrainParams {
  batch?: number;
  dim?: number;
  concepts?: number;
  count?: number;
  offset?: number;
  step?: number;
  invTauC?: number;
  mu?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  stepSize?: number;
  invSqrtBias2?: number;
  weightDecay?: number;
  outOffset?: number;
}

const FIELDS: (keyof TrainParams)[] = [
  'batch', 'dim', 'concepts', 'count', 'offset', 'step', 'invTauC', 'mu',
  'lr', 'beta1', 'beta2', 'eps', 'stepSize', 'invSqrtBias2', 'weightDecay', 'outOffset',
];
const INTEGER_FIELDS = new Set<keyof TrainParams>(['batch', 'dim', 'concepts', 'count', 'offset', 'step', 'outOffset']);

function trainUniforms(p: TrainParams): Uint32Array {
  const words = new Uint32Array(FIELDS.length);
  const floats = new Float32Array(words.buffer);
  FIELDS.forEach((field, i) => {
    const value = p[field] ?? 0;
    if (INTEGER_FIELDS.has(field)) words[i] = value;
    else floats[i] = value;
  });
  return words;
}

export type TrainEntry = 'gather_pairs' | 'softmax_sqrt' | 'pair_loss' | 'concept_grad' | 'column_sum' | 'add_delta' | 'adam' | 'sgd';

const WORKGROUP_SIZE = 64;

/**
 * Dispatches one entry point of concept-train.wgsl over `items` invocations (pair_loss always runs as a
 * single workgroup). Buffers go in the entry point's binding order (see the shader header).
 */
export function dispatchConceptTrain(gpu: Gpu, entry: TrainEntry, params: TrainParams, buffers: Buffer[], items: number): void {
  const single = entry === 'pair_loss';
  gpu.dispatch({
    label: `concept-train.${entry}`,
    code: trainSource,
    entryPoint: entry,
    constants: single ? { WORKGROUP_SIZE: 256, MAX_BATCH: params.batch ?? 1 } : { WORKGROUP_SIZE },
    uniforms: trainUniforms(params),
    buffers,
    workgroups: single ? [1] : linearWorkgroups(items, WORKGROUP_SIZE),
  });
}

/** Largest batch pair_loss holds in workgroup memory (four rows of floats). */
export const MAX_TRAIN_BATCH = 1024;


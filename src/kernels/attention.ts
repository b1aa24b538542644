import source from '../../shaders/attention.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';
import { checkF32 } from './rows.js';

// Software adapters get small workgroups: ViT-B/32's 12 heads × 13 query blocks are only 156
// invocations, and 3 workgroups of 64 cannot keep 2 cores equally busy.
const WORKGROUP_SIZE = { hardware: 64, software: 16 };
/** What attention() accepts for workgroupSize, and the tuner tries. */
export const ATTENTION_WORKGROUP_SIZES: readonly number[] = [4, 8, 16, 32, 64];

/** The workgroup size attention() uses on this adapter when no tuning table covers the shape. */
export function attentionWorkgroupSize(gpu: Gpu): number {
  return gpu.isSoftware ? WORKGROUP_SIZE.software : WORKGROUP_SIZE.hardware;
}

/** Per adapter name: shape key (attentionShapeKey) → workgroup size, from a tuning table (src/kernels/tuning.ts). */
const tunedSizes = new Map<string, ReadonlyMap<string, number>>();

/**
 * The key a tuning table files an attention shape under. Every part counts: the batch and sequence set how
 * many invocations there are to spread over the workgroups, the head dim how much each one holds.
 */
export function attentionShapeKey(batch: number, seq: number, heads: number, headDim: number, causal = false): string {
  return `b${batch} s${seq} h${heads} d${headDim}${causal ? ' causal' : ''}`;
}

/** Installs a tuning table's attention choices for this adapter (null removes them). */
export function setTunedAttentionChoices(gpu: Gpu, choices: Readonly<Record<string, number>> | null): void {
  if (choices === null) {
    tunedSizes.delete(gpu.adapterName);
    return;
  }
  for (const [key, size] of Object.entries(choices)) {
    if (!ATTENTION_WORKGROUP_SIZES.includes(size)) throw new ShapeError(`tuning: attention workgroup size ${size} for ${key} is not one of ${ATTENTION_WORKGROUP_SIZES.join(', ')}`);
  }
  tunedSizes.set(gpu.adapterName, new Map(Object.entries(choices)));
}
const MAX_HEAD_DIM = 128;

export interface AttentionOptions {
  /** Mask keys after the query (CLIP's text tower). */
  causal?: boolean;
  /** Multiplies q·k; defaults to headDim^-0.5. */
  scale?: number;
  /** Invocations per workgroup (each owns 4 queries of one head); default: the tuning table's, else per adapter (attentionWorkgroupSize). */
  workgroupSize?: number;
}

/**
 * Multi-head self-attention, fused: qkv [B, S, 3·D] holding [q | k | v] per token (head h at columns
 * h·hd .. (h+1)·hd of each part, hd = D / heads) → [B, S, D]. Head dims up to 128.
 */
export function attention(qkv: Tensor, heads: number, options: AttentionOptions = {}): Tensor {
  checkF32('attention', { qkv });
  const { batch, seq, width, headDim } = attentionShape(qkv.shape, heads);
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(scale)) throw new ShapeError(`attention: scale must be a finite number, got ${scale}`);
  const out = qkv.gpu.empty([batch, seq, width], 'f32', 'attention.out');
  const workgroupSize = options.workgroupSize ??
    tunedSizes.get(qkv.gpu.adapterName)?.get(attentionShapeKey(batch, seq, heads, headDim, options.causal)) ?? attentionWorkgroupSize(qkv.gpu);
  if (!ATTENTION_WORKGROUP_SIZES.includes(workgroupSize)) throw new ShapeError(`attention: workgroupSize must be one of ${ATTENTION_WORKGROUP_SIZES.join(', ')}; got ${workgroupSize}`);
  // One invocation per 4 queries of one head (see shaders/attention.wgsl).
  const invocations = batch * heads * Math.ceil(seq / 4);
  const params = new Uint32Array(4);
  params[0] = seq;
  params[1] = heads;
  params[2] = invocations;
  new Float32Array(params.buffer)[3] = scale * Math.LOG2E;
  qkv.gpu.dispatch({
    label: 'attention',
    code: source,
    constants: { HEAD_DIM: headDim, CAUSAL: options.causal ? 1 : 0, WORKGROUP_SIZE: workgroupSize },
    uniforms: params,
    buffers: [qkv, out],
    workgroups: linearWorkgroups(invocations, workgroupSize),
  });
  return out;
}

function attentionShape(shape: readonly number[], heads: number): { batch: number; seq: number; width: number; headDim: number } {
  if (shape.length !== 3) throw new ShapeError(`attention: qkv must be [batch, seq, 3·D], got ${formatShape(shape)}`);
  const [batch, seq, packed] = shape as [number, number, number];
  if (packed % 3 !== 0) throw new ShapeError(`attention: qkv ${formatShape(shape)} last dim ${packed} is not 3·D`);
  const width = packed / 3;
  if (!Number.isInteger(heads) || heads < 1 || width % heads !== 0) {
    throw new ShapeError(`attention: D = ${width} from qkv ${formatShape(shape)} does not split into ${heads} heads`);
  }
  const headDim = width / heads;
  if (headDim > MAX_HEAD_DIM) {
    throw new ShapeError(`attention: head dim ${headDim} (qkv ${formatShape(shape)}, ${heads} heads) exceeds ${MAX_HEAD_DIM}`);
  }
  return { batch, seq, width, headDim };
}

/**
 * Plain-TS attention in float64 with a full softmax per query row (no online rescaling), the same
 * layout as attention(): qkv [batch, seq, 3·D] → [batch, seq, D].
 */
export function attentionReference(
  qkv: Float32Array,
  batch: number,
  seq: number,
  heads: number,
  options: AttentionOptions = {},
): Float32Array {
  const width = qkv.length / (batch * seq * 3);
  const headDim = width / heads;
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  const out = new Float32Array(batch * seq * width);
  const scores = new Float64Array(seq);
  const row = (b: number, t: number) => (b * seq + t) * 3 * width;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < seq; i++) {
        const keys = options.causal ? i + 1 : seq;
        const q = row(b, i) + h * headDim;
        let largest = -Infinity;
        for (let j = 0; j < keys; j++) {
          const k = row(b, j) + width + h * headDim;
          let dot = 0;
          for (let c = 0; c < headDim; c++) dot += qkv[q + c]! * qkv[k + c]!;
          scores[j] = dot * scale;
          largest = Math.max(largest, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j < keys; j++) sum += (scores[j] = Math.exp(scores[j]! - largest));
        for (let c = 0; c < headDim; c++) {
          let value = 0;
          for (let j = 0; j < keys; j++) value += scores[j]! * qkv[row(b, j) + 2 * width + h * headDim + c]!;
          out[(b * seq + i) * width + h * headDim + c] = value / sum;
        }
      }
    }
  }
  return out;
}

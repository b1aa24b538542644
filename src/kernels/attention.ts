import source from '../../shaders/attention.wgsl';
import subgroupSource from '../../shaders/attention-subgroup64.wgsl';
import subgroupW4Source from '../../shaders/attention-subgroup64w4.wgsl';
import softmaxSource from '../../shaders/attention-softmax.wgsl';
import { adapterKind, formatShape, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';
import { checkF32 } from './rows.js';

// Software adapters get small workgroups: ViT-B/32's 12 heads × 13 query blocks are only 156
// invocations, and 3 workgroups of 64 cannot keep 2 cores equally busy.
const WORKGROUP_SIZE = { hardware: 64, software: 16 };
/** What attention() accepts for workgroupSize, and the tuner tries. */
export const ATTENTION_WORKGROUP_SIZES: readonly number[] = [4, 8, 16, 32, 64];
const MAX_HEAD_DIM = 128;

/**
 * An attention kernel: `blocks<size>` is shaders/attention.wgsl (one invocation per 4 queries, any head
 * dim) in workgroups of that size; `subgroup64` is shaders/attention-subgroup64.wgsl (head dim 64, groups of
 * 8 lanes sharing each key and value load; needs 8-lane subgroups), `subgroup64w4` the same with groups of
 * 4 (shaders/attention-subgroup64w4.wgsl; 4-lane subgroups suffice).
 */
export type AttentionKernel = `blocks${number}` | 'subgroup64' | 'subgroup64w4';

/** The subgroup kernels: lanes a workgroup (each lane owns 4 queries), and the shader. */
const SUBGROUP_KERNELS = {
  subgroup64: { lanes: 8, source: subgroupSource },
  subgroup64w4: { lanes: 4, source: subgroupW4Source },
} as const;

function isSubgroupKernel(kernel: string): kernel is keyof typeof SUBGROUP_KERNELS {
  return Object.hasOwn(SUBGROUP_KERNELS, kernel);
}

/** The workgroup size the blocks kernel uses on this adapter when neither the call nor a table names one. */
export function attentionWorkgroupSize(gpu: Gpu): number {
  return gpu.isSoftware ? WORKGROUP_SIZE.software : WORKGROUP_SIZE.hardware;
}

/** Whether a kernel runs here at this head dim (the tuner's candidates, and what a table may name). */
export function attentionKernelRuns(gpu: Gpu, kernel: string, headDim: number): kernel is AttentionKernel {
  if (isSubgroupKernel(kernel)) return headDim === 64 && gpu.subgroupsOfAtLeast(SUBGROUP_KERNELS[kernel].lanes);
  const size = /^blocks(\d+)$/.exec(kernel);
  return size !== null && ATTENTION_WORKGROUP_SIZES.includes(Number(size[1]));
}

/** Every kernel this adapter runs at this head dim, the tuner's candidates. */
export function attentionKernels(gpu: Gpu, headDim: number): AttentionKernel[] {
  const kernels: string[] = [...ATTENTION_WORKGROUP_SIZES.map((size) => `blocks${size}`), ...Object.keys(SUBGROUP_KERNELS)];
  return kernels.filter((k): k is AttentionKernel => attentionKernelRuns(gpu, k, headDim));
}

/**
 * What attention() runs with no call option and no tuning table, at head dim 64 (bench/kernels/
 * attention.bench.ts, GFLOPS against the best workgroup size of the blocks kernel): on lavapipe
 * subgroup64 (heads 16 × seq 257 16.0 / 7.6, heads 12 × seq 50 8.4 / 6.5, causal heads 8 × seq 77 8.5 /
 * 4.5), on SwiftShader subgroup64w4 (3.74 / 2.30, 2.09 / 1.30, 1.92 / 1.49); elsewhere, and at other head
 * dims, the blocks kernel at the adapter's default size.
 */
export function defaultAttentionKernel(gpu: Gpu, headDim: number): AttentionKernel {
  if (adapterKind(gpu.adapter.info) === 'lavapipe' && attentionKernelRuns(gpu, 'subgroup64', headDim)) return 'subgroup64';
  if (gpu.isSoftware && attentionKernelRuns(gpu, 'subgroup64w4', headDim)) return 'subgroup64w4';
  return `blocks${attentionWorkgroupSize(gpu)}`;
}

/** Per adapter name: shape key (attentionShapeKey) → kernel, from a tuning table (src/kernels/tuning.ts). */
const tunedKernels = new Map<string, ReadonlyMap<string, AttentionKernel>>();

/**
 * The key a tuning table files an attention shape under. Every part counts: the batch and sequence set how
 * many invocations there are to spread over the workgroups, the head dim how much each one holds.
 */
export function attentionShapeKey(batch: number, seq: number, heads: number, headDim: number, causal = false): string {
  return `b${batch} s${seq} h${heads} d${headDim}${causal ? ' causal' : ''}`;
}

/** Installs a tuning table's attention choices for this adapter (null removes them); callers check them first (attentionKernelRuns). */
export function setTunedAttentionChoices(gpu: Gpu, choices: Readonly<Record<string, AttentionKernel>> | null): void {
  if (choices === null) {
    tunedKernels.delete(gpu.adapterName);
    return;
  }
  tunedKernels.set(gpu.adapterName, new Map(Object.entries(choices)));
}

export interface AttentionOptions {
  /** Mask keys after the query (CLIP's text tower). */
  causal?: boolean;
  /** Multiplies q·k; defaults to headDim^-0.5. */
  scale?: number;
  /** The blocks kernel with this many invocations per workgroup (each owns 4 queries of one head). */
  workgroupSize?: number;
  /** Which kernel; default: the tuning table's for this shape, else defaultAttentionKernel. */
  kernel?: AttentionKernel;
}

/**
 * Multi-head self-attention, fused: qkv [B, S, 3·D] holding [q | k | v] per token (head h at columns
 * h·hd .. (h+1)·hd of each part, hd = D / heads) → [B, S, D]. Head dims up to 128.
 */
export function attention(qkv: Tensor, heads: number, options: AttentionOptions = {}): Tensor {
  checkF32('attention', { qkv });
  const gpu = qkv.gpu;
  const { batch, seq, width, headDim } = attentionShape(qkv.shape, heads);
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(scale)) throw new ShapeError(`attention: scale must be a finite number, got ${scale}`);
  if (options.workgroupSize !== undefined && !ATTENTION_WORKGROUP_SIZES.includes(options.workgroupSize)) {
    throw new ShapeError(`attention: workgroupSize must be one of ${ATTENTION_WORKGROUP_SIZES.join(', ')}; got ${options.workgroupSize}`);
  }
  if (options.kernel !== undefined && !attentionKernelRuns(gpu, options.kernel, headDim)) {
    throw new ShapeError(`attention: kernel "${options.kernel}" does not run on ${gpu.adapterName} at head dim ${headDim}; these do: ${attentionKernels(gpu, headDim).join(', ')}`);
  }
  const tuned = tunedKernels.get(gpu.adapterName)?.get(attentionShapeKey(batch, seq, heads, headDim, options.causal));
  const kernel: AttentionKernel = options.kernel ?? (options.workgroupSize !== undefined ? `blocks${options.workgroupSize}` : undefined) ??
    (tuned && attentionKernelRuns(gpu, tuned, headDim) ? tuned : defaultAttentionKernel(gpu, headDim));
  const out = gpu.empty([batch, seq, width], 'f32', 'attention.out');
  const causal = options.causal ? 1 : 0;
  if (isSubgroupKernel(kernel)) {
    // A workgroup of `lanes` per 4·lanes queries of one head (see shaders/attention-subgroup64.wgsl).
    const { lanes, source: subgroupKernel } = SUBGROUP_KERNELS[kernel];
    const blocks = batch * heads * Math.ceil(seq / (4 * lanes));
    gpu.dispatch({
      label: `attention.${kernel}`,
      code: `enable subgroups;\n${softmaxSource}${subgroupKernel}`,
      constants: { CAUSAL: causal },
      uniforms: attentionParams(seq, heads, blocks, scale),
      buffers: [qkv, out],
      workgroups: linearWorkgroups(blocks, 1),
    });
    return out;
  }
  const workgroupSize = Number(kernel.slice('blocks'.length));
  // One invocation per 4 queries of one head (see shaders/attention.wgsl).
  const invocations = batch * heads * Math.ceil(seq / 4);
  gpu.dispatch({
    label: 'attention',
    code: softmaxSource + source,
    constants: { HEAD_DIM: headDim, CAUSAL: causal, WORKGROUP_SIZE: workgroupSize },
    uniforms: attentionParams(seq, heads, invocations, scale),
    buffers: [qkv, out],
    workgroups: linearWorkgroups(invocations, workgroupSize),
  });
  return out;
}

/** Both kernels' uniforms: seq, heads, how many work items (invocations or workgroups), scale·log2(e). */
function attentionParams(seq: number, heads: number, items: number, scale: number): Uint32Array {
  const params = new Uint32Array(4);
  params[0] = seq;
  params[1] = heads;
  params[2] = items;
  new Float32Array(params.buffer)[3] = scale * Math.LOG2E;
  return params;
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

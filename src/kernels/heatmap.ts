import heatmapSource from '../../shaders/heatmap.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';

/**
 * Softmax mass per grid cell (shaders/heatmap.wgsl): every gallery row's probability
 * exp(scale · cos − logSumExp) added into the cell `rowCells[row]` names, per query, on the GPU. The caller
 * brings the log-sum-exp (searchTopK returns it) and the row → cell map (src/geo/heatmap.ts makes it for an
 * equirectangular grid); any other binning works the same.
 */
const WORKGROUP_SIZE = 64;
const FIXED_ONE = 2 ** 40;

export interface HeatmapKernelOptions {
  /** exp(logit_scale): multiplies cosines into logits, as in the search. */
  scale: number;
  /** Number of cells; rowCells values are below it. */
  cells: number;
}

/**
 * queries [Q, D] f32 (L2-normalized), gallery one [N, D] tensor or row-ordered chunks (f32 or packed f16),
 * rowCells [N] u32, logSumExp [Q] → Q arrays of `cells` masses (float64, from the exact fixed-point sums).
 */
export async function accumulateHeatmap(queries: Tensor, gallery: Tensor | readonly Tensor[], rowCells: Tensor, logSumExp: Float32Array, options: HeatmapKernelOptions): Promise<Float64Array[]> {
  const mass = dispatchHeatmap(queries, gallery, rowCells, logSumExp, options);
  try {
    const fixed = new Uint32Array(await queries.gpu.readRaw(mass));
    const { cells } = options;
    return Array.from({ length: queries.shape[0]! }, (_, q) => {
      const out = new Float64Array(cells);
      for (let c = 0; c < cells; c++) {
        const at = 2 * (q * cells + c);
        out[c] = (fixed[at + 1]! * 2 ** 32 + fixed[at]!) / FIXED_ONE;
      }
      return out;
    });
  } finally {
    mass.release();
  }
}

/** Validates and records the kernel; returns the [Q, cells, 2] u32 fixed-point sums, not yet read (the benchmark times this). */
export function dispatchHeatmap(queries: Tensor, gallery: Tensor | readonly Tensor[], rowCells: Tensor, logSumExp: Float32Array, options: HeatmapKernelOptions): Tensor {
  const chunks: readonly Tensor[] = Array.isArray(gallery) ? gallery : [gallery as Tensor];
  const gpu = queries.gpu;
  const { scale, cells } = options;
  if (queries.rank !== 2 || queries.dtype !== 'f32') throw new ShapeError(`heatmap: queries must be [Q, D] f32, got ${queries}`);
  const [queryCount, dim] = queries.shape as [number, number];
  if (chunks.length === 0) throw new ShapeError('heatmap: the gallery is empty (no chunks given)');
  let rows = 0;
  for (const chunk of chunks) {
    if (chunk.rank !== 2 || chunk.shape[1] !== dim || (chunk.dtype !== 'f32' && chunk.dtype !== 'f16')) {
      throw new ShapeError(`heatmap: gallery chunks must be [N, ${dim}] f32 or f16 like the queries ${formatShape(queries.shape)}, got ${chunk}`);
    }
    rows += chunk.shape[0]!;
  }
  if (dim % 4 !== 0 || (dim % 8 !== 0 && chunks.some((c) => c.dtype === 'f16'))) throw new ShapeError(`heatmap: D = ${dim} must be a multiple of 4 (8 for f16 galleries)`);
  if (rowCells.dtype !== 'u32' || rowCells.size !== rows) throw new ShapeError(`heatmap: rowCells must be [${rows}] u32 (one cell per gallery row), got ${rowCells}`);
  if (logSumExp.length !== queryCount) throw new ShapeError(`heatmap: ${logSumExp.length} log-sum-exp values for ${queryCount} queries`);
  if (!Number.isInteger(cells) || cells < 1) throw new ShapeError(`heatmap: cells must be a positive integer, got ${cells}`);
  if (!Number.isFinite(scale)) throw new ShapeError(`heatmap: scale must be finite, got ${scale}`);

  const mass = gpu.upload(new Uint32Array(queryCount * cells * 2), [queryCount, cells, 2], 'u32', 'heatmap.mass');
  const lse = gpu.upload(logSumExp, [queryCount], 'f32', 'heatmap.lse');
  const params = new ArrayBuffer(32);
  const words = new Uint32Array(params);
  let rowOffset = 0;
  for (const chunk of chunks) {
    words.set([chunk.shape[0]!, dim, queryCount, rowOffset, cells]);
    new Float32Array(params)[5] = scale;
    gpu.dispatch({
      label: 'heatmap',
      code: heatmapSource,
      constants: { WORKGROUP_SIZE, GALLERY_F16: chunk.dtype === 'f16' ? 1 : 0 },
      uniforms: words.slice(),
      buffers: [queries, chunk, rowCells, lse, mass],
      workgroups: linearWorkgroups(chunk.shape[0]!, WORKGROUP_SIZE),
    });
    rowOffset += chunk.shape[0]!;
  }
  // The pool hands the lse buffer out again only after the recorded dispatches have been submitted.
  lse.release();
  return mass;
}

/** accumulateHeatmap in plain TS (float64, its own log-sum-exp): queries [Q, D], gallery [N, D], rowCells [N]. */
export function heatmapReference(queries: Float32Array, gallery: Float32Array, dim: number, rowCells: Uint32Array, options: HeatmapKernelOptions): Float64Array[] {
  const q = queries.length / dim;
  const n = gallery.length / dim;
  if (!Number.isInteger(q) || !Number.isInteger(n) || rowCells.length !== n) throw new ShapeError(`heatmapReference: shapes do not agree (D = ${dim}, ${rowCells.length} cells for ${n} rows)`);
  return Array.from({ length: q }, (_, i) => {
    const logits = new Float64Array(n);
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += queries[i * dim + d]! * gallery[j * dim + d]!;
      logits[j] = options.scale * dot;
      max = Math.max(max, logits[j]!);
    }
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(logits[j]! - max);
    const lse = max + Math.log(sum);
    const out = new Float64Array(options.cells);
    for (let j = 0; j < n; j++) out[rowCells[j]!]! += Math.exp(logits[j]! - lse);
    return out;
  });
}

import commonSource from '../../shaders/rows-common.wgsl';
import subgroupEntrySource from '../../shaders/rows-subgroup.wgsl';
import { adapterKind, formatShape, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';

/** The `Params { rows: u32, cols: u32, eps: f32 }` uniform declared in rows-common.wgsl. */
function rowParams(rows: number, cols: number, eps = 0): Uint32Array {
  const words = new Uint32Array(4);
  words[0] = rows;
  words[1] = cols;
  new Float32Array(words.buffer)[2] = eps;
  return words;
}

/** Throws a ShapeError naming every operand that is not f32. */
export function checkF32(op: string, tensors: Record<string, Tensor>): void {
  const wrong = Object.entries(tensors).filter(([, t]) => t.dtype !== 'f32');
  if (wrong.length > 0) {
    throw new ShapeError(`${op}: expects f32 tensors, got ${wrong.map(([name, t]) => `${name} ${t}`).join(', ')}`);
  }
}

/**
 * How a row-wise kernel spreads a row over invocations. 'workgroup': one workgroup per row, a tree
 * reduction in workgroup memory (what hardware GPUs want). 'invocation': one invocation per row, loops
 * and no barriers (what SwiftShader wants: barriers there switch fibers; 4-6× faster on LayerNorm
 * [257, 1024]). 'subgroup': one subgroup per row (a workgroup of the adapter's smallest subgroup size),
 * subgroupAdd / subgroupMax and no barriers; only where the adapter has subgroups (lavapipe's default,
 * and 4× invocation on a single 100,000-wide softmax row on both software adapters, which leaves all
 * but one core idle). Measured figures at defaultRowStrategy.
 */
export type RowStrategy = 'workgroup' | 'invocation' | 'subgroup';

export const ROW_STRATEGIES: readonly RowStrategy[] = ['workgroup', 'invocation', 'subgroup'];

/** The row-wise ops, as tuning tables and shape keys name them. */
export type RowOp = 'layerNorm' | 'softmax' | 'l2Normalize';

/** A row-wise kernel's WGSL: the file rows-common.wgsl completes, and its subgroup twin (rows-subgroup.wgsl). */
export interface RowKernel {
  source: string;
  subgroupSource: string;
}

let forcedStrategy: RowStrategy | null = null;

/** Forces a strategy for every row-wise kernel (tests run each); null restores the adapter's choice. */
export function forceRowStrategy(strategy: RowStrategy | null): void {
  forcedStrategy = strategy;
}

/** Runs `work` with every row-wise kernel it records forced to `strategy` (the tuner and the bench time each). */
export function withRowStrategy<T>(strategy: RowStrategy, work: () => T): T {
  const before = forcedStrategy;
  forcedStrategy = strategy;
  try {
    return work();
  } finally {
    forcedStrategy = before;
  }
}

const ROW_WORKGROUP = 64;
// Small groups so that 50 rows (ViT-B/32) still spread over several cores.
const ROWS_PER_WORKGROUP = 16;
// Subgroups wider than this would leave most lanes idle on a 768-wide row; no adapter seen has them.
const MAX_SUBGROUP_WORKGROUP = 64;

/** The adapter's smallest subgroup size, the subgroup strategy's workgroup size; 0 without subgroups. */
function subgroupLanes(gpu: Gpu): number {
  if (!gpu.subgroupsOfAtLeast(4)) return 0;
  const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
  return Math.min(info.subgroupMinSize ?? 4, MAX_SUBGROUP_WORKGROUP);
}

/** Whether this adapter runs a strategy (what a tuning table may name, what the tuner times). */
export function rowStrategyRuns(gpu: Gpu, strategy: string): strategy is RowStrategy {
  if (strategy === 'subgroup') return subgroupLanes(gpu) > 0;
  return strategy === 'workgroup' || strategy === 'invocation';
}

/** Every strategy this adapter runs, the tuner's candidates. */
export function rowStrategies(gpu: Gpu): RowStrategy[] {
  return ROW_STRATEGIES.filter((strategy) => rowStrategyRuns(gpu, strategy));
}

/**
 * What a row-wise kernel runs with nothing forced and no tuning table (bench/kernels/rows.bench.ts, best
 * GPU ms of 9 interleaved rounds, two runs each, workgroup / invocation / subgroup):
 * - lavapipe, subgroup (8 lanes): never measurably slower than invocation and faster where rows are few
 *   or long: LayerNorm [50, 768] 0.66-0.79 / 0.26-0.39 / 0.26-0.33, [257, 1024] 3.5-4.7 / 1.6-2.2 /
 *   1.4-1.9, [400, 768] 4.9-6.0 / 1.6-2.3 / 1.6-2.3, softmax [1, 100000] 0.66-0.85 / 2.5-3.3 / 0.52-0.72,
 *   l2Normalize [2048, 512] 10.6-12.3 / 2.6-2.9 / 2.6-3.0.
 * - SwiftShader, invocation: subgroup (4 lanes) wins one-row softmax [1, 100000] (1.8-3.0 against 7.3-11.7)
 *   but loses up to 1.35× on many rows (LayerNorm [400, 768] 5.9-7.8 against 6.9-10.6), the shape the
 *   vision tower runs twice a layer; the workgroup strategy is 4.5-9× slower than invocation on many rows.
 * - elsewhere (hardware GPUs), workgroup.
 * A tuning table picks per shape class instead (tuneRowShapes).
 */
export function defaultRowStrategy(gpu: Gpu): RowStrategy {
  if (adapterKind(gpu.adapter.info) === 'lavapipe' && rowStrategyRuns(gpu, 'subgroup')) return 'subgroup';
  return gpu.isSoftware ? 'invocation' : 'workgroup';
}

/**
 * Rows are filed in classes, since what a strategy needs is enough rows to fill the cores: up to 1, 16,
 * 64, 256, 1024, 4096 rows, then more.
 */
const ROW_CLASS_BOUNDS = [1, 16, 64, 256, 1024, 4096];

/** The key a tuning table files a row-wise op under: op, row length and row class ("layerNorm c768 r<=64"). */
export function rowShapeKey(op: RowOp, rows: number, cols: number): string {
  const bound = ROW_CLASS_BOUNDS.find((b) => rows <= b);
  return `${op} c${cols} ${bound === undefined ? `r>${ROW_CLASS_BOUNDS[ROW_CLASS_BOUNDS.length - 1]}` : `r<=${bound}`}`;
}

/** Per adapter name: shape key (rowShapeKey) → strategy, from a tuning table (src/kernels/tuning.ts). */
const tunedStrategies = new Map<string, ReadonlyMap<string, RowStrategy>>();

/** Installs a tuning table's row strategies for this adapter (null removes them); callers check them first (rowStrategyRuns). */
export function setTunedRowChoices(gpu: Gpu, choices: Readonly<Record<string, RowStrategy>> | null): void {
  if (choices === null) tunedStrategies.delete(gpu.adapterName);
  else tunedStrategies.set(gpu.adapterName, new Map(Object.entries(choices)));
}

/** The strategy a row-wise op of this shape runs: forced, else the tuning table's, else the default. */
export function rowStrategyFor(gpu: Gpu, op: RowOp, rows: number, cols: number): RowStrategy {
  if (forcedStrategy !== null) return forcedStrategy;
  const tuned = tunedStrategies.get(gpu.adapterName)?.get(rowShapeKey(op, rows, cols));
  return tuned !== undefined && rowStrategyRuns(gpu, tuned) ? tuned : defaultRowStrategy(gpu);
}

interface RowDispatch {
  code: string;
  entryPoint: string;
  constants: { WORKGROUP_SIZE: number };
  workgroups: [number, number];
}

/** The source, entry point, workgroup size and dispatch of a row-wise kernel over `rows` rows. */
function rowDispatch(gpu: Gpu, op: RowOp, kernel: RowKernel, rows: number, cols: number): RowDispatch {
  const strategy = rowStrategyFor(gpu, op, rows, cols);
  switch (strategy) {
    case 'invocation':
      return { code: commonSource + kernel.source, entryPoint: 'rowPerInvocation', constants: { WORKGROUP_SIZE: ROWS_PER_WORKGROUP }, workgroups: linearWorkgroups(rows, ROWS_PER_WORKGROUP) };
    case 'workgroup':
      return { code: commonSource + kernel.source, entryPoint: 'main', constants: { WORKGROUP_SIZE: ROW_WORKGROUP }, workgroups: linearWorkgroups(rows, 1) };
    case 'subgroup': {
      const lanes = subgroupLanes(gpu);
      if (lanes === 0) throw new ShapeError(`${op}: the subgroup row strategy needs subgroups, which ${gpu.adapterName} lacks`);
      return {
        code: `enable subgroups;\n${commonSource}${subgroupEntrySource}${kernel.source}${kernel.subgroupSource}`,
        entryPoint: 'rowPerSubgroup',
        constants: { WORKGROUP_SIZE: lanes },
        workgroups: linearWorkgroups(rows, 1),
      };
    }
  }
}

/** The last dimension of x, the row length of a row-wise kernel; a ShapeError if x has no dimensions. */
export function rowLength(op: string, x: Tensor): number {
  if (x.rank < 1) throw new ShapeError(`${op}: x must have at least one dimension, got ${formatShape(x.shape)}`);
  return x.shape[x.rank - 1]!;
}

/**
 * Runs a row-wise kernel over x [...batch, cols]: `kernel.source` (layernorm.wgsl, softmax.wgsl,
 * l2-normalize.wgsl) is compiled after rows-common.wgsl, which declares the params and entry points, and
 * for the subgroup strategy followed by its -subgroup.wgsl twin. Binds
 * params, x, then `inputs` in order, then a new output shaped like x, which it returns. `eps`, when given,
 * must be a non-negative number.
 */
export function dispatchRows(op: RowOp, kernel: RowKernel, x: Tensor, options: { inputs?: readonly Tensor[]; eps?: number } = {}): Tensor {
  const { inputs = [], eps } = options;
  const cols = rowLength(op, x);
  if (eps !== undefined && !(eps >= 0)) throw new ShapeError(`${op}: eps must be a non-negative number, got ${eps}`);
  const rows = x.size / cols;
  const out = x.gpu.empty(x.shape, 'f32', `${op}.out`);
  x.gpu.dispatch({
    label: op,
    uniforms: rowParams(rows, cols, eps),
    buffers: [x, ...inputs, out],
    ...rowDispatch(x.gpu, op, kernel, rows, cols),
  });
  return out;
}

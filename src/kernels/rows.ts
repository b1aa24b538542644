import commonSource from '../../shaders/rows-common.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';

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
 * [257, 1024]).
 */
export type RowStrategy = 'workgroup' | 'invocation';

let forcedStrategy: RowStrategy | null = null;

/** Forces a strategy for every row-wise kernel (tests run both); null restores the adapter's choice. */
export function forceRowStrategy(strategy: RowStrategy | null): void {
  forcedStrategy = strategy;
}

const ROW_WORKGROUP = 64;
// Small groups so that 50 rows (ViT-B/32) still spread over several cores.
const ROWS_PER_WORKGROUP = 16;

/** The entry point, workgroup size and dispatch of a row-wise kernel over `rows` rows. */
function rowDispatch(gpu: Gpu, rows: number): { entryPoint: string; constants: { WORKGROUP_SIZE: number }; workgroups: [number, number] } {
  const strategy = forcedStrategy ?? (gpu.isSoftware ? 'invocation' : 'workgroup');
  return strategy === 'invocation'
    ? { entryPoint: 'rowPerInvocation', constants: { WORKGROUP_SIZE: ROWS_PER_WORKGROUP }, workgroups: linearWorkgroups(rows, ROWS_PER_WORKGROUP) }
    : { entryPoint: 'main', constants: { WORKGROUP_SIZE: ROW_WORKGROUP }, workgroups: linearWorkgroups(rows, 1) };
}

/** The last dimension of x, the row length of a row-wise kernel; a ShapeError if x has no dimensions. */
export function rowLength(op: string, x: Tensor): number {
  if (x.rank < 1) throw new ShapeError(`${op}: x must have at least one dimension, got ${formatShape(x.shape)}`);
  return x.shape[x.rank - 1]!;
}

/**
 * Runs a row-wise kernel over x [...batch, cols]: `kernelSource` (layernorm.wgsl, softmax.wgsl,
 * l2-normalize.wgsl) is compiled after rows-common.wgsl, which declares the params and entry points. Binds
 * params, x, then `inputs` in order, then a new output shaped like x, which it returns. `eps`, when given,
 * must be a non-negative number.
 */
export function dispatchRows(op: string, kernelSource: string, x: Tensor, options: { inputs?: readonly Tensor[]; eps?: number } = {}): Tensor {
  const { inputs = [], eps } = options;
  const cols = rowLength(op, x);
  if (eps !== undefined && !(eps >= 0)) throw new ShapeError(`${op}: eps must be a non-negative number, got ${eps}`);
  const rows = x.size / cols;
  const out = x.gpu.empty(x.shape, 'f32', `${op}.out`);
  x.gpu.dispatch({
    label: op,
    code: commonSource + kernelSource,
    uniforms: rowParams(rows, cols, eps),
    buffers: [x, ...inputs, out],
    ...rowDispatch(x.gpu, rows),
  });
  return out;
}

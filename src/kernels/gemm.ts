import ioBlocksSource from '../../shaders/gemm-io-blocks.wgsl';
import ioF16Source from '../../shaders/gemm-io-f16.wgsl';
import ioF16x4Source from '../../shaders/gemm-io-f16x4.wgsl';
import ioF32Source from '../../shaders/gemm-io-f32.wgsl';
import ioF32x4Source from '../../shaders/gemm-io-f32x4.wgsl';
import ioQ4Source from '../../shaders/gemm-io-q4.wgsl';
import ioQ4x4Source from '../../shaders/gemm-io-q4x4.wgsl';
import ioQ8Source from '../../shaders/gemm-io-q8.wgsl';
import ioQ8x4Source from '../../shaders/gemm-io-q8x4.wgsl';
import epilogueSource from '../../shaders/gemm-epilogue.wgsl';
import naiveSource from '../../shaders/gemm-naive.wgsl';
import register16x16Source from '../../shaders/gemm-register16x16.wgsl';
import register4x16Source from '../../shaders/gemm-register4x16.wgsl';
import register4x4Source from '../../shaders/gemm-register4x4.wgsl';
import register8x16Source from '../../shaders/gemm-register8x16.wgsl';
import register8x8Source from '../../shaders/gemm-register8x8.wgsl';
import registerBlocksSource from '../../shaders/gemm-register-blocks.wgsl';
import subgroupBlocksSource from '../../shaders/gemm-subgroup-blocks.wgsl';
import subgroup16x16Source from '../../shaders/gemm-subgroup16x16.wgsl';
import subgroup32x16Source from '../../shaders/gemm-subgroup32x16.wgsl';
import subgroup64x16Source from '../../shaders/gemm-subgroup64x16.wgsl';
import tiledRegisterSource from '../../shaders/gemm-tiled-register.wgsl';
import tiledSource from '../../shaders/gemm-tiled.wgsl';
import { adapterKind, formatShape, isQuantized, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';

export type Activation = 'none' | 'relu' | 'gelu' | 'quick_gelu';

export interface LinearOptions {
  bias?: Tensor;
  activation?: Activation;
  /** Where to write the result (f32, rows·N elements); a new tensor otherwise. */
  out?: Tensor;
  /**
   * Added after the activation, y = act(x·Wᵀ + b) + residual: the transformer's skip connection, folded
   * into the epilogue. f32 with the output's element count; not the output's buffer.
   */
  residual?: Tensor;
  /** Force a variant by name (see GEMM_VARIANTS) for this call; it then runs alone, every row in its blocks. */
  variant?: string;
  /**
   * With `variant`: still hand a short last block of rows to a smaller one, as linear() does with a
   * variant of its own choosing (what the tuner times, since that is what a tuned choice runs as).
   */
  splitTail?: boolean;
}

/**
 * One rung of the GEMM ladder. Every variant computes the same thing with any shape; they differ only in
 * speed, which depends on the adapter (see defaultVariantName).
 */
export interface GemmVariant {
  readonly name: string;
  readonly kind: 'naive' | 'tiled' | 'register' | 'tiled-register' | 'subgroup';
  /** Output block per workgroup. */
  readonly rowsPerWorkgroup: number;
  readonly colsPerWorkgroup: number;
  readonly constants: Readonly<Record<string, number>>;
  /** The kernel body; compiled after the io and epilogue files (and the block helpers for `register`). */
  readonly source: string;
  /** Rows of y per invocation (register kind) or per workgroup (subgroup kind): a short last block may go to a smaller one. */
  readonly blockRows?: number;
  /** Smallest subgroup size the kernel is correct with (it shares values between lanes); none if unset. */
  readonly minSubgroup?: number;
}

function register(rows: number, cols: number, source: string, wgX: number, wgY: number, suffix = ''): GemmVariant {
  return {
    name: `register${rows}x${cols}${suffix}`,
    kind: 'register',
    rowsPerWorkgroup: rows * wgY,
    colsPerWorkgroup: cols * wgX,
    constants: { WG_X: wgX, WG_Y: wgY },
    source,
    blockRows: rows,
  };
}

/** The ladder in order of sophistication; the last is for hardware GPUs. */
export const GEMM_VARIANTS: readonly GemmVariant[] = [
  { name: 'naive', kind: 'naive', rowsPerWorkgroup: 16, colsPerWorkgroup: 16, constants: { WG_X: 16, WG_Y: 16 }, source: naiveSource },
  { name: 'tiled16', kind: 'tiled', rowsPerWorkgroup: 16, colsPerWorkgroup: 16, constants: { TILE: 16 }, source: tiledSource },
  register(4, 4, register4x4Source, 8, 8),
  register(8, 8, register8x8Source, 8, 8),
  register(16, 16, register16x16Source, 4, 1),
  register(4, 16, register4x16Source, 4, 1),
  register(8, 16, register8x16Source, 4, 1),
  { name: 'tiled64x64', kind: 'tiled-register', rowsPerWorkgroup: 64, colsPerWorkgroup: 64, constants: {}, source: tiledRegisterSource },
  // The same blocks as register16x16 with 8 lanes a workgroup: one full 256-bit register of lanes on
  // lavapipe, where register16x16's 4 leave half of each idle.
  register(16, 16, register16x16Source, 8, 1, 'w8'),
  { name: 'subgroup16x16', kind: 'subgroup', rowsPerWorkgroup: 16, colsPerWorkgroup: 128, constants: { WG_X: 8 }, source: subgroup16x16Source, minSubgroup: 8, blockRows: 16 },
  { name: 'subgroup32x16', kind: 'subgroup', rowsPerWorkgroup: 32, colsPerWorkgroup: 128, constants: { WG_X: 8 }, source: subgroup32x16Source, minSubgroup: 8, blockRows: 32 },
  // 64 rows share each w load: half subgroup32x16's w loads per multiply-add (M = 50 in one block).
  { name: 'subgroup64x16', kind: 'subgroup', rowsPerWorkgroup: 64, colsPerWorkgroup: 128, constants: {}, source: subgroup64x16Source, minSubgroup: 8, blockRows: 64 },
];

const ACTIVATIONS: Record<Activation, number> = { none: 0, relu: 1, gelu: 2, quick_gelu: 3 };

/** Floating-point operations of one linear() call: a multiply and an add per term. */
export function gemmFlops(m: number, k: number, n: number, batch = 1): number {
  return 2 * m * k * n * batch;
}

/**
 * Whether a variant can run on this adapter: the subgroup kernels need the `subgroups` feature and
 * subgroups of at least 8 lanes (SwiftShader has 4).
 */
export function gemmVariantRuns(gpu: Gpu, variant: GemmVariant): boolean {
  return !variant.minSubgroup || gpu.subgroupsOfAtLeast(variant.minSubgroup);
}

/** The variants this adapter runs, in ladder order: what a tuner may pick from. */
export function runnableGemmVariants(gpu: Gpu): GemmVariant[] {
  return GEMM_VARIANTS.filter((v) => gemmVariantRuns(gpu, v));
}

export function gemmVariant(name: string): GemmVariant {
  const variant = GEMM_VARIANTS.find((v) => v.name === name);
  if (!variant) throw new ShapeError(`linear: unknown variant "${name}"; known: ${GEMM_VARIANTS.map((v) => v.name).join(', ')}`);
  return variant;
}

// Choices are per adapter name: a process may hold several devices (tests do), and what is fastest is a
// property of the adapter, not of the device object.
const forced = new Map<string, string>();
const tuned = new Map<string, string>();
/** Per adapter: shape key (gemmShapeKey) → variant, from a tuning table (src/kernels/tuning.ts). */
const tables = new Map<string, ReadonlyMap<string, string>>();

/** Rows fall into classes: a choice timed at 50 rows holds for 33…64, the row count that matters to a block. */
const ROW_CLASSES = [1, 8, 16, 32, 64, 128, 320, 1024, 4096];

/** The key a tuning table files a GEMM under: weight dtype, row class, K and N. */
export function gemmShapeKey(dtype: string, rows: number, k: number, n: number): string {
  const rowClass = ROW_CLASSES.find((limit) => rows <= limit);
  return `${dtype} m${rowClass ? `<=${rowClass}` : `>${ROW_CLASSES[ROW_CLASSES.length - 1]}`} k${k} n${n}`;
}

/** Installs a tuning table's GEMM choices for this adapter (null removes them). Names must run here. */
export function setTunedGemmChoices(gpu: Gpu, choices: Readonly<Record<string, string>> | null): void {
  if (choices === null) {
    tables.delete(gpu.adapterName);
    return;
  }
  for (const [key, name] of Object.entries(choices)) {
    if (!gemmVariantRuns(gpu, gemmVariant(name))) throw new ShapeError(`tuning: variant "${name}" for ${key} does not run on ${gpu.adapterName}`);
  }
  tables.set(gpu.adapterName, new Map(Object.entries(choices)));
}

/**
 * What a fresh process uses with no tuning table, per adapter class (bench/kernels/gemm-shapes.bench.ts).
 * SwiftShader (4-lane SSE, Subzero JIT): big per-invocation register blocks, register16x16 (at
 * 256×1024×1024: naive 0.16, tiled16 0.10, register4x4 2.6, register8x8 4.0, register16x16 5.5,
 * tiled64x64 1.6 GFLOPS). lavapipe (8-lane AVX2, LLVM): a load whose address differs per lane is a loop
 * over the lanes there, so the subgroup kernels, which load each x row once per group of 8 lanes, win by
 * 2–3× over register16x16 at the ViT shapes (subgroup16x16 where a 32-row block would be mostly padding,
 * subgroup64x16 for 33–64 rows, register4x4 for 4 rows or fewer). That loop is there even when
 * every lane asks for the same address: Mesa takes the one-load path only for addresses built from
 * constants and push constants, not from a workgroup id or a loop counter, so a kernel whose lanes own rows
 * and share uniform w loads measured 1.5–2.7 GFLOPS at the B/32 shapes, against subgroup32x16's 14.
 * A hardware GPU gets workgroup-memory tiles (tiled64x64, untimed here: `geolens tune` times it).
 */
export function defaultVariantName(gpu: Gpu, rows = 1024): string {
  // lavapipe counts as software too (a CPU adapter), so it is asked first.
  if (adapterKind(gpu.adapter.info) === 'lavapipe') {
    if (!gemmVariantRuns(gpu, gemmVariant('subgroup32x16'))) return 'register16x16w8';
    // One to 4 rows (the projections): every block is mostly padding, and the small one wastes least
    // (`geolens tune`, 1×768×512: register4x4 1.5 GFLOPS, register4x16 1.1, the subgroup kernels less).
    if (rows <= 4) return 'register4x4';
    if (rows <= 16) return 'subgroup16x16';
    // 33 to 64 rows fit one 64-row block. At ViT-B/32's 50 rows, two runs against subgroup32x16 (GFLOPS):
    // qkv 21.1 / 17.5 and 18.6 / 16.9, out_proj 18.7 / 17.6, fc1 18.7 / 16.8 and 18.5 / 19.7, fc2 18.8 /
    // 21.3 and 19.3 / 17.9: ahead on average, within the noise on the MLP. At ViT-L/14's 257 rows, as
    // 256 + a 1-row tail: qkv 26.2, fc1 25.5, fc2 28.3 against subgroup32x16's 24.3, 23.2, 24.3 (288 rows).
    return rows > 32 ? 'subgroup64x16' : 'subgroup32x16';
  }
  return gpu.isSoftware ? 'register16x16' : 'tiled64x64';
}

/** The variant linear() uses on this adapter when no shape is given: forced, else autotuned, else the default. */
export function chosenVariantName(gpu: Gpu): string {
  return forced.get(gpu.adapterName) ?? tuned.get(gpu.adapterName) ?? defaultVariantName(gpu);
}

/** The variant linear() uses for a shape: forced, else the tuning table's, else autotuned, else the default. */
export function chosenVariantFor(gpu: Gpu, dtype: string, rows: number, k: number, n: number): string {
  return forced.get(gpu.adapterName) ?? tables.get(gpu.adapterName)?.get(gemmShapeKey(dtype, rows, k, n)) ??
    tuned.get(gpu.adapterName) ?? defaultVariantName(gpu, rows);
}

/** Forces a variant for every linear() on this adapter (null restores the tuned/default choice). */
export function forceGemmVariant(gpu: Gpu, name: string | null): void {
  if (name === null) {
    forced.delete(gpu.adapterName);
    return;
  }
  if (!gemmVariantRuns(gpu, gemmVariant(name))) throw new ShapeError(`forceGemmVariant: "${name}" does not run on ${gpu.adapterName} (it needs subgroups of at least 8 lanes)`);
  forced.set(gpu.adapterName, name);
}

/**
 * y = act(x·Wᵀ + b), the nn.Linear forward pass.
 * x [...batch, M, K] f32; weight [N, K] f32, f16 (packed) or q8/q4 (block-quantized, dequantized in
 * registers; src/kernels/quantize.ts); bias [N] f32 or f16 → [...batch, M, N] f32.
 * Batch dimensions share the weight, so they fold into rows.
 */
export function linear(x: Tensor, weight: Tensor, options: LinearOptions = {}): Tensor {
  const { bias, activation = 'none', out, residual } = options;
  const gpu = x.gpu;
  const describe = () => `x ${formatShape(x.shape)}:${x.dtype}, weight ${formatShape(weight.shape)}:${weight.dtype}` +
    (bias ? `, bias ${formatShape(bias.shape)}:${bias.dtype}` : '');

  if (x.rank < 1 || x.shape.some((d) => d === 0)) throw new ShapeError(`linear: x must be [...batch, M, K] with no empty dimension; got ${describe()}`);
  if (x.dtype !== 'f32') throw new ShapeError(`linear: x must be f32; got ${describe()}`);
  if (weight.gpu !== gpu || (bias && bias.gpu !== gpu) || (out && out.gpu !== gpu) || (residual && residual.gpu !== gpu)) throw new ShapeError(`linear: tensors live on different devices (${describe()})`);
  if (weight.rank !== 2 || weight.shape.some((d) => d === 0)) throw new ShapeError(`linear: weight must be [N, K]; got ${describe()}`);
  if (!WEIGHT_IO[weight.dtype]) throw new ShapeError(`linear: weight must be f32 or f16 (or block-quantized q8 / q4); got ${describe()}`);
  const [n, k] = weight.shape as [number, number];
  if (isQuantized(weight.dtype) && n >= 1 << 22) throw new ShapeError(`linear: a ${weight.dtype} weight may have at most 4,194,303 rows (N); got ${describe()}`);
  if (x.shape[x.rank - 1] !== k) throw new ShapeError(`linear: x's last dimension must equal weight's K = ${k}; got ${describe()}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) throw new ShapeError(`linear: bias must be [${n}] (weight's N); got ${describe()}`);
  if (bias && bias.dtype !== 'f32' && bias.dtype !== 'f16') throw new ShapeError(`linear: bias must be f32 or f16; got ${describe()}`);
  if (!Object.hasOwn(ACTIVATIONS, activation)) throw new ShapeError(`linear: unknown activation "${activation}"; use none, relu, gelu or quick_gelu`);

  const rows = x.size / k;
  const outShape = [...x.shape.slice(0, -1), n];
  for (const [tensor, what] of [[x, 'x'], [weight, 'weight'], [bias, 'bias']] as const) {
    if (tensor) gpu.checkBindable(tensor.byteLength, `linear: ${what} ${formatShape(tensor.shape)}:${tensor.dtype} (${describe()})`);
  }
  gpu.checkBindable(rows * n * 4, `linear: output ${formatShape(outShape)} (${describe()})`);
  if (residual && (residual.dtype !== 'f32' || residual.size !== rows * n)) {
    throw new ShapeError(`linear: residual ${formatShape(residual.shape)}:${residual.dtype} must be f32 with the output's ${formatShape(outShape)} elements (${describe()})`);
  }
  if (out) {
    if (out.buffer === residual?.buffer) {
      throw new ShapeError(`linear: out ${formatShape(out.shape)} is the residual's buffer; write the sum to a separate tensor (${describe()})`);
    }
    if (out.dtype !== 'f32' || out.size !== rows * n) {
      throw new ShapeError(`linear: out ${formatShape(out.shape)}:${out.dtype} cannot hold the f32 result ${formatShape(outShape)} (${describe()})`);
    }
    if (out.buffer === x.buffer || out.buffer === weight.buffer || out.buffer === bias?.buffer) {
      throw new ShapeError(`linear: out ${formatShape(out.shape)} shares its buffer with an input; write to a separate tensor (${describe()})`);
    }
  }

  const variant = gemmVariant(options.variant ?? chosenVariantFor(gpu, weight.dtype, rows, k, n));
  if (!gemmVariantRuns(gpu, variant)) {
    throw new ShapeError(`linear: variant "${variant.name}" needs subgroups of at least ${variant.minSubgroup} lanes, which ${gpu.adapterName} lacks`);
  }
  const result = out ?? gpu.empty(outShape, 'f32', 'linear.out');
  // A variant named in the call runs alone (tests and benches measure exactly it) unless splitTail;
  // otherwise a short last block of rows may go to a smaller block.
  const tail = options.variant && !options.splitTail ? null : tailVariant(gpu, variant, rows);
  const mainRows = tail ? rows - (rows % variant.blockRows!) : rows;
  const act = ACTIVATIONS[activation];
  const epilogue = { bias, activation: act, residual };
  if (mainRows > 0) dispatchGemm(gpu, variant, x, weight, epilogue, result, 0, mainRows, k, n);
  if (tail) dispatchGemm(gpu, tail, x, weight, epilogue, result, mainRows, rows, k, n);
  return result;
}

/**
 * For a register-blocked variant whose last block of rows would be at most half used, the smallest
 * register variant that covers those rows: e.g. M = 50 in 16-row blocks computes 64 rows, while 48 rows
 * of 16×16 plus 2 rows of 4×4 waste almost nothing. A tail over half a block stays in the big block:
 * the small ones are slower per row (SwiftShader: 4×4 ~2.6, 8×8 ~4.0, 16×16 ~5.5 GFLOPS). Measured at
 * M = 50 (ViT-B/32): 5–12% faster than padding to 64 rows.
 */
function tailVariant(gpu: Gpu, variant: GemmVariant, rows: number): GemmVariant | null {
  if ((variant.kind !== 'register' && variant.kind !== 'subgroup') || !variant.blockRows) return null;
  const tailRows = rows % variant.blockRows;
  if (tailRows === 0 || tailRows > variant.blockRows / 2) return null;
  const smaller = (v: GemmVariant) => v.blockRows! >= tailRows && v.blockRows! < variant.blockRows! && gemmVariantRuns(gpu, v);
  // A few rows go to a 16-column register block on any adapter; more stay in the main block's kind
  // (a subgroup kernel's tail in a smaller subgroup kernel: lavapipe runs register blocks at half the speed).
  const fewRows = TAIL_VARIANTS.map(gemmVariant).find((v) => smaller(v) && (variant.kind === 'register' || v.blockRows! <= 4));
  return fewRows ?? GEMM_VARIANTS.find((v) => v.kind === variant.kind && v.blockRows !== undefined && smaller(v)) ?? null;
}

/**
 * Tails go to blocks 16 columns wide first: a 2-row tail in register4x4 (8×8 workgroups, 32 rows each)
 * cost as much CPU time as 20 rows of register16x16; register4x16 cuts the M = 50 GEMMs' CPU time by
 * ~20% (SwiftShader, 50×768×3072: 141 → 113 ms of CPU per call).
 */
const TAIL_VARIANTS = ['register4x16', 'register8x16'];

/** One f32 word bound where a call has no bias or residual (a binding the shader declares must be bound). */
const dummyWord = new WeakMap<Gpu, Tensor>();

function placeholder(gpu: Gpu): Tensor {
  let tensor = dummyWord.get(gpu);
  if (!tensor) dummyWord.set(gpu, (tensor = gpu.lasting(() => gpu.empty([1], 'f32', 'linear.unused'))));
  return tensor;
}

interface Epilogue {
  bias?: Tensor;
  activation: number;
  residual?: Tensor;
}

/** Operand-access files per weight dtype: [any K, K % 4 == 0]. */
const WEIGHT_IO: Partial<Record<string, [string, string]>> = {
  f32: [ioF32Source, ioF32x4Source],
  f16: [ioF16Source, ioF16x4Source],
  q8: [ioQ8Source + ioBlocksSource, ioQ8x4Source + ioBlocksSource],
  q4: [ioQ4Source + ioBlocksSource, ioQ4x4Source + ioBlocksSource],
};

/** Computes rows [firstRow, endRow) of y. */
function dispatchGemm(gpu: Gpu, variant: GemmVariant, x: Tensor, weight: Tensor, { bias, activation, residual }: Epilogue,
  y: Tensor, firstRow: number, endRow: number, k: number, n: number): void {
  const vectorK = k % 4 === 0;
  const io = WEIGHT_IO[weight.dtype]![vectorK ? 1 : 0];
  const ioName = `${weight.dtype}${vectorK ? 'x4' : ''}`;
  // Quantized rows are found by dividing by K, a pipeline constant (one pipeline per K).
  const quantK: Record<string, number> = isQuantized(weight.dtype) ? { QUANT_K: k } : {};
  const helpers = variant.kind === 'naive' || variant.kind === 'tiled' ? '' : registerBlocksSource;

  const colGroups = Math.ceil(n / variant.colsPerWorkgroup);
  const [rowGroups, rowGroupsZ] = linearWorkgroups(endRow - firstRow, variant.rowsPerWorkgroup, gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    // The label is part of the pipeline cache key, and so must name everything that changes the source.
    label: `gemm.${variant.name}.${ioName}`,
    code: variant.minSubgroup ? `enable subgroups;\n${io}${epilogueSource}${helpers}${subgroupBlocksSource}${variant.source}` : io + epilogueSource + helpers + variant.source,
    constants: { ...variant.constants, ...quantK, ACTIVATION: activation, BIAS: bias ? (bias.dtype === 'f16' ? 2 : 1) : 0, RESIDUAL: residual ? 1 : 0 },
    uniforms: new Uint32Array([endRow, k, n, rowGroups, firstRow]),
    buffers: [x, weight, bias ?? placeholder(gpu), y, residual ?? placeholder(gpu)],
    workgroups: [colGroups, rowGroups, rowGroupsZ],
  });
}

/**
 * Times every candidate on a representative shape and remembers the fastest for this adapter (in
 * memory, for the life of the process); linear() uses it from then on unless a variant is forced.
 * Candidates default to every variant this adapter runs but naive and tiled16. A tuning table
 * (src/kernels/tuning.ts) times each shape a model runs instead, and outlives the process.
 */
export async function autotuneGemm(gpu: Gpu, options: { m?: number; k?: number; n?: number; candidates?: string[] } = {}): Promise<{ name: string; ms: Record<string, number> }> {
  const { m = 256, k = 1024, n = 1024 } = options;
  const candidates = options.candidates ??
    GEMM_VARIANTS.filter((v) => v.kind !== 'naive' && v.kind !== 'tiled' && gemmVariantRuns(gpu, v)).map((v) => v.name);
  const x = gpu.upload(new Float32Array(m * k).fill(0.5), [m, k]);
  const w = gpu.upload(new Float32Array(n * k).fill(0.25), [n, k]);
  const y = gpu.empty([m, n], 'f32', 'autotune.out');
  const ms: Record<string, number> = {};
  try {
    for (const name of candidates) {
      linear(x, w, { out: y, variant: name }); // compile outside the timed pass
      await gpu.sync();
      // Best of two: another process or a GC pause can only make a run slower, never faster.
      const first = await gpu.time(() => linear(x, w, { out: y, variant: name }));
      const second = await gpu.time(() => linear(x, w, { out: y, variant: name }));
      ms[name] = Math.min(first.ns, second.ns) / 1e6;
    }
  } finally {
    x.release();
    w.release();
    y.release();
  }
  const name = Object.entries(ms).sort((a, b) => a[1] - b[1])[0]![0];
  tuned.set(gpu.adapterName, name);
  return { name, ms };
}

/**
 * Plain-TS reference, accumulated in float64: act(x·wᵀ + bias) for x [...batch, M, K], w [N, K].
 * For f16 weights pass the same halves widened to floats.
 */
export function linearReference(x: ArrayLike<number>, xShape: readonly number[], w: ArrayLike<number>, wShape: readonly number[],
  bias?: ArrayLike<number>, activation: Activation = 'none'): Float64Array {
  const k = xShape[xShape.length - 1]!;
  const [n, wk] = wShape as [number, number];
  if (wk !== k) throw new ShapeError(`linearReference: x ${formatShape(xShape)} and w ${formatShape(wShape)} disagree on K`);
  const rows = x.length / k;
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let acc = bias ? bias[c]! : 0;
      for (let i = 0; i < k; i++) acc += x[r * k + i]! * w[c * k + i]!;
      y[r * n + c] = activateReference(acc, activation);
    }
  }
  return y;
}

export function activateReference(v: number, activation: Activation): number {
  switch (activation) {
    case 'relu':
      return v < 0 ? 0 : v;
    case 'gelu':
      return 0.5 * v * erfc(-v / Math.SQRT2);
    case 'quick_gelu':
      return v / (1 + Math.exp(-1.702 * v));
    default:
      return v;
  }
}

/** erfc in float64: Maclaurin series for erf near 0, Lentz continued fraction in the tails (~1e-14). */
export function erfc(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (Math.abs(z) < 2.5) {
    let term = z;
    let sum = z;
    for (let i = 1; i < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); i++) {
      term *= (-z * z) / i;
      sum += term / (2 * i + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (z < 0) return 2 - erfc(-z);
  // erfc(z) = exp(-z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), evaluated from the back.
  let fraction = z;
  for (let i = 60; i >= 1; i--) fraction = z + i / 2 / fraction;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / fraction;
}

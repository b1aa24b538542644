import copySource from '../../shaders/ceiling-copy.wgsl';
import source from '../../shaders/ceiling-fma.wgsl';
import { DeviceError, type Gpu, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';
import { copyBytes } from './copy.js';

// The adapter's own roofline, measured: the best fp32 FMA rate over a few workgroup shapes and
// accumulator counts (shaders/ceiling-fma.wgsl), and the best vec4 copy bandwidth over a few workgroup
// shapes and vec4s per invocation (shaders/ceiling-copy.wgsl).
// Benchmarks print every kernel as a fraction of the ceiling that bounds it; on a GPU the figures are
// what the card reaches, not what its spec sheet promises.

export const CEILING_WORKGROUP_SIZES = [64, 128, 256] as const;
export const CEILING_ACCUMULATORS = [1, 2, 4, 8] as const;
export const COPY_WORKGROUP_SIZES = [64, 256] as const;
export const COPY_VECTORS = [1, 4, 16] as const;
/** Steps each chain takes per loop iteration (the shader writes four out). */
const STEPS_PER_ITERATION = 4;
/** Keeps every value of the exact (multiplier 1, addend 1) run below 2^24, where f32 counts exactly. */
export const MAX_FMA_ITERATIONS = 2 ** 18;

/** One launch of the FMA probe. */
export interface FmaProbe {
  workgroupSize: number;
  /** Independent vec4 chains per invocation: 1, 2, 4 or 8. */
  accumulators: number;
  /** Invocations in all; a multiple of workgroupSize. */
  invocations: number;
  /** Loop iterations; each advances every chain by four FMAs. */
  iterations: number;
}

/** The arithmetic a probe runs in: f32, or f16 where the device has shader-f16. */
export type ProbePrecision = 'f32' | 'f16';

/** Runs the FMA probe: out [invocations] vec4f (see the shader for the formula). */
export function fmaProbe(gpu: Gpu, probe: FmaProbe, multiplier = 1, addend = 1, out?: Tensor, precision: ProbePrecision = 'f32'): Tensor {
  checkProbe(gpu, probe);
  if (precision === 'f16' && !gpu.features.f16) throw new ShapeError(`fmaProbe: f16 arithmetic needs shader-f16, which ${gpu.adapterName} lacks`);
  const result = out ?? gpu.empty([probe.invocations, 4], 'f32', 'ceiling.fma.out');
  if (result.dtype !== 'f32' || result.size !== probe.invocations * 4) {
    throw new ShapeError(`fmaProbe: out ${result} does not hold [${probe.invocations}, 4]:f32`);
  }
  const uniforms = new ArrayBuffer(16);
  new Uint32Array(uniforms, 0, 1)[0] = probe.iterations;
  new Float32Array(uniforms, 4, 2).set([multiplier, addend]);
  gpu.dispatch({
    label: `ceiling.fma.${precision}`,
    code: precision === 'f16' ? `enable f16;\nalias Scalar = f16;\n${source}` : `alias Scalar = f32;\n${source}`,
    constants: { WORKGROUP_SIZE: probe.workgroupSize, ACCUMULATORS: probe.accumulators },
    uniforms: new Uint8Array(uniforms),
    buffers: [result],
    workgroups: [probe.invocations / probe.workgroupSize],
  });
  return result;
}

function checkProbe(gpu: Gpu, probe: FmaProbe): void {
  const { workgroupSize, accumulators, invocations, iterations } = probe;
  if (!(CEILING_ACCUMULATORS as readonly number[]).includes(accumulators)) {
    throw new ShapeError(`fmaProbe: accumulators must be one of ${CEILING_ACCUMULATORS.join(', ')}, got ${accumulators}`);
  }
  if (!Number.isInteger(workgroupSize) || workgroupSize < 1 || workgroupSize > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new ShapeError(`fmaProbe: workgroup size ${workgroupSize} is outside 1..${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  if (!Number.isInteger(invocations) || invocations < workgroupSize || invocations % workgroupSize !== 0) {
    throw new ShapeError(`fmaProbe: ${invocations} invocations are not a whole number of workgroups of ${workgroupSize}`);
  }
  if (!Number.isInteger(iterations) || iterations < 0 || iterations > MAX_FMA_ITERATIONS) {
    throw new ShapeError(`fmaProbe: iterations ${iterations} outside 0..${MAX_FMA_ITERATIONS}`);
  }
}

/** Floating-point operations of one probe launch (an FMA counts two). */
export function fmaProbeFlops(probe: FmaProbe): number {
  return probe.invocations * probe.iterations * STEPS_PER_ITERATION * probe.accumulators * 4 * 2;
}

/**
 * The probe's output in float64 from the closed form of the recurrence a ← a·m + c taken K times:
 * a_K = a_0 + K·c when m = 1, else m^K·a_0 + c·(1 - m^K)/(1 - m); rounded to f32 at the end.
 */
export function fmaProbeReference(probe: FmaProbe, multiplier = 1, addend = 1): Float32Array {
  const out = new Float32Array(probe.invocations * 4);
  const steps = probe.iterations * STEPS_PER_ITERATION;
  const power = multiplier ** steps;
  const shift = multiplier === 1 ? steps * addend : (addend * (1 - power)) / (1 - multiplier);
  for (let i = 0; i < probe.invocations; i++) {
    for (let lane = 0; lane < 4; lane++) {
      let sum = 0;
      for (let j = 0; j < probe.accumulators; j++) sum += power * ((i & 1023) + 8 * lane + j) + shift;
      out[i * 4 + lane] = sum;
    }
  }
  return out;
}

/**
 * Copies a into out with the bandwidth probe: f32 tensors of equal size, a whole number of blocks of
 * workgroupSize · vectors vec4s.
 */
export function copyProbe(a: Tensor, out: Tensor, workgroupSize: number, vectors: number): void {
  const block = workgroupSize * vectors * 4;
  if (a.dtype !== 'f32' || out.dtype !== 'f32' || a.size !== out.size || a.size % block !== 0 || a.buffer === out.buffer) {
    throw new ShapeError(`copyProbe: needs two distinct f32 tensors of one size, a multiple of ${block} elements; got ${a} and ${out}`);
  }
  a.gpu.dispatch({
    label: 'ceiling.copy',
    code: copySource,
    constants: { WORKGROUP_SIZE: workgroupSize, VECTORS: vectors },
    buffers: [a, out],
    workgroups: linearWorkgroups(a.size / block, 1, a.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

export interface CeilingVariant {
  workgroupSize: number;
  accumulators: number;
  iterations: number;
  gflops: number;
}

export interface Ceiling {
  adapter: string;
  software: boolean;
  /** Best FMA rate over all variants, GFLOPS. */
  fmaGflops: number;
  /** The variant that reached it. */
  fmaBest: { workgroupSize: number; accumulators: number };
  /**
   * Best f16 FMA rate (vec4<f16> chains), GFLOPS, where the device has shader-f16; absent otherwise. A
   * kernel is given f16 arithmetic only where this beats fmaGflops.
   */
  fmaF16Gflops?: number;
  variants: CeilingVariant[];
  /** Best vec4 copy bandwidth, GB/s (bytes read + bytes written per second). */
  copyGBps: number;
  /** The copy variant that reached it. */
  copyBest: { workgroupSize: number; vectors: number };
  copyVariants: { workgroupSize: number; vectors: number; gbps: number }[];
  /** Size of the copied buffer, bytes. */
  copyBufferBytes: number;
  /** 'timestamp' (GPU timestamps) or 'wall' (submit to done, what software adapters get). */
  timing: 'timestamp' | 'wall';
  /** Wall seconds the measurement took. */
  seconds: number;
}

export interface CeilingOptions {
  /** Fewer variants, shorter runs, a 16 MiB copy: a smoke test in about a second. */
  quick?: boolean;
  /** Timed runs per variant; the best counts (default 3, quick 2). */
  repeats?: number;
  /** Each timed run is made to last at least this long (default 40 ms on software, 20 quick, 5 ms otherwise). */
  targetMs?: number;
}

/**
 * Measures the adapter's FMA ceiling and copy bandwidth. Every FMA variant's output is checked against
 * fmaProbeReference and the copy against its input, so a run the compiler shortened throws instead of
 * reporting a rate it never reached.
 */
export async function measureCeiling(gpu: Gpu, options: CeilingOptions = {}): Promise<Ceiling> {
  const started = performance.now();
  const quick = options.quick ?? false;
  const repeats = options.repeats ?? (quick ? 2 : 3);
  // Runs shorter than this drown in the submit-and-wait overhead a wall clock measures.
  const targetMs = options.targetMs ?? (gpu.isSoftware ? (quick ? 20 : 40) : 5);
  const timing: Ceiling['timing'] = gpu.isSoftware || !gpu.features.timestamps ? 'wall' : 'timestamp';
  // Software adapters run a workgroup per CPU thread: a few dozen keep every core busy. A GPU needs
  // hundreds of thousands of invocations in flight.
  const invocations = gpu.isSoftware ? 16_384 : 262_144;
  const sizes = quick ? [64, 256] : [...CEILING_WORKGROUP_SIZES];
  const accumulatorCounts = quick ? [1, 4] : [...CEILING_ACCUMULATORS];

  const variants: CeilingVariant[] = [];
  const out = gpu.empty([invocations, 4], 'f32', 'ceiling.fma.out');
  try {
    for (const workgroupSize of sizes) {
      if (workgroupSize > gpu.limits.maxComputeInvocationsPerWorkgroup) continue;
      for (const accumulators of accumulatorCounts) {
        const probe = { workgroupSize, accumulators, invocations, iterations: 1 };
        fmaProbe(gpu, probe, 1, 1, out); // builds the pipeline outside the timed runs
        await gpu.sync();
        const { count: iterations, ms } = await calibrate(gpu, timing, targetMs, MAX_FMA_ITERATIONS, repeats, (n) => {
          fmaProbe(gpu, { ...probe, iterations: n }, 1, 1, out);
        });
        const measured = { ...probe, iterations };
        checkFma(measured, await out.read());
        variants.push({ workgroupSize, accumulators, iterations, gflops: fmaProbeFlops(measured) / ms / 1e6 });
      }
    }
  } finally {
    out.release();
  }
  const best = variants.reduce((a, b) => (b.gflops > a.gflops ? b : a));
  const fmaF16Gflops = gpu.features.f16 ? await measureF16(gpu, timing, targetMs, repeats, invocations, quick) : undefined;

  const copy = await measureCopy(gpu, timing, targetMs, repeats, quick);
  return {
    adapter: gpu.adapterName,
    software: gpu.isSoftware,
    fmaGflops: best.gflops,
    fmaBest: { workgroupSize: best.workgroupSize, accumulators: best.accumulators },
    ...(fmaF16Gflops === undefined ? {} : { fmaF16Gflops }),
    variants,
    copyGBps: copy.best.gbps,
    copyBest: { workgroupSize: copy.best.workgroupSize, vectors: copy.best.vectors },
    copyVariants: copy.variants,
    copyBufferBytes: copy.bytes,
    timing,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The f16 rate: the f32 sweep's widest shapes (many chains is where a packed f16 unit would show), with
 * addend 0 so that every value stays an exact f16 integer however long the run.
 */
async function measureF16(gpu: Gpu, timing: Ceiling['timing'], targetMs: number, repeats: number, invocations: number, quick: boolean): Promise<number> {
  let best = 0;
  const out = gpu.empty([invocations, 4], 'f32', 'ceiling.fma16.out');
  try {
    for (const workgroupSize of quick ? [64] : [64, 256]) {
      if (workgroupSize > gpu.limits.maxComputeInvocationsPerWorkgroup) continue;
      for (const accumulators of quick ? [8] : [4, 8]) {
        const probe = { workgroupSize, accumulators, invocations, iterations: 1 };
        fmaProbe(gpu, probe, 1, 0, out, 'f16');
        await gpu.sync();
        const { count: iterations, ms } = await calibrate(gpu, timing, targetMs, MAX_FMA_ITERATIONS, repeats, (n) => {
          fmaProbe(gpu, { ...probe, iterations: n }, 1, 0, out, 'f16');
        });
        checkFma({ ...probe, iterations }, await out.read(), 0);
        best = Math.max(best, fmaProbeFlops({ ...probe, iterations }) / ms / 1e6);
      }
    }
  } finally {
    out.release();
  }
  return best;
}

function checkFma(probe: FmaProbe, got: Float32Array, addend = 1): void {
  const expected = fmaProbeReference(probe, 1, addend);
  for (let i = 0; i < expected.length; i++) {
    if (got[i] !== expected[i]) {
      throw new DeviceError(
        `ceiling FMA probe (workgroup ${probe.workgroupSize}, ${probe.accumulators} accumulators, ${probe.iterations} iterations) ` +
          `returned ${got[i]} at element ${i}, expected ${expected[i]}: the adapter's compiler changed the arithmetic`,
      );
    }
  }
}

async function measureCopy(gpu: Gpu, timing: Ceiling['timing'], targetMs: number, repeats: number, quick: boolean) {
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  // Large enough to leave every CPU cache behind, small enough for WebGPU's default 128 MiB binding.
  const wanted = quick ? 16 * 2 ** 20 : gpu.isSoftware ? 64 * 2 ** 20 : 256 * 2 ** 20;
  const largestBlock = Math.max(...COPY_WORKGROUP_SIZES) * Math.max(...COPY_VECTORS) * 16;
  const bytes = Math.floor(Math.min(wanted, limit) / largestBlock) * largestBlock;
  const elements = bytes / 4;
  const input = new Float32Array(elements);
  for (let i = 0; i < elements; i++) input[i] = i;
  const zeros = new Float32Array(elements);
  const a = gpu.upload(input, [elements], 'f32', 'ceiling.copy.in');
  const b = gpu.empty([elements], 'f32', 'ceiling.copy.out');
  const variants: Ceiling['copyVariants'] = [];
  try {
    for (const workgroupSize of quick ? [256] : COPY_WORKGROUP_SIZES) {
      if (workgroupSize > gpu.limits.maxComputeInvocationsPerWorkgroup) continue;
      for (const vectors of quick ? [1, 4] : COPY_VECTORS) {
        gpu.write(b.buffer, zeros);
        copyProbe(a, b, workgroupSize, vectors); // builds the pipeline outside the timed runs
        await gpu.sync();
        const { count, ms } = await calibrate(gpu, timing, targetMs, 1024, repeats, (n) => {
          for (let r = 0; r < n; r++) copyProbe(a, b, workgroupSize, vectors);
        });
        const copied = await b.read();
        for (let i = 0; i < elements; i++) {
          if (copied[i] !== i) throw new DeviceError(`ceiling copy probe (workgroup ${workgroupSize}, ${vectors} vec4s each) returned ${copied[i]} at element ${i}, expected ${i}`);
        }
        variants.push({ workgroupSize, vectors, gbps: (copyBytes(elements) * count) / ms / 1e6 });
      }
    }
  } finally {
    a.release();
    b.release();
  }
  const best = variants.reduce((x, y) => (y.gbps > x.gbps ? y : x));
  return { best, variants, bytes };
}

/**
 * Doubles `count` from 1 until one run of `work(count)` lasts targetMs (or count reaches max), then
 * returns the fastest of `repeats` runs at that count.
 */
async function calibrate(gpu: Gpu, timing: Ceiling['timing'], targetMs: number, max: number, repeats: number, work: (count: number) => void): Promise<{ count: number; ms: number }> {
  let count = 1;
  let ms = await timeOnce(gpu, timing, () => work(count));
  while (ms < targetMs && count < max) {
    count = Math.min(max, count * Math.max(2, Math.min(16, 2 ** Math.floor(Math.log2(targetMs / Math.max(ms, 1e-3))))));
    ms = await timeOnce(gpu, timing, () => work(count));
  }
  for (let r = 1; r < repeats; r++) ms = Math.min(ms, await timeOnce(gpu, timing, () => work(count)));
  return { count, ms };
}

async function timeOnce(gpu: Gpu, timing: Ceiling['timing'], work: () => void): Promise<number> {
  if (timing === 'timestamp') return (await gpu.time(work)).ns / 1e6;
  await gpu.sync();
  const start = performance.now();
  work();
  await gpu.sync();
  return performance.now() - start;
}

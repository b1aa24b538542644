// The adapter's measured ceilings (src/kernels/ceiling.ts) for benchmarks: measured once per process,
// and the fraction of the ceiling that bounds a kernel, for the column every kernel figure carries.
// Compute-bound kernels (GEMM, attention, the location encoder, image embeddings) are held against the
// FMA ceiling; memory-bound ones (search, copies) against the copy bandwidth.
import { loadavg } from 'node:os';
import { measureCeiling, type Ceiling, type CeilingOptions } from '../../src/kernels/ceiling.js';
import type { Gpu } from '../../src/runtime/index.js';

export type { Ceiling } from '../../src/kernels/ceiling.js';
export type Bound = 'fma' | 'bandwidth';

const measured = new WeakMap<Gpu, Promise<Ceiling>>();

/**
 * The ceiling of this process's adapter, measured on first use (a few seconds; `quick` for smoke runs,
 * also set by GEOLENS_CEILING_QUICK=1). Prints one line with the machine's load average, since a
 * software adapter's ceiling is shared with whatever else the CPU cores run.
 */
export function benchCeiling(gpu: Gpu, options: CeilingOptions = {}, print = true): Promise<Ceiling> {
  let pending = measured.get(gpu);
  if (!pending) {
    const quick = options.quick ?? process.env.GEOLENS_CEILING_QUICK === '1';
    pending = measureCeiling(gpu, { ...options, quick }).then((ceiling) => {
      if (print) console.log(ceilingLine(ceiling));
      return ceiling;
    });
    measured.set(gpu, pending);
  }
  return pending;
}

export function ceilingLine(ceiling: Ceiling): string {
  const { workgroupSize, accumulators } = ceiling.fmaBest;
  const f16 = ceiling.fmaF16Gflops === undefined ? '' : `, f16 FMA ${ceiling.fmaF16Gflops.toFixed(1)} GFLOPS`;
  return `ceiling: FMA ${ceiling.fmaGflops.toFixed(1)} GFLOPS (workgroup ${workgroupSize}, ${accumulators} accumulators)${f16}, ` +
    `copy ${ceiling.copyGBps.toFixed(2)} GB/s (${ceiling.copyBufferBytes / 2 ** 20} MiB, workgroup ${ceiling.copyBest.workgroupSize}, ${ceiling.copyBest.vectors} vec4s each), load average ${loadavg()[0]!.toFixed(2)}`;
}

/** A kernel's rate as a fraction of its bounding ceiling (0.25 = 25 %). */
export function ceilingFraction(ceiling: Ceiling, bound: Bound, rate: { gflops?: number; gbs?: number }): number | undefined {
  const value = bound === 'fma' ? rate.gflops : rate.gbs;
  const top = bound === 'fma' ? ceiling.fmaGflops : ceiling.copyGBps;
  return value !== undefined && Number.isFinite(value) && top > 0 ? value / top : undefined;
}

/** "23% of FMA" / "61% of copy": the column text. */
export function formatFraction(fraction: number | undefined, bound: Bound): string {
  if (fraction === undefined) return '';
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)}% of ${bound === 'fma' ? 'FMA' : 'copy'}`;
}

/** Both at once, from flops (or bytes) and milliseconds. */
export function ofCeiling(ceiling: Ceiling, bound: Bound, amount: number, ms: number): string {
  const rate = amount / ms / 1e6;
  return formatFraction(ceilingFraction(ceiling, bound, bound === 'fma' ? { gflops: rate } : { gbs: rate }), bound);
}

// Shared helpers for benchmarks under bench/: the adapter line, GFLOPS / GB/s formatting, and timing GPU
// work either with benchmark.js (deferred tests that end on gpu.sync(), so a sample covers submit, the
// GPU work and the wait) or with the GPU's own timestamps where the adapter has them.
import Benchmark from 'benchmark';
import { getDevice, type Gpu } from '../../src/runtime/index.js';

/** The shared device, without the "using ..." line (benches print adapterLine instead). */
export function benchGpu(): Promise<Gpu> {
  process.env.GEOLENS_QUIET ??= '1';
  return getDevice();
}

export function adapterLine(gpu: Gpu): string {
  const timing = gpu.features.timestamps ? 'timestamp-query' : 'wall clock only';
  return `adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}, ${timing}`;
}

/** Three significant digits, so small rates (a compute-bound kernel's GB/s) still show. */
function rate(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

export function formatGflops(flops: number, ms: number): string {
  return `${rate(flops / ms / 1e6)} GFLOPS`;
}

export function formatGBs(bytes: number, ms: number): string {
  return `${rate(bytes / ms / 1e6)} GB/s`;
}

export function formatMs(ms: number): string {
  return `${ms.toFixed(ms < 10 ? 3 : 1)} ms`;
}

export interface Timing {
  /** Mean milliseconds per call. */
  ms: number;
  /** Relative margin of error of the mean, percent (benchmark.js's rme). */
  rme: number;
  samples: number;
  /**
   * Process CPU milliseconds per call (all threads). On a software adapter that is the GPU work itself,
   * and it moves much less than wall time when other processes share the cores.
   */
  cpuMs: number;
}

export interface TimingOptions {
  /** Seconds benchmark.js keeps sampling (default 2; slow work still gets minSamples). */
  maxTime?: number;
  minSamples?: number;
}

/**
 * Times `work` (which records dispatches) with benchmark.js as a deferred test: each call records the
 * work and resolves when gpu.sync() does. Runs one untimed call first so pipeline compiles stay out.
 */
export async function timeGpu(gpu: Gpu, name: string, work: () => void, options: TimingOptions = {}): Promise<Timing> {
  work();
  await gpu.sync();
  let calls = 0;
  const cpuStart = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer: true,
      minSamples: options.minSamples ?? 3,
      maxTime: options.maxTime ?? 2,
      initCount: 1,
      delay: 0,
      fn(deferred: Benchmark.Deferred) {
        calls++;
        work();
        gpu.sync().then(() => deferred.resolve(), reject);
      },
      onComplete(this: Benchmark) {
        if (this.error) reject(this.error);
        const cpu = process.cpuUsage(cpuStart);
        const cpuMs = (cpu.user + cpu.system) / 1000 / Math.max(1, calls);
        if (this.error) reject(this.error);
        else resolve({ ms: this.stats.mean * 1000, rme: this.stats.rme, samples: this.stats.sample.length, cpuMs });
      },
      onError(this: Benchmark, event: Benchmark.Event) {
        reject(this.error ?? new Error(`${name} failed: ${String(event.type)}`));
      },
    });
    bench.run({ async: true });
  });
}

/** Median GPU milliseconds of `repeats` timed passes (timestamp queries, else wall clock around submit). */
export async function gpuMilliseconds(gpu: Gpu, work: () => void, repeats = 5): Promise<{ ms: number; source: string }> {
  work();
  await gpu.sync();
  const times: number[] = [];
  let source = '';
  for (let r = 0; r < repeats; r++) {
    const result = await gpu.time(work);
    times.push(result.ns / 1e6);
    source = result.source;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, source };
}

/** Pads columns to a table: the first left-aligned, the rest right-aligned. */
export function formatRow(columns: string[], widths: number[]): string {
  return columns.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
}

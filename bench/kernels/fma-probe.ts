// The FMA ceiling the kernel benches measure fractions against, and their best-of-N timing. Not a bench
// itself (no .bench.ts); imported by gemm-shapes.bench.ts and attention.bench.ts.
import { cpus } from 'node:os';
import type { Gpu } from '../../src/runtime/index.js';

// Independent fma chains, 4 vec4 accumulators an invocation (16 lanes' worth of registers on an 8-lane
// CPU device, enough in flight to cover FMA latency), no memory traffic in the loop.
const CEILING_WGSL = /* wgsl */ `
@group(0) @binding(0) var<uniform> iterations: vec4u;
@group(0) @binding(1) var<storage, read_write> sink: array<vec4f>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let m = vec4f(0.999999);
  let c = vec4f(1e-7);
  var a = vec4f(f32(g.x) * 1e-9);
  var b = a + 0.25;
  var d = a + 0.5;
  var f = a + 0.75;
  for (var i = 0u; i < iterations.x; i++) {
    a = fma(a, m, c); b = fma(b, m, c); d = fma(d, m, c); f = fma(f, m, c);
  }
  sink[g.x] = a + b + d + f;
}`;
const CEILING_INVOCATIONS = 64 * 256;

let useCpu = false;
/**
 * Count process CPU time over the cores instead of wall time. On a software adapter the device is this
 * process's threads, so CPU time counts the work itself and moves less when neighbours load the cores.
 */
export function setCpuClock(on: boolean): void {
  useCpu = on;
}

/** Best of `repeats` timed passes (after one untimed): another process can only make a pass slower. */
export async function bestMs(gpu: Gpu, work: () => void, repeats: number): Promise<number> {
  work();
  await gpu.sync();
  let ms = Infinity;
  for (let r = 0; r < repeats; r++) {
    const cpu0 = process.cpuUsage();
    const wall = (await gpu.time(work)).ns / 1e6;
    const cpu = process.cpuUsage(cpu0);
    ms = Math.min(ms, useCpu ? (cpu.user + cpu.system) / 1000 / cpus().length : wall);
  }
  return ms;
}

/** GFLOPS of the FMA kernel (a multiply-add as 2): what this adapter reaches at best. */
export async function fmaCeilingGflops(gpu: Gpu, repeats: number): Promise<number> {
  const sink = gpu.empty([CEILING_INVOCATIONS * 4], 'f32', 'ceiling.sink');
  const iterations = 1024;
  const ms = await bestMs(gpu, () => gpu.dispatch({ label: 'bench.ceiling', code: CEILING_WGSL, uniforms: new Uint32Array([iterations, 0, 0, 0]), buffers: [sink], workgroups: [CEILING_INVOCATIONS / 64] }), repeats);
  sink.release();
  return (CEILING_INVOCATIONS * iterations * 16 * 2) / ms / 1e6;
}

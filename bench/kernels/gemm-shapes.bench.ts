// GEMM variants against the device's FMA ceiling at the ViT shapes:
//   `node build.mjs --bench gemm-shapes && node bench/run.mjs kernels gemm-shapes`
// First a tiny FMA kernel measures what this adapter can do at best (independent fma chains, no memory
// traffic); then every variant runs at each shape, f32 weights, and prints GFLOPS and its fraction of that
// ceiling, interleaved (variant, ceiling, variant, …) so a neighbour's load moves both alike. Each figure is
// the best of GEMM_REPEATS (default 3) timed passes: other processes can only make a pass slower.
// GEMM_SHAPES=b32|l14 limits the shapes; GEMM_VARIANTS_ONLY=a,b limits the variants.
import { GEMM_VARIANTS, gemmFlops, linear } from '../../src/kernels/gemm.js';
import type { Gpu } from '../../src/runtime/index.js';
import { randomArray } from '../../test/support/numeric.js';
import { adapterLine, benchGpu } from '../support/bench.js';
import { cpus, loadavg } from 'node:os';

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

/**
 * Best of `repeats` passes, in wall ms and in process CPU ms. On a software adapter the device is this
 * process's threads, so CPU time counts the work itself and barely moves when neighbours load the cores;
 * `cpu` figures are GFLOPS on idle cores (flops over CPU seconds per core in use).
 */
let useCpu = false;
async function best(gpu: Gpu, work: () => void, repeats: number): Promise<number> {
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

async function ceilingGflops(gpu: Gpu, repeats: number): Promise<number> {
  const sink = gpu.empty([CEILING_INVOCATIONS * 4], 'f32', 'ceiling.sink');
  const iterations = 1024;
  const ms = await best(gpu, () => gpu.dispatch({ label: 'bench.ceiling', code: CEILING_WGSL, uniforms: new Uint32Array([iterations, 0, 0, 0]), buffers: [sink], workgroups: [CEILING_INVOCATIONS / 64] }), repeats);
  sink.release();
  return (CEILING_INVOCATIONS * iterations * 16 * 2) / ms / 1e6;
}

const SHAPES = [
  { label: 'B/32 qkv 50×768×2304', m: 50, k: 768, n: 2304, set: 'b32' },
  { label: 'B/32 fc1 50×768×3072', m: 50, k: 768, n: 3072, set: 'b32' },
  { label: 'B/32 fc2 50×3072×768', m: 50, k: 3072, n: 768, set: 'b32' },
  { label: 'L/14 qkv 257×1024×3072', m: 257, k: 1024, n: 3072, set: 'l14' },
  { label: 'L/14 fc1 257×1024×4096', m: 257, k: 1024, n: 4096, set: 'l14' },
  { label: 'L/14 fc2 257×4096×1024', m: 257, k: 4096, n: 1024, set: 'l14' },
];

const gpu = await benchGpu();
useCpu = process.env.GEMM_CLOCK === 'cpu';
const repeats = Number(process.env.GEMM_REPEATS ?? 3);
const only = process.env.GEMM_VARIANTS_ONLY?.split(',');
const variants = GEMM_VARIANTS.filter((v) => (only ? only.includes(v.name) : v.kind !== 'naive' && v.kind !== 'tiled'));
const shapes = SHAPES.filter((s) => !process.env.GEMM_SHAPES || process.env.GEMM_SHAPES.split(',').includes(s.set));
console.log(adapterLine(gpu));
console.log(`${useCpu ? 'process CPU time over ' + cpus().length + ' cores' : 'wall clock'}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
// The ceiling is the best of every measurement in the run: a slow sample is a neighbour's doing.
let ceiling = await ceilingGflops(gpu, repeats);
const table: { shape: string; rows: [string, number][] }[] = [];
for (const shape of shapes) {
  const x = gpu.upload(randomArray(shape.m * shape.k, 1), [shape.m, shape.k]);
  const w = gpu.upload(randomArray(shape.n * shape.k, 2, 1 / Math.sqrt(shape.k)), [shape.n, shape.k]);
  const y = gpu.empty([shape.m, shape.n]);
  const flops = gemmFlops(shape.m, shape.k, shape.n);
  const rows: [string, number][] = [];
  for (const variant of [...variants.map((v) => v.name), 'linear()']) {
    const ms = await best(gpu, () => linear(x, w, { out: y, variant: variant === 'linear()' ? undefined : variant }), repeats);
    ceiling = Math.max(ceiling, await ceilingGflops(gpu, 1));
    rows.push([variant, flops / ms / 1e6]);
  }
  table.push({ shape: shape.label, rows });
  for (const t of [x, w, y]) t.release();
}
console.log(`FMA ceiling ${ceiling.toFixed(1)} GFLOPS (best of ${table.length * (variants.length + 1) + repeats} samples)`);
for (const { shape, rows } of table) {
  console.log(shape);
  const fastest = Math.max(...rows.map((r) => r[1]));
  for (const [name, gflops] of rows) {
    console.log(`  ${name.padEnd(18)} ${gflops.toFixed(2).padStart(7)} GFLOPS  ${((100 * gflops) / ceiling).toFixed(0).padStart(3)}% of ceiling${gflops === fastest ? '  fastest' : ''}`);
  }
}
console.log(`\nload average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
process.exit(0);

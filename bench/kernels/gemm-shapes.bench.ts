// GEMM variants against the device's FMA ceiling at the ViT shapes:
//   `node build.mjs --bench gemm-shapes && node bench/run.mjs kernels gemm-shapes`
// First a tiny FMA kernel measures what this adapter can do at best (independent fma chains, no memory
// traffic); then every variant runs at each shape, f32 weights, and prints GFLOPS and its fraction of that
// ceiling, interleaved (variant, ceiling, variant, …) so a neighbour's load moves both alike. Each figure is
// the best of GEMM_REPEATS (default 3) timed passes: other processes can only make a pass slower.
// GEMM_SHAPES=b32|l14 limits the shapes; GEMM_VARIANTS_ONLY=a,b limits the variants.
import { GEMM_VARIANTS, gemmFlops, gemmVariantRuns, linear } from '../../src/kernels/gemm.js';
import { randomArray } from '../../test/support/numeric.js';
import { adapterLine, benchGpu } from '../support/bench.js';
import { bestMs, fmaCeilingGflops, setCpuClock } from './fma-probe.js';
import { benchCeiling } from '../support/ceiling.js';
import { cpus, loadavg } from 'node:os';

const SHAPES = [
  { label: 'B/32 qkv 50×768×2304', m: 50, k: 768, n: 2304, set: 'b32' },
  { label: 'B/32 fc1 50×768×3072', m: 50, k: 768, n: 3072, set: 'b32' },
  { label: 'B/32 fc2 50×3072×768', m: 50, k: 3072, n: 768, set: 'b32' },
  { label: 'L/14 qkv 257×1024×3072', m: 257, k: 1024, n: 3072, set: 'l14' },
  { label: 'L/14 fc1 257×1024×4096', m: 257, k: 1024, n: 4096, set: 'l14' },
  { label: 'L/14 fc2 257×4096×1024', m: 257, k: 4096, n: 1024, set: 'l14' },
];

const gpu = await benchGpu();
const useCpu = process.env.GEMM_CLOCK === 'cpu';
setCpuClock(useCpu);
const repeats = Number(process.env.GEMM_REPEATS ?? 3);
const only = process.env.GEMM_VARIANTS_ONLY?.split(',');
const variants = GEMM_VARIANTS.filter((v) => gemmVariantRuns(gpu, v) && (only ? only.includes(v.name) : v.kind !== 'naive' && v.kind !== 'tiled'));
const shapes = SHAPES.filter((s) => !process.env.GEMM_SHAPES || process.env.GEMM_SHAPES.split(',').includes(s.set));
console.log(adapterLine(gpu));
console.log(`${useCpu ? 'process CPU time over ' + cpus().length + ' cores' : 'wall clock'}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
// The adapter's ceiling as src/kernels/ceiling.ts measures it (wall clock, best FMA variant), printed for
// reference; the fractions below are of the interleaved probe, timed with the same clock as the variants.
const measured = await benchCeiling(gpu);
// The probe's ceiling is the best of every measurement in the run: a slow sample is a neighbour's doing.
let ceiling = await fmaCeilingGflops(gpu, repeats);
const table: { shape: string; rows: [string, number][] }[] = [];
for (const shape of shapes) {
  const x = gpu.upload(randomArray(shape.m * shape.k, 1), [shape.m, shape.k]);
  const w = gpu.upload(randomArray(shape.n * shape.k, 2, 1 / Math.sqrt(shape.k)), [shape.n, shape.k]);
  const y = gpu.empty([shape.m, shape.n]);
  const flops = gemmFlops(shape.m, shape.k, shape.n);
  const rows: [string, number][] = [];
  for (const variant of [...variants.map((v) => v.name), 'linear()']) {
    // As each variant runs when chosen (a short last row block in a smaller one), so linear()'s row is one of them.
    const ms = await bestMs(gpu, () => linear(x, w, { out: y, variant: variant === 'linear()' ? undefined : variant, splitTail: true }), repeats);
    ceiling = Math.max(ceiling, await fmaCeilingGflops(gpu, 1));
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
    console.log(`  ${name.padEnd(18)} ${gflops.toFixed(2).padStart(7)} GFLOPS  ${((100 * gflops) / ceiling).toFixed(0).padStart(3)}% of probe  ${((100 * gflops) / measured.fmaGflops).toFixed(0).padStart(3)}% of measureCeiling${gflops === fastest ? '  fastest' : ''}`);
  }
}
console.log(`\nload average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
process.exit(0);

// GEMM benchmark: `node build.mjs --bench gemm && node bench/run.mjs kernels gemm`
//   (GEMM_FULL=1 also times naive at every ViT shape; slow on software adapters)
// Part 1, the ladder: every variant at M×K×N = 256×1024×1024, with its speed-up over naive.
// Part 2, linear() with no variant named (the one it chooses on this adapter, and a smaller register
//   block for a short last block of rows), at the ViT shapes a CLIP forward pass runs (ViT-B/32: 50
//   tokens; ViT-L/14: 257 tokens), with f32, f16 and block-quantized q8 / q4 weights (dequantized in
//   registers; their GB/s count the packed bytes). GEMM_VIT_ONLY=1 skips part 1.
// ms is the benchmark.js mean of record + submit + wait (gpu.sync()); GFLOPS counts 2·M·K·N; GB/s counts
// compulsory traffic: x and w read once, y written once. On software adapters a last column gives process
// CPU ms per call and the GFLOPS that would make on 2 otherwise idle cores: steadier than wall time when
// other processes share the machine.
import { chosenVariantName, gemmFlops, linear, runnableGemmVariants } from '../../src/kernels/gemm.js';
import { quantizeMatrix, uploadQuantized } from '../../src/kernels/quantize.js';
import { floatsToHalves, type Gpu, type QuantizedDType, type Tensor } from '../../src/runtime/index.js';
import { randomArray } from '../../test/support/numeric.js';
import { adapterLine, benchGpu, formatGBs, formatGflops, formatMs, formatRow, timeGpu, type Timing } from '../support/bench.js';
import { benchCeiling, ofCeiling } from '../support/ceiling.js';

interface Shape {
  label: string;
  m: number;
  k: number;
  n: number;
}

const LADDER: Shape = { label: '256×1024×1024', m: 256, k: 1024, n: 1024 };
const VIT: Shape[] = [
  { label: 'B/32 qkv    50×768×2304', m: 50, k: 768, n: 2304 },
  { label: 'B/32 fc1    50×768×3072', m: 50, k: 768, n: 3072 },
  { label: 'B/32 fc2    50×3072×768', m: 50, k: 3072, n: 768 },
  { label: 'L/14 qkv   257×1024×3072', m: 257, k: 1024, n: 3072 },
  { label: 'L/14 fc1   257×1024×4096', m: 257, k: 1024, n: 4096 },
  { label: 'L/14 fc2   257×4096×1024', m: 257, k: 4096, n: 1024 },
  { label: 'L/14       257×768×768', m: 257, k: 768, n: 768 },
];
const WIDTHS = [34, 11, 7, 14, 12, 11, 11, 30];

function bytes({ m, k, n }: Shape, weightBytes = 4): number {
  return (m * k + m * n) * 4 + n * k * weightBytes;
}

function operands(gpu: Gpu, { m, k, n }: Shape, f16 = false): { x: Tensor; w: Tensor; y: Tensor } {
  const x = gpu.upload(randomArray(m * k, 1), [m, k]);
  const w32 = randomArray(n * k, 2, 1 / Math.sqrt(k));
  const w = f16 ? gpu.upload(floatsToHalves(w32), [n, k], 'f16') : gpu.upload(w32, [n, k]);
  return { x, w, y: gpu.empty([m, n]) };
}

function row(gpu: Gpu, name: string, shape: Shape, t: Timing, weightBytes: number, extra: string): string {
  const flops = gemmFlops(shape.m, shape.k, shape.n);
  const cpu = gpu.isSoftware ? `cpu ${formatMs(t.cpuMs)} ≈ ${formatGflops(2 * flops, t.cpuMs)}@2` : '';
  return formatRow([name, formatMs(t.ms), `±${t.rme.toFixed(0)}%`, formatGflops(flops, t.ms), formatGBs(bytes(shape, weightBytes), t.ms), ofCeiling(ceiling, 'fma', flops, t.ms), extra, cpu], WIDTHS);
}

/** variant undefined: what linear() does by itself (its chosen variant, plus a smaller block for a short tail). */
async function time(gpu: Gpu, shape: Shape, variant: string | undefined, f16 = false): Promise<Timing> {
  const { x, w, y } = operands(gpu, shape, f16);
  // Slow rungs (seconds per call) still get two samples; fast ones sample for 1.5 seconds.
  const timing = await timeGpu(gpu, `${variant ?? 'linear'} ${shape.label}`, () => linear(x, w, { out: y, variant }), { minSamples: 2, maxTime: 1.5 });
  for (const t of [x, w, y]) t.release();
  return timing;
}

/** Weight bytes per element of each quantized scheme: the values plus one f16 scale per 32. */
const QUANTIZED_BYTES: Record<QuantizedDType, number> = { q8: 1 + 2 / 32, q4: 0.5 + 2 / 32 };

async function timeQuantized(gpu: Gpu, shape: Shape, dtype: QuantizedDType): Promise<Timing> {
  const { m, k, n } = shape;
  const x = gpu.upload(randomArray(m * k, 1), [m, k]);
  const w = uploadQuantized(gpu, quantizeMatrix(randomArray(n * k, 2, 1 / Math.sqrt(k)), [n, k], dtype));
  const y = gpu.empty([m, n]);
  const timing = await timeGpu(gpu, `linear ${dtype} ${shape.label}`, () => linear(x, w, { out: y }), { minSamples: 2, maxTime: 1.5 });
  for (const t of [x, w, y]) t.release();
  return timing;
}

const gpu = await benchGpu();
const chosen = chosenVariantName(gpu);
console.log(adapterLine(gpu));
const ceiling = await benchCeiling(gpu);
console.log(`linear() uses "${chosen}" here; timings are wall clock per call, noisy on a shared machine\n`);

console.log(`ladder at M×K×N = ${LADDER.label}, f32 weights`);
let naiveMs = 0;
for (const variant of process.env.GEMM_VIT_ONLY === '1' ? [] : runnableGemmVariants(gpu)) {
  const t = await time(gpu, LADDER, variant.name);
  if (variant.name === 'naive') naiveMs = t.ms;
  console.log(row(gpu, `  ${variant.name}`, LADDER, t, 4, `${(naiveMs / t.ms).toFixed(1)}× naive`));
}

const full = process.env.GEMM_FULL === '1';
console.log(`\nlinear() as a model calls it (${chosen}, short last row blocks in a smaller block) at ViT shapes (M×K×N)`);
for (const shape of VIT) {
  const t32 = await time(gpu, shape, undefined);
  const t16 = await time(gpu, shape, undefined, true);
  const vsNaive = full ? `${((await time(gpu, shape, 'naive')).ms / t32.ms).toFixed(1)}× naive` : '';
  console.log(row(gpu, `  ${shape.label} f32`, shape, t32, 4, vsNaive));
  console.log(row(gpu, `  ${shape.label} f16`, shape, t16, 2, ''));
  for (const dtype of ['q8', 'q4'] as const) {
    const t = await timeQuantized(gpu, shape, dtype);
    console.log(row(gpu, `  ${shape.label} ${dtype}`, shape, t, QUANTIZED_BYTES[dtype], `${(t32.ms / t.ms).toFixed(2)}× f32`));
  }
}
process.exit(0);

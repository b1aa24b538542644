// Fused attention at the transformer shapes geolens runs:
//   node build.mjs --bench attention && node bench/run.mjs kernels attention
// Per shape: GPU ms (timestamp queries where present), GFLOPS counting 4·S²·hd·heads flops per image
// (q·k and p·v, a multiply-add as 2; causal counts the S(S+1)/2 pairs it computes), GB/s of compulsory
// traffic (qkv read once, output written once), then benchmark.js's wall ms per call (submit + GPU + wait)
// and, on software adapters, CPU ms per call, which other processes on the same cores barely move.
//
// How the kernel got here on SwiftShader (Subzero), CPU-time GFLOPS at heads 16, seq 257:
//   one invocation per query, branchy scalar loads          0.2
//   4 queries × 4 keys per step as one mat4x4 block          0.5
//   branch-free chunk loads (select instead of if)           1.2-1.4
import { attention, attentionKernels, defaultAttentionKernel } from '../../src/kernels/attention.js';
import type { Tensor } from '../../src/runtime/index.js';
import { adapterLine, benchGpu, formatGBs, formatGflops, formatMs, formatRow, gpuMilliseconds, timeGpu } from '../support/bench.js';
import { bestMs, fmaCeilingGflops } from './fma-probe.js';
import { benchCeiling, ofCeiling } from '../support/ceiling.js';

interface Shape {
  heads: number;
  seq: number;
  headDim: number;
  batch: number;
  causal?: boolean;
  what: string;
}

const SHAPES: Shape[] = [
  { heads: 12, seq: 50, headDim: 64, batch: 1, what: 'ViT-B/32 layer' },
  { heads: 16, seq: 257, headDim: 64, batch: 1, what: 'ViT-L/14 layer (GeoCLIP)' },
  { heads: 8, seq: 77, headDim: 64, batch: 1, causal: true, what: 'CLIP text layer' },
];

function flops({ heads, seq, headDim, batch, causal }: Shape): number {
  const pairs = causal ? (seq * (seq + 1)) / 2 : seq * seq;
  return 4 * pairs * headDim * heads * batch;
}

function bytes({ heads, seq, headDim, batch }: Shape): number {
  return (3 + 1) * heads * headDim * seq * batch * 4;
}

const gpu = await benchGpu();
console.log(adapterLine(gpu));
const ceiling = await benchCeiling(gpu);
const widths = [72, 10, 16, 11, 14, 14, 14];
for (const shape of SHAPES) {
  const width = shape.heads * shape.headDim;
  const data = new Float32Array(shape.batch * shape.seq * 3 * width).map((_, i) => Math.sin(i) * 0.5);
  const qkv = gpu.upload(data, [shape.batch, shape.seq, 3 * width]);
  let out: Tensor | null = null;
  const work = () => {
    out?.release();
    out = attention(qkv, shape.heads, { causal: shape.causal });
  };
  const gpuTime = await gpuMilliseconds(gpu, work, 5);
  const wall = await timeGpu(gpu, 'attention', work, { maxTime: 2 });
  const name = `attention heads ${shape.heads} seq ${shape.seq} hd ${shape.headDim} batch ${shape.batch}${shape.causal ? ' causal' : ''} (${shape.what})`;
  console.log(
    formatRow(
      [
        name,
        `${formatMs(gpuTime.ms)}`,
        formatGflops(flops(shape), gpuTime.ms),
        ofCeiling(ceiling, 'fma', flops(shape), gpuTime.ms),
        formatGBs(bytes(shape), gpuTime.ms),
        `wall ${formatMs(wall.ms)}`,
        gpu.isSoftware ? `cpu ${formatMs(wall.cpuMs)}` : '',
      ],
      widths,
    ) + (gpu.isSoftware ? `  (${formatGflops(flops(shape), wall.cpuMs)} per busy core)` : ''),
  );
  (out as Tensor | null)?.release();
  qkv.release();
}

// Each kernel the tuner may pick (the blocks kernel per workgroup size, the subgroup kernel where it runs),
// best of 5, against the FMA ceiling (best of every sample).
console.log(`\nkernels (default here at head dim 64: ${defaultAttentionKernel(gpu, 64)}), best of 5, fraction of the FMA ceiling`);
let probe = await fmaCeilingGflops(gpu, 3);
const sweep: [string, number, number][] = [];
for (const shape of SHAPES) {
  const width = shape.heads * shape.headDim;
  const qkv = gpu.upload(new Float32Array(shape.batch * shape.seq * 3 * width).map((_, i) => Math.sin(i) * 0.5), [shape.batch, shape.seq, 3 * width]);
  for (const kernel of attentionKernels(gpu, shape.headDim)) {
    let out: Tensor | null = null;
    const ms = await bestMs(gpu, () => {
      out?.release();
      out = attention(qkv, shape.heads, { causal: shape.causal, kernel });
    }, 5);
    (out as Tensor | null)?.release();
    probe = Math.max(probe, await fmaCeilingGflops(gpu, 1));
    sweep.push([`  heads ${shape.heads} seq ${shape.seq}${shape.causal ? ' causal' : ''} ${kernel}`, ms, flops(shape) / ms / 1e6]);
  }
  qkv.release();
}
console.log(`FMA probe ${probe.toFixed(1)} GFLOPS (measureCeiling above: ${ceiling.fmaGflops.toFixed(1)})`);
for (const [name, ms, gflops] of sweep) console.log(`${name.padEnd(44)} ${formatMs(ms).padStart(10)}  ${gflops.toFixed(2).padStart(6)} GFLOPS  ${((100 * gflops) / probe).toFixed(1).padStart(5)}% of probe  ${((100 * gflops) / ceiling.fmaGflops).toFixed(1).padStart(5)}% of measureCeiling`);
process.exit(0);

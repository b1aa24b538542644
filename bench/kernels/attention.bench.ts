// Attention benchmark: `node build.mjs --bench attention && node .build/bench/kernels/attention.bench.mjs`
// Prints the adapter, then per shape: GPU ms (timestamp queries, else wall clock), GFLOPS counting
// 4·S²·hd·heads flops per image (q·k and p·v, multiply-add as 2), and GB/s of compulsory traffic
// (qkv read once, output written once). benchmark.js adds a wall-clock figure including submit and sync.
// On a software adapter the process CPU time is printed too: SwiftShader runs the shader on this
// process's threads, so CPU ms does not grow when other processes share the cores (wall ms does).
import Benchmark from 'benchmark';
import { attention } from '../../src/kernels/attention.js';
import { getDevice, type Gpu, type Tensor } from '../../src/runtime/index.js';

interface Shape {
  heads: number;
  seq: number;
  headDim: number;
  batch: number;
  causal?: boolean;
}

const SHAPES: Shape[] = [
  { heads: 12, seq: 50, headDim: 64, batch: 1 },
  { heads: 16, seq: 257, headDim: 64, batch: 1 },
  { heads: 8, seq: 77, headDim: 64, batch: 1, causal: true },
];

function flops({ heads, seq, headDim, batch, causal }: Shape): number {
  // Causal attention does about half the work; count what it actually computes.
  const pairs = causal ? (seq * (seq + 1)) / 2 : seq * seq;
  return 4 * pairs * headDim * heads * batch;
}

function bytes({ heads, seq, headDim, batch }: Shape): number {
  return (3 + 1) * heads * headDim * seq * batch * 4;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function gpuMilliseconds(gpu: Gpu, qkv: Tensor, shape: Shape, repeats: number): Promise<{ ms: number; cpuMs: number; source: string }> {
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let source = '';
  for (let r = 0; r < repeats; r++) {
    const cpu = process.cpuUsage();
    const result = await gpu.time(() => attention(qkv, shape.heads, { causal: shape.causal }).release());
    const used = process.cpuUsage(cpu);
    cpuTimes.push((used.user + used.system) / 1000);
    times.push(result.ns / 1e6);
    source = result.source;
  }
  return { ms: median(times), cpuMs: median(cpuTimes), source };
}

function wallMilliseconds(gpu: Gpu, qkv: Tensor, shape: Shape): Promise<number> {
  return new Promise((resolve) => {
    new Benchmark(`attention`, {
      defer: true,
      minSamples: 5,
      maxTime: 2,
      fn: (deferred: { resolve(): void }) => {
        attention(qkv, shape.heads, { causal: shape.causal }).release();
        gpu.sync().then(() => deferred.resolve());
      },
      onComplete(this: Benchmark) {
        resolve(this.stats.mean * 1000);
      },
    }).run();
  });
}

const gpu = await getDevice({ log: () => {} });
console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}, timing: ${gpu.features.timestamps ? 'timestamp-query' : 'wall clock'}`);
for (const shape of SHAPES) {
  const width = shape.heads * shape.headDim;
  const data = new Float32Array(shape.batch * shape.seq * 3 * width).map((_, i) => Math.sin(i) * 0.5);
  const qkv = gpu.upload(data, [shape.batch, shape.seq, 3 * width]);
  await gpuMilliseconds(gpu, qkv, shape, 1); // compile and warm up
  const { ms, cpuMs, source } = await gpuMilliseconds(gpu, qkv, shape, 7);
  const wall = await wallMilliseconds(gpu, qkv, shape);
  const name = `heads ${shape.heads} seq ${shape.seq} hd ${shape.headDim} batch ${shape.batch}${shape.causal ? ' causal' : ''}`;
  console.log(
    `attention ${name.padEnd(40)} ${ms.toFixed(3).padStart(9)} ms (${source})  ` +
      `${(flops(shape) / ms / 1e6).toFixed(2).padStart(7)} GFLOPS  ${(bytes(shape) / ms / 1e6).toFixed(3).padStart(7)} GB/s  ` +
      `wall ${wall.toFixed(3)} ms` +
      (gpu.isSoftware ? `  cpu ${cpuMs.toFixed(1)} ms (${(flops(shape) / cpuMs / 1e6).toFixed(2)} GFLOPS per busy core)` : ''),
  );
  qkv.release();
}
process.exit(0);

// Row-wise kernels (LayerNorm, softmax, l2Normalize), every row strategy side by side:
//   node build.mjs --bench kernels/rows && node bench/run.mjs kernels rows
// Per shape and strategy (workgroup, invocation, subgroup where the adapter has subgroups): the best GPU
// ms of interleaved rounds (timestamp queries where present, else wall clock around submit), GB/s of
// compulsory traffic (x read once, out written once, gamma and beta once), and on software adapters the
// process CPU ms of that call, which other processes on the same cores barely move. The strategies take
// turns within a round, so a burst of load from elsewhere falls on all of them. The last column is what
// runs here with no tuning table (defaultRowStrategy) and what the tuner would pick from these timings.
import { layerNorm } from '../../src/kernels/layernorm.js';
import { l2Normalize } from '../../src/kernels/l2-normalize.js';
import { softmax } from '../../src/kernels/softmax.js';
import { defaultRowStrategy, rowStrategies, withRowStrategy, type RowOp, type RowStrategy } from '../../src/kernels/rows.js';
import type { Tensor } from '../../src/runtime/index.js';
import { adapterLine, benchGpu, formatGBs, formatMs, formatRow } from '../support/bench.js';

interface Shape {
  op: RowOp;
  rows: number;
  cols: number;
  what: string;
}

const SHAPES: Shape[] = [
  { op: 'layerNorm', rows: 50, cols: 768, what: 'ViT-B/32 tokens' },
  { op: 'layerNorm', rows: 257, cols: 1024, what: 'ViT-L/14 tokens (GeoCLIP)' },
  { op: 'layerNorm', rows: 400, cols: 768, what: 'ViT-B/32 tokens, batch 8' },
  { op: 'softmax', rows: 1, cols: 100_000, what: 'logits over the GPS gallery' },
  { op: 'l2Normalize', rows: 2048, cols: 512, what: 'gallery embeddings, one chunk' },
];
const ROUNDS = process.argv.includes('--quick') ? 3 : 9;

function bytes({ op, rows, cols }: Shape): number {
  return (2 * rows * cols + (op === 'layerNorm' ? 2 * cols : 0)) * 4;
}

const gpu = await benchGpu();
console.log(adapterLine(gpu));
const strategies = rowStrategies(gpu);
const lanes = (gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize;
console.log(`strategies: ${strategies.join(', ')}${strategies.includes('subgroup') ? ` (subgroup: ${lanes} lanes)` : ''}; best of ${ROUNDS} interleaved rounds`);
const widths = [52, 11, 11, 12, 13];
for (const shape of SHAPES) {
  const values = new Float32Array(shape.rows * shape.cols).map((_, i) => Math.sin(i) * 4);
  const x = gpu.upload(values, [shape.rows, shape.cols]);
  const gamma = gpu.upload(new Float32Array(shape.cols).fill(1), [shape.cols]);
  const op: () => Tensor = { layerNorm: () => layerNorm(x, gamma, gamma), softmax: () => softmax(x), l2Normalize: () => l2Normalize(x) }[shape.op];
  const run = (strategy: RowStrategy) => withRowStrategy(strategy, op).release();
  const best: Record<string, { ms: number; cpuMs: number }> = {};
  for (const strategy of strategies) run(strategy);
  await gpu.sync();
  for (let round = 0; round < ROUNDS; round++) {
    for (const strategy of strategies) {
      const cpuStart = process.cpuUsage();
      const { ns } = await gpu.time(() => run(strategy));
      const cpu = process.cpuUsage(cpuStart);
      const previous = best[strategy] ?? { ms: Infinity, cpuMs: Infinity };
      best[strategy] = { ms: Math.min(previous.ms, ns / 1e6), cpuMs: Math.min(previous.cpuMs, (cpu.user + cpu.system) / 1000) };
    }
  }
  x.release();
  gamma.release();
  const fastest = Object.entries(best).sort((a, b) => a[1].ms - b[1].ms)[0]![0];
  console.log(`${shape.op} [${shape.rows}, ${shape.cols}] (${shape.what}): default ${defaultRowStrategy(gpu)}, fastest ${fastest}`);
  for (const strategy of strategies) {
    const { ms, cpuMs } = best[strategy]!;
    console.log(formatRow([`  ${strategy}`, formatMs(ms), formatGBs(bytes(shape), ms), gpu.isSoftware ? `cpu ${formatMs(cpuMs)}` : '', `${(ms / best[fastest]!.ms).toFixed(2)}x`], widths));
  }
}
process.exit(0);

// Where one CLIP vision encoder layer spends its time, op by op, on random weights:
//
//   node build.mjs --bench model/layer-ops && node .build/bench/model/layer-ops.bench.mjs [B/32] [L/14]
//
// Each op of encoderLayer (src/model/clip/encoder.ts) is timed alone at the model's shapes (one image),
// best of a few timed passes, and printed with its share of the layer: what a fusion could save is at most
// the share of the ops it removes. The last line times the whole layer as the model runs it.
import { add } from '../../src/kernels/add.js';
import { attention } from '../../src/kernels/attention.js';
import { linear } from '../../src/kernels/gemm.js';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { encoderLayer, type EncoderLayer } from '../../src/model/clip/encoder.js';
import { CLIP_VISION_PRESETS } from '../../src/model/clip/vision.js';
import type { Gpu, Tensor } from '../../src/runtime/index.js';
import { adapterLine, benchGpu, formatMs } from '../support/bench.js';
import { fillRandom } from '../support/clip-weights.js';

async function best(gpu: Gpu, work: () => Tensor | void, passes = 5): Promise<number> {
  const run = () => {
    gpu.scope(() => {
      work();
    });
  };
  run();
  await gpu.sync();
  let ms = Infinity;
  for (let i = 0; i < passes; i++) ms = Math.min(ms, (await gpu.time(run)).ns / 1e6);
  return ms;
}

async function profile(gpu: Gpu, name: keyof typeof CLIP_VISION_PRESETS): Promise<void> {
  const { hidden_size: d, intermediate_size: inner, num_attention_heads: heads, image_size, patch_size, hidden_act } = CLIP_VISION_PRESETS[name];
  const tokens = (image_size / patch_size) ** 2 + 1;
  let seed = 1;
  const random = (shape: number[], scale: number) => gpu.upload(fillRandom(new Float32Array(shape.reduce((a, b) => a * b, 1)), seed++, scale), shape);
  const layer: EncoderLayer = {
    norm1: [random([d], 1), random([d], 0.1)],
    qkvWeight: random([3 * d, d], 1 / Math.sqrt(d)),
    qkvBias: random([3 * d], 0.1),
    outWeight: random([d, d], 1 / Math.sqrt(d)),
    outBias: random([d], 0.1),
    norm2: [random([d], 1), random([d], 0.1)],
    fc1Weight: random([inner, d], 1 / Math.sqrt(d)),
    fc1Bias: random([inner], 0.1),
    fc2Weight: random([d, inner], 1 / Math.sqrt(inner)),
    fc2Bias: random([d], 0.1),
  };
  const x = random([1, tokens, d], 1);
  const qkv = random([1, tokens, 3 * d], 1);
  const hidden = random([1, tokens, inner], 1);
  const activation = hidden_act === 'gelu' ? 'gelu' : 'quick_gelu';
  const ops: [string, () => Tensor][] = [
    ['layer_norm1', () => layerNorm(x, ...layer.norm1)],
    ['qkv linear', () => linear(x, layer.qkvWeight, { bias: layer.qkvBias })],
    ['attention', () => attention(qkv, heads)],
    ['out_proj linear', () => linear(x, layer.outWeight, { bias: layer.outBias })],
    ['residual add', () => add(x, x)],
    ['layer_norm2', () => layerNorm(x, ...layer.norm2)],
    ['fc1 linear', () => linear(x, layer.fc1Weight, { bias: layer.fc1Bias, activation })],
    ['fc2 linear', () => linear(hidden, layer.fc2Weight, { bias: layer.fc2Bias })],
    ['residual add', () => add(x, x)],
  ];
  const times: [string, number][] = [];
  for (const [label, op] of ops) times.push([label, await best(gpu, op)]);
  const sum = times.reduce((total, [, ms]) => total + ms, 0);
  console.log(`${name}: ${tokens} tokens, hidden ${d}, ${heads} heads`);
  for (const [label, ms] of times) console.log(`  ${label.padEnd(16)} ${formatMs(ms).padStart(10)}  ${((100 * ms) / sum).toFixed(1).padStart(5)} %`);
  const whole = await best(gpu, () => encoderLayer(x, layer, { heads, eps: 1e-5, activation }));
  console.log(`  ${'sum of ops'.padEnd(16)} ${formatMs(sum).padStart(10)}`);
  console.log(`  ${'whole layer'.padEnd(16)} ${formatMs(whole).padStart(10)}  (encoderLayer, one pass)`);
  for (const t of [x, qkv, hidden, layer.norm1[0], layer.norm1[1], layer.qkvWeight, layer.qkvBias, layer.outWeight, layer.outBias,
    layer.norm2[0], layer.norm2[1], layer.fc1Weight, layer.fc1Bias, layer.fc2Weight, layer.fc2Bias]) t.release();
}

const wanted = process.argv.slice(2).map((a) => (a.startsWith('ViT-') ? a : `ViT-${a}`));
const models = (wanted.length > 0 ? wanted : ['ViT-B/32']) as (keyof typeof CLIP_VISION_PRESETS)[];
const gpu = await benchGpu();
console.log(adapterLine(gpu));
for (const name of models) await profile(gpu, name);
process.exit(0);

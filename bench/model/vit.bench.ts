// End-to-end CLIP vision tower benchmark on random weights, one image:
//
//   node build.mjs --bench vit && node .build/bench/model/vit.bench.mjs [B/32] [L/14] [--f16]
//   (or with the other model benches: node build.mjs --bench && node bench/run.mjs model vit)
//
// Weights are generated in TS from a seed (no download), shaped like ViT-B/32 and ViT-L/14, f32 unless
// --f16. Each model runs once to warm up (pipeline compiles, pool buffers) and is then timed wall-clock
// around imageFeatures + readback; ViT-L/14 is timed once (it is ~160 GFLOP: tens of seconds on
// SwiftShader), B/32 three times (median). GFLOPS count every linear, the patch embedding and attention's
// two products, a multiply-add as 2 (clipVisionFlops). Process CPU seconds are printed beside wall time:
// on a software adapter they are the GPU work itself and move far less when other processes share the
// cores. ViT-L/14's warm-up is the B/32 run before it when
// both run (they share every pipeline), so L/14 is loaded and run only once.
import { CLIP_VISION_PRESETS, ClipVisionModel, clipVisionFlops } from '../../src/model/clip-vision.js';
import type { Gpu } from '../../src/runtime/index.js';
import { adapterLine, benchGpu } from '../support/bench.js';
import { benchCeiling, ofCeiling } from '../support/ceiling.js';
import { fillRandom, randomVisionWeights } from '../support/clip-weights.js';

async function runOnce(gpu: Gpu, model: ClipVisionModel, pixels: Float32Array): Promise<{ seconds: number; cpuSeconds: number; features: Float32Array }> {
  const size = model.config.image_size;
  const input = gpu.upload(pixels, [1, 3, size, size]);
  await gpu.sync();
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const output = model.imageFeatures(input);
  const features = await output.read();
  const cpu = process.cpuUsage(cpuStart);
  const seconds = (performance.now() - start) / 1000;
  output.release();
  input.release();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, features };
}

async function bench(gpu: Gpu, name: keyof typeof CLIP_VISION_PRESETS, dtype: 'f32' | 'f16', timedRuns: number, warm: boolean): Promise<void> {
  const config = CLIP_VISION_PRESETS[name];
  const flops = clipVisionFlops(config);
  const start = performance.now();
  const model = await ClipVisionModel.load(gpu, randomVisionWeights(config, 1), config, { dtype });
  const loadSeconds = (performance.now() - start) / 1000;
  const pixels = fillRandom(new Float32Array(3 * config.image_size ** 2), 7, 2);

  let warmSeconds = NaN;
  if (warm) warmSeconds = (await runOnce(gpu, model, pixels)).seconds;
  const compiles = gpu.pipelines.compiles;
  const dispatches = gpu.dispatchCount;
  const runs: { seconds: number; cpuSeconds: number }[] = [];
  let features: Float32Array = new Float32Array(0);
  for (let r = 0; r < timedRuns; r++) {
    const result = await runOnce(gpu, model, pixels);
    runs.push(result);
    features = result.features;
  }
  runs.sort((a, b) => a.seconds - b.seconds);
  const { seconds, cpuSeconds } = runs[Math.floor(runs.length / 2)]!;
  const finite = features.every(Number.isFinite);
  console.log(
    `${name.padEnd(8)} ${dtype}  ${(flops / 1e9).toFixed(1).padStart(6)} GFLOP  load ${loadSeconds.toFixed(1)} s` +
      (warm ? `  warm-up ${warmSeconds.toFixed(2)} s` : '') +
      `  forward ${seconds.toFixed(2)} s (${timedRuns === 1 ? '1 run' : `median of ${timedRuns}`}, CPU ${cpuSeconds.toFixed(2)} s)  ${(flops / seconds / 1e9).toFixed(2)} GFLOPS` +
      ` [${ofCeiling(ceiling, 'fma', flops, seconds * 1000)} ceiling]` +
      ` (${(flops / cpuSeconds / 1e9).toFixed(2)} per CPU-second)` +
      `  ${(gpu.dispatchCount - dispatches) / timedRuns} dispatches, ${gpu.pipelines.compiles - compiles} new pipelines while timed` +
      `${finite ? '' : '  NON-FINITE OUTPUT'}`,
  );
  model.release();
  gpu.pool.trim();
}

const args = process.argv.slice(2);
const dtype = args.includes('--f16') ? 'f16' : 'f32';
const wanted = args.filter((a) => !a.startsWith('--')).map((a) => (a.startsWith('ViT-') ? a : `ViT-${a}`));
const models = (wanted.length > 0 ? wanted : ['ViT-B/32', 'ViT-L/14']) as (keyof typeof CLIP_VISION_PRESETS)[];
for (const m of models) if (!(m in CLIP_VISION_PRESETS)) throw new Error(`unknown model ${m}; known: ${Object.keys(CLIP_VISION_PRESETS).join(', ')}`);

const gpu = await benchGpu();
console.log(adapterLine(gpu));
const ceiling = await benchCeiling(gpu);
let warmed = false;
for (const name of models) {
  const big = name === 'ViT-L/14';
  // L/14 needs no warm-up of its own once B/32 has compiled the shared pipelines.
  await bench(gpu, name, dtype, big ? 1 : 3, !(big && warmed));
  warmed = true;
}
process.exit(0);

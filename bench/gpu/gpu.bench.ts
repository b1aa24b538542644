// The GPU suite: GEMM ladder, attention, gallery search, copy bandwidth and both image embeddings on
// whatever adapter Dawn finds, each kernel as a fraction of the adapter's measured ceiling (FMA for
// compute-bound kernels, copy bandwidth for memory-bound ones: src/kernels/ceiling.ts) and of the card's
// fp32 peak (bench/gpu/peaks.ts).
// Run through bench/gpu.sh (which builds first); `--quick` is the SwiftShader smoke test.
//
// Writes bench/results/gpu-<adapter>.json (or GPU_BENCH_OUT) and prints one line per kernel. Times are
// GPU time from timestamp queries where the adapter has them, else wall clock around submit + wait;
// the median of several passes after one untimed pass (compiles). Budget: stays under 8 minutes on a
// hardware GPU; kernels that would not fit (the naive rung at big shapes) are left out there.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { attention } from '../../src/kernels/attention.js';
import { copyBytes, copyKernel } from '../../src/kernels/copy.js';
import { GEMM_VARIANTS, gemmFlops, gemmVariantRuns, linear } from '../../src/kernels/gemm.js';
import { clipVisionAttentionShapes, clipVisionGemmShapes, clipVisionRowShapes, geoclipLocationGemmShapes, geoclipRowShapes, geoclipSearchShapes, tuneModelShapes } from '../../src/kernels/tuning.js';
import { dispatchSearch, uploadGalleryChunks } from '../../src/kernels/search.js';
import { CLIP_VISION_PRESETS, ClipVisionModel, clipVisionFlops } from '../../src/model/clip/vision.js';
import type { Gpu, Tensor } from '../../src/runtime/index.js';
import { unitRows } from '../peers/shared.js';
import { benchGpu } from '../support/bench.js';
import { benchCeiling, ceilingFraction, formatFraction, type Bound } from '../support/ceiling.js';
import { encoderLayerShapes, fillRandom, randomWeightSource } from '../support/clip-weights.js';
import { peakFor } from './peaks.js';

const quick = process.argv.includes('--quick');
const started = Date.now();
const gpu = await benchGpu();
const peak = peakFor(gpu.adapterName, gpu.isSoftware, cpus().length);
console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}`);
const ceiling = await benchCeiling(gpu, { quick });

interface Kernel {
  kernel: string;
  shape: string;
  ms: number;
  timing: string;
  gflops?: number;
  gbs?: number;
  /** gflops / the card's fp32 peak. */
  peakFraction?: number;
  /** gbs / the card's memory bandwidth. */
  bandwidthFraction?: number;
  /** What bounds it ('fma' or 'bandwidth') and its rate as a fraction of that measured ceiling. */
  bound: Bound;
  ceilingFraction?: number;
}
const kernels: Kernel[] = [];

/**
 * Median ms of `repeats` passes after one untimed one. Timestamps bracket one compute pass, so work that
 * spans several (the towers copy rows between passes) and software adapters (whose timestamps do not
 * follow the CPU threads doing the work) are timed on the wall clock around submit + wait.
 */
async function measure(work: () => void, repeats: number, multiPass = false): Promise<{ ms: number; source: string }> {
  work();
  await gpu.sync();
  const times: number[] = [];
  let source = '';
  for (let r = 0; r < repeats; r++) {
    if (multiPass || gpu.isSoftware || !gpu.features.timestamps) {
      const start = performance.now();
      work();
      await gpu.sync();
      times.push(performance.now() - start);
      source = 'wall';
      continue;
    }
    const t = await gpu.time(work);
    times.push(t.ns / 1e6);
    source = t.source;
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1]!, source };
}

function report(kernel: string, shape: string, bound: Bound, t: { ms: number; source: string }, flops?: number, bytes?: number): void {
  const gflops = flops ? flops / t.ms / 1e6 : undefined;
  const gbs = bytes ? bytes / t.ms / 1e6 : undefined;
  const entry: Kernel = { kernel, shape, ms: t.ms, timing: t.source, gflops, gbs, bound, ceilingFraction: ceilingFraction(ceiling, bound, { gflops, gbs }) };
  if (gflops && peak) entry.peakFraction = gflops / peak.gflops;
  if (gbs && peak && Number.isFinite(peak.gbs)) entry.bandwidthFraction = gbs / peak.gbs;
  kernels.push(entry);
  const parts = [`${kernel.padEnd(22)} ${shape.padEnd(26)} ${t.ms.toFixed(3).padStart(10)} ms`];
  if (gflops) parts.push(`${gflops.toFixed(1).padStart(9)} GFLOPS${entry.peakFraction !== undefined ? ` (${(entry.peakFraction * 100).toFixed(1)}% of peak)` : ''}`);
  if (gbs) parts.push(`${gbs.toFixed(1).padStart(8)} GB/s${entry.bandwidthFraction !== undefined ? ` (${(entry.bandwidthFraction * 100).toFixed(1)}%)` : ''}`);
  parts.push(`[${formatFraction(entry.ceilingFraction, bound)} ceiling]`);
  console.log(parts.join('  '));
}

function release(...tensors: (Tensor | undefined)[]): void {
  for (const t of tensors) t?.release();
}

console.log(`timing ${gpu.features.timestamps && !gpu.isSoftware ? 'timestamp-query' : 'wall clock'}, ` +
  `peak ${peak ? `${peak.gflops} GFLOPS fp32 (${peak.source})` : 'unknown (set GEOLENS_PEAK_GFLOPS)'}`);

// GEMM ladder: every variant at one square-ish shape; naive only where it is affordable.
const ladder = quick ? { m: 64, k: 256, n: 256 } : gpu.isSoftware ? { m: 256, k: 1024, n: 1024 } : { m: 2048, k: 2048, n: 2048 };
{
  const { m, k, n } = ladder;
  const x = gpu.upload(fillRandom(new Float32Array(m * k), 1, 1), [m, k]);
  const w = gpu.upload(fillRandom(new Float32Array(n * k), 2, 1 / Math.sqrt(k)), [n, k]);
  const y = gpu.empty([m, n]);
  for (const variant of GEMM_VARIANTS) {
    if ((variant.kind === 'naive' && !quick && gpu.isSoftware) || !gemmVariantRuns(gpu, variant)) continue; // naive: ~10 s a call on 2 cores
    const t = await measure(() => void linear(x, w, { out: y, variant: variant.name }), quick ? 1 : 5);
    report(`gemm ${variant.name}`, `${m}×${k}×${n}`, 'fma', t, gemmFlops(m, k, n), (m * k + n * k + m * n) * 4);
  }
  release(x, w, y);
}

// The tuner as `geolens tune` runs it, in memory (nothing stored): every GEMM variant, attention kernel and
// row strategy at the ViT-B/32 and ViT-L/14 shapes (and the location encoder's GEMMs), and every search tiling (tiles per workgroup) at
// GeoCLIP's 100,000-row gallery. linear() and attention() below then run its picks. Each pick is the
// fastest the tuner timed; the line gives the runner-up's distance, to show how much the choice matters.
const tuned: Record<string, { choice: string; ms: number; runnerUp?: string; runnerUpMs?: number }> = {};
{
  const models = quick ? [CLIP_VISION_PRESETS['ViT-B/32']] : [CLIP_VISION_PRESETS['ViT-B/32'], CLIP_VISION_PRESETS['ViT-L/14']];
  const budgetMs = quick ? 20_000 : 90_000;
  const tuneStart = performance.now();
  const gemmShapes = [...models.flatMap((c) => clipVisionGemmShapes(c, 'f32')).filter((s) => !quick || s.rows > 1), ...(quick ? [] : geoclipLocationGemmShapes('f32'))];
  const table = await tuneModelShapes(gpu, gemmShapes, models.flatMap((c) => clipVisionAttentionShapes(c)), {
    budgetMs,
    rowShapes: [...models.flatMap((c) => clipVisionRowShapes(c)), ...geoclipRowShapes()],
    searchShapes: quick ? [] : geoclipSearchShapes(),
  });
  const entries: [string, string, Record<string, number>][] = [
    ...Object.entries(table.attention ?? {}).map(([key, e]) => [`attention ${key}`, e.kernel, e.ms] as [string, string, Record<string, number>]),
    ...Object.entries(table.rows ?? {}).map(([key, e]) => [key, e.strategy, e.ms] as [string, string, Record<string, number>]),
    ...Object.entries(table.search ?? {}).map(([key, e]) => [key, e.scores === 'gemm' ? 'gemm' : String(e.tilesPerWorkgroup), e.ms] as [string, string, Record<string, number>]),
    ...Object.entries(table.gemm).map(([key, e]) => [`gemm ${key}`, e.variant, e.ms] as [string, string, Record<string, number>]),
  ];
  console.log(`tuner: ${entries.length} shapes in ${((performance.now() - tuneStart) / 1000).toFixed(1)} s`);
  for (const [key, choice, ms] of entries) {
    const [runnerUp] = Object.entries(ms).filter(([name]) => name !== choice).sort((a, b) => a[1] - b[1]);
    tuned[key] = { choice, ms: ms[choice]!, runnerUp: runnerUp?.[0], runnerUpMs: runnerUp?.[1] };
    console.log(`  ${key.padEnd(34)} ${choice.padEnd(16)} ${ms[choice]!.toFixed(3).padStart(9)} ms${runnerUp ? `  (next: ${runnerUp[0]} ${(runnerUp[1] / ms[choice]!).toFixed(2)}×)` : ''}`);
  }
}

// linear() as models call it at ViT shapes.
const VIT_GEMMS: [number, number, number][] = quick ? [[50, 768, 2304]] : [[50, 768, 2304], [50, 768, 3072], [50, 3072, 768], [257, 1024, 3072], [257, 1024, 4096], [257, 4096, 1024]];
for (const [m, k, n] of VIT_GEMMS) {
  const x = gpu.upload(fillRandom(new Float32Array(m * k), 3, 1), [m, k]);
  const w = gpu.upload(fillRandom(new Float32Array(n * k), 4, 1 / Math.sqrt(k)), [n, k]);
  const y = gpu.empty([m, n]);
  report('gemm linear()', `${m}×${k}×${n}`, 'fma', await measure(() => void linear(x, w, { out: y }), quick ? 1 : 5), gemmFlops(m, k, n), (m * k + n * k + m * n) * 4);
  release(x, w, y);
}

// Attention.
for (const [heads, seq] of quick ? [[12, 50]] : [[12, 50], [16, 257], [16, 1024]]) {
  const qkv = gpu.upload(fillRandom(new Float32Array(seq! * 3 * 64 * heads!), 5, 1), [1, seq!, 3 * 64 * heads!]);
  let out: Tensor | undefined;
  const t = await measure(() => {
    out?.release();
    out = attention(qkv, heads!);
  }, quick ? 1 : 5);
  report('attention', `heads ${heads} seq ${seq} hd 64`, 'fma', t, 4 * seq! * seq! * 64 * heads!, 4 * seq! * 64 * heads! * 4);
  release(qkv, out);
}

// Copy bandwidth and search (memory-bound: GB/s against the card's bandwidth).
{
  // 256 MiB, or what the adapter binds at once (WebGPU's default, and lavapipe's, is 128 MiB).
  const binding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const elements = Math.floor(Math.min((quick ? 16 : 256) * 2 ** 20, binding) / 16) * 4;
  const a = gpu.upload(new Float32Array(elements).fill(1), [elements]);
  const out = gpu.empty([elements]);
  report('copy', `${(elements * 4) / 2 ** 20} MiB`, 'bandwidth', await measure(() => void copyKernel(a, out), quick ? 1 : 5), undefined, copyBytes(elements));
  release(a, out);
}
for (const rows of quick ? [10_000] : gpu.isSoftware ? [100_000] : [100_000, 1_000_000]) {
  const gallery = uploadGalleryChunks(gpu, unitRows(0, rows, 512), rows, 512);
  for (const queries of quick ? [1] : [1, 32]) {
    const q = gpu.upload(unitRows(rows + 1, queries, 512), [queries, 512]);
    const t = await measure(() => dispatchSearch(q, gallery, { k: 5, scale: 39.7 }).release(), quick ? 1 : 5);
    report('search', `${rows / 1000}k×512 Q=${queries}`, 'bandwidth', t, 2 * rows * 512 * queries, rows * 512 * 4);
    q.release();
  }
  release(...gallery);
}

// Image embeddings (CLIP towers on seeded weights; the GeoCLIP MLP is < 0.1% of the work).
async function tower(gpu: Gpu, name: keyof typeof CLIP_VISION_PRESETS): Promise<void> {
  const config = CLIP_VISION_PRESETS[name];
  const d = config.hidden_size;
  const weights = randomWeightSource([
    ['vision_model.embeddings.patch_embedding.weight', [d, 3, config.patch_size, config.patch_size]],
    ['vision_model.embeddings.class_embedding', [d]],
    ['vision_model.embeddings.position_embedding.weight', [(config.image_size / config.patch_size) ** 2 + 1, d]],
    ['vision_model.pre_layrnorm.weight', [d]], ['vision_model.pre_layrnorm.bias', [d]],
    ['vision_model.post_layernorm.weight', [d]], ['vision_model.post_layernorm.bias', [d]],
    ...encoderLayerShapes('vision_model', config),
    ['visual_projection.weight', [config.projection_dim, d]],
  ], (out, _name, shape, index) => fillRandom(out, 1000 + index, shape.length >= 2 ? 1 / Math.sqrt(out.length / shape[0]!) : 0.1));
  const model = await ClipVisionModel.load(gpu, weights, config);
  const pixels = gpu.upload(fillRandom(new Float32Array(3 * 224 * 224), 9, 2), [1, 3, 224, 224]);
  let out: Tensor | undefined;
  const t = await measure(() => {
    out?.release();
    out = model.imageFeatures(pixels);
  }, quick || gpu.isSoftware ? 1 : 5, true);
  report('image embedding', name, 'fma', t, clipVisionFlops(config));
  release(pixels, out);
  model.release();
}
await tower(gpu, 'ViT-B/32');
if (!quick) await tower(gpu, 'ViT-L/14');

const slug = gpu.adapterName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const path = process.env.GPU_BENCH_OUT ?? join('bench', 'results', `gpu-${slug}${quick ? '-quick' : ''}.json`);
mkdirSync(dirname(path), { recursive: true });
writeFileSync(path, JSON.stringify({
  date: new Date().toISOString(), quick, adapter: gpu.adapterName, software: gpu.isSoftware,
  features: Object.entries(gpu.features).filter(([, on]) => on).map(([f]) => f), peak, ceiling, seconds: (Date.now() - started) / 1000, tuned, kernels,
}, null, 2) + '\n');
console.log(`wrote ${path} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(0);

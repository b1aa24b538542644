// geolens' side of `npm run bench:peers`, the same code in Node (called in-process) and in headless
// Chromium (bundled into the geolens page, called through page.evaluate). Every function returns plain
// JSON so the runner treats both alike. Times are wall-clock milliseconds around record + submit + wait
// (+ the small readback a user needs), as a user of the library sees them; the peers are timed the same.
import { attention } from '../../src/kernels/attention.js';
import { measureCeiling } from '../../src/kernels/ceiling.js';
import { copyBytes, copyKernel } from '../../src/kernels/copy.js';
import { linear } from '../../src/kernels/gemm.js';
import { l2Normalize } from '../../src/kernels/l2-normalize.js';
import { galleryChunkRows, searchTopK } from '../../src/kernels/search.js';
import { ClipVisionModel, type ClipVisionConfig } from '../../src/model/clip-vision.js';
import { LocationEncoder } from '../../src/model/location-encoder.js';
import { createDevice, type Gpu, type Tensor } from '../../src/runtime/index.js';
import { openWeights } from '../../src/weights/index.js';
import { fillRandom } from '../support/clip-weights.js';
import { gpsPoints } from './gps.js';
import { median, SEARCH_K, SEARCH_SCALE, unitRows } from './shared.js';

interface Embedder {
  gpu: Gpu;
  vision: ClipVisionModel;
  mlp: Tensor[];
  pixels: Tensor;
}

const embedders = new Map<string, Embedder>();
let shared: Gpu | null = null;

async function device(): Promise<Gpu> {
  shared ??= await createDevice({ log: () => {} });
  return shared;
}

function now(): number {
  return performance.now();
}

async function embedOnce(e: Embedder): Promise<number> {
  const features = e.vision.imageFeatures(e.pixels);
  const hidden = linear(features, e.mlp[0]!, { bias: e.mlp[1]!, activation: 'relu' });
  features.release();
  const raw = linear(hidden, e.mlp[2]!, { bias: e.mlp[3]! });
  hidden.release();
  const embedding = l2Normalize(raw);
  raw.release();
  const values = await embedding.read();
  embedding.release();
  return values[0]!;
}

export interface Run {
  ms: number;
  value?: number;
  /** Process CPU ms per call (Node only). */
  cpuMs?: number;
}

/**
 * Cold: a new device (no compiled pipelines), weights opened and uploaded from `base`/model.safetensors,
 * one image embedded and read back. `pixels` are the expected file's input (the same for every system).
 */
export async function embedCold(model: string, base: string, config: ClipVisionConfig, pixels: number[] | Float32Array): Promise<Run> {
  const start = now();
  const gpu = await createDevice({ log: () => {} });
  const weights = await openWeights(`${base}/model.safetensors`);
  const vision = await ClipVisionModel.load(gpu, weights, config);
  const mlp: Tensor[] = [];
  for (const [name, shape] of [['image_mlp.0.weight', [768, 768]], ['image_mlp.0.bias', [768]], ['image_mlp.2.weight', [512, 768]], ['image_mlp.2.bias', [512]]] as const) {
    mlp.push(gpu.upload(await weights.readF32(name), shape));
  }
  await weights.close();
  const e: Embedder = { gpu, vision, mlp, pixels: gpu.upload(Float32Array.from(pixels), [1, 3, config.image_size, config.image_size]) };
  embedders.set(model, e);
  const value = await embedOnce(e);
  return { ms: now() - start, value };
}

export async function embedWarm(model: string): Promise<Run> {
  const e = embedders.get(model);
  if (!e) throw new Error(`embedWarm: ${model} was not loaded`);
  const start = now();
  const value = await embedOnce(e);
  return { ms: now() - start, value };
}

export function embedRelease(model: string): void {
  const e = embedders.get(model);
  if (!e) return;
  e.vision.release();
  for (const t of [...e.mlp, e.pixels]) t.release();
  e.gpu.destroy();
  embedders.delete(model);
}

/** Process CPU milliseconds so far, where the platform tells (Node); NaN in a page. */
function cpuNow(): number {
  const usage = typeof process !== 'undefined' && typeof process.cpuUsage === 'function' ? process.cpuUsage() : null;
  return usage ? (usage.user + usage.system) / 1000 : NaN;
}

/**
 * Median wall ms of `repeats` calls after an untimed one (compiles), and the mean process CPU ms per
 * call. On a software adapter the CPU time is the GPU work itself, and other processes on the same
 * cores move it far less than the wall clock.
 */
async function timedCpu(gpu: Gpu, repeats: number, work: () => Tensor | void | Promise<unknown>): Promise<{ ms: number; cpuMs: number }> {
  const release = (out: unknown) => (out && typeof out === 'object' && 'release' in out ? (out as Tensor).release() : undefined);
  release(await work());
  await gpu.sync();
  const times: number[] = [];
  const cpuStart = cpuNow();
  for (let r = 0; r < repeats; r++) {
    const start = now();
    const out = await work();
    await gpu.sync();
    times.push(now() - start);
    release(out);
  }
  return { ms: median(times), cpuMs: (cpuNow() - cpuStart) / repeats };
}

async function timed(gpu: Gpu, repeats: number, work: () => Tensor | void | Promise<unknown>): Promise<number> {
  return (await timedCpu(gpu, repeats, work)).ms;
}

/** y = x·wᵀ at M×K×N with linear()'s own variant choice (what a model call does), or the named variant. */
export async function gemm(m: number, k: number, n: number, repeats: number, variant?: string): Promise<Run> {
  const gpu = await device();
  const x = gpu.upload(fillRandom(new Float32Array(m * k), 1, 1), [m, k]);
  const w = gpu.upload(fillRandom(new Float32Array(n * k), 2, 1 / Math.sqrt(k)), [n, k]);
  const y = gpu.empty([m, n]);
  const { ms, cpuMs } = await timedCpu(gpu, repeats, () => void linear(x, w, { out: y, variant }));
  for (const t of [x, w, y]) t.release();
  return { ms, cpuMs: Number.isFinite(cpuMs) ? cpuMs : undefined };
}

/** Fused self-attention, qkv [1, S, 3·64·H] → [1, S, 64·H]. */
export async function attend(heads: number, seq: number, repeats: number): Promise<Run> {
  const gpu = await device();
  const qkv = gpu.upload(fillRandom(new Float32Array(seq * 3 * 64 * heads), 3, 1), [1, seq, 3 * 64 * heads]);
  const { ms, cpuMs } = await timedCpu(gpu, repeats, () => attention(qkv, heads));
  qkv.release();
  return { ms, cpuMs: Number.isFinite(cpuMs) ? cpuMs : undefined };
}

/** Top-5 of Q queries over a rows × 512 unit gallery (generated chunk by chunk, uploaded per binding). */
export async function search(rows: number, queries: number, repeats: number): Promise<Run & { best: number }> {
  const gpu = await device();
  const dim = 512;
  const chunkRows = galleryChunkRows(rows, dim, 'f32', Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize), 262_144);
  const gallery: Tensor[] = [];
  for (let first = 0; first < rows; first += chunkRows) {
    const n = Math.min(chunkRows, rows - first);
    gallery.push(gpu.upload(unitRows(first, n, dim), [n, dim]));
  }
  const q = gpu.upload(unitRows(rows + 17, queries, dim), [queries, dim]);
  let best = -1;
  const ms = await timed(gpu, repeats, async () => {
    best = (await searchTopK(q, gallery, { k: SEARCH_K, scale: SEARCH_SCALE })).indices[0]!;
  });
  for (const t of [...gallery, q]) t.release();
  return { ms, best };
}

/** Copy kernel over `bytes` of f32 (read + write counted): GB/s. */
export async function copy(bytes: number, repeats: number): Promise<Run & { gbs: number }> {
  const gpu = await device();
  const elements = Math.floor(bytes / 4 / 4) * 4;
  const a = gpu.upload(new Float32Array(elements).fill(1), [elements]);
  const out = gpu.empty([elements]);
  const ms = await timed(gpu, repeats, () => void copyKernel(a, out));
  a.release();
  out.release();
  return { ms, gbs: copyBytes(elements) / ms / 1e6 };
}

/** The device's FMA ceiling and copy bandwidth (src/kernels/ceiling.ts), what every kernel is held against. */
export async function ceiling(quick: boolean): Promise<CeilingFigures> {
  const c = await measureCeiling(await device(), { quick });
  return { fmaGflops: c.fmaGflops, copyGBps: c.copyGBps, fmaBest: c.fmaBest, copyBest: c.copyBest, copyBufferBytes: c.copyBufferBytes, timing: c.timing, seconds: c.seconds };
}

export interface CeilingFigures {
  fmaGflops: number;
  copyGBps: number;
  fmaBest: { workgroupSize: number; accumulators: number };
  copyBest: { workgroupSize: number; vectors: number };
  copyBufferBytes: number;
  timing: string;
  seconds: number;
}

/** Location encoder over `points` GPS rows (a seeded spread over the globe) → embeddings read back. */
export async function locate(base: string, points: number, repeats: number): Promise<Run & { value: number; flops: number }> {
  const gpu = await device();
  const weights = await openWeights(`${base}/model.safetensors`);
  const encoder = await LocationEncoder.load(gpu, weights);
  await weights.close();
  const gps = gpsPoints(points);
  let value = 0;
  const ms = await timed(gpu, repeats, async () => {
    const out = encoder.embed(gps);
    value = (await out.read())[0]!;
    out.release();
  });
  const flops = encoder.flops(points);
  encoder.release();
  return { ms, value, flops };
}

export async function adapter(): Promise<{ name: string; software: boolean; features: string[]; limits: Record<string, number> }> {
  const gpu = await device();
  const features = Object.entries(gpu.features).filter(([, on]) => on).map(([name]) => name);
  return {
    name: gpu.adapterName,
    software: gpu.isSoftware,
    features,
    limits: { maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize, maxBufferSize: gpu.limits.maxBufferSize },
  };
}

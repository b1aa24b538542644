// The onnxruntime side of `npm run bench:peers`: one module for onnxruntime-node (CPU EP, in-process) and
// onnxruntime-web (WebGPU or wasm EP, bundled into the ORT page), which share the InferenceSession API.
// Functions mirror geolens-work.ts and return the same JSON.
//
// On the WebGPU EP the one-op suites keep inputs and outputs on the GPU (Tensor.fromGpuBuffer,
// preferredOutputLocation 'gpu-buffer') and wait on the queue, so they time the kernels, not uploads;
// the embedding takes CPU pixels and returns the CPU embedding, as geolens' does.
import type * as Ort from 'onnxruntime-common';
import { median, unitRows } from './shared.js';
import { fillRandom } from '../support/clip-weights.js';
import { gpsPoints } from './gps.js';

type OrtModule = typeof Ort;
export type Ep = 'webgpu' | 'wasm' | 'cpu';

export interface Run {
  ms: number;
  value?: number;
  /** Every element of the embedding an embedding run produced (compared whole with PyTorch's). */
  embedding?: number[];
}

const sessions = new Map<string, { session: Ort.InferenceSession; pixels: Ort.Tensor }>();

function now(): number {
  return performance.now();
}

export class OrtWork {
  constructor(private readonly ort: OrtModule, private readonly ep: Ep, private readonly threads = 1) {}

  private options(gpuOutputs = false): Ort.InferenceSession.SessionOptions {
    const options: Ort.InferenceSession.SessionOptions = { executionProviders: [this.ep], graphOptimizationLevel: 'all' };
    if (this.ep === 'cpu') options.intraOpNumThreads = this.threads;
    if (gpuOutputs && this.ep === 'webgpu') options.preferredOutputLocation = 'gpu-buffer';
    return options;
  }

  private async device(): Promise<GPUDevice> {
    return (await this.ort.env.webgpu.device) as GPUDevice;
  }

  private async settle(outputs: Ort.InferenceSession.OnnxValueMapType): Promise<void> {
    if (this.ep === 'webgpu') await (await this.device()).queue.onSubmittedWorkDone();
    for (const t of Object.values(outputs)) if (t.location === 'gpu-buffer') t.dispose();
  }

  /** Cold: session creation (model fetch or read, graph optimization, EP setup) and the first image. */
  async embedCold(model: string, location: string, pixels: number[] | Float32Array): Promise<Run> {
    const start = now();
    const session = await this.ort.InferenceSession.create(location, this.options());
    const input = new this.ort.Tensor('float32', Float32Array.from(pixels), [1, 3, 224, 224]);
    sessions.set(model, { session, pixels: input });
    const embedding = await this.embedOnce(model);
    return { ms: now() - start, value: embedding[0], embedding };
  }

  private async embedOnce(model: string): Promise<number[]> {
    const { session, pixels } = sessions.get(model)!;
    const out = await session.run({ pixels });
    return Array.from(out.embedding!.data as Float32Array);
  }

  async embedWarm(model: string): Promise<Run> {
    const start = now();
    const embedding = await this.embedOnce(model);
    return { ms: now() - start, value: embedding[0], embedding };
  }

  async embedRelease(model: string): Promise<void> {
    await sessions.get(model)?.session.release();
    sessions.delete(model);
  }

  /** An input as the session wants it: on the GPU for the WebGPU EP, else on the CPU. */
  private async input(data: Float32Array, dims: number[]): Promise<Ort.Tensor> {
    if (this.ep !== 'webgpu') return new this.ort.Tensor('float32', data, dims);
    const device = await this.device();
    const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    device.queue.writeBuffer(buffer, 0, data);
    return this.ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims, dispose: () => buffer.destroy() });
  }

  private async timed(session: Ort.InferenceSession, feeds: Record<string, Ort.Tensor>, repeats: number): Promise<number> {
    await this.settle(await session.run(feeds));
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const start = now();
      await this.settle(await session.run(feeds));
      times.push(now() - start);
    }
    return median(times);
  }

  async gemm(location: string, m: number, k: number, repeats: number): Promise<Run> {
    await this.primeDevice(location);
    const session = await this.ort.InferenceSession.create(location, this.options(true));
    const x = await this.input(fillRandom(new Float32Array(m * k), 1, 1), [m, k]);
    const ms = await this.timed(session, { x }, repeats);
    x.dispose();
    await session.release();
    return { ms };
  }

  async attend(location: string, heads: number, seq: number, repeats: number): Promise<Run> {
    await this.primeDevice(location);
    const session = await this.ort.InferenceSession.create(location, this.options(true));
    const dims = [1, seq, 64 * heads];
    const [q, k, v] = await Promise.all([1, 2, 3].map((seed) => this.input(fillRandom(new Float32Array(seq * 64 * heads), seed, 1), dims)));
    const ms = await this.timed(session, { q: q!, k: k!, v: v! }, repeats);
    for (const t of [q, k, v]) t!.dispose();
    await session.release();
    return { ms };
  }

  /** MatMul + TopK over a rows × 512 gallery (on the GPU for WebGPU, written chunk by chunk). */
  async search(location: string, rows: number, queries: number, repeats: number): Promise<Run & { best: number }> {
    await this.primeDevice(location);
    const dim = 512;
    const session = await this.ort.InferenceSession.create(location, this.options());
    let gallery: Ort.Tensor;
    if (this.ep === 'webgpu') {
      const device = await this.device();
      const buffer = device.createBuffer({ size: rows * dim * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
      const chunk = 65_536;
      for (let first = 0; first < rows; first += chunk) device.queue.writeBuffer(buffer, first * dim * 4, unitRows(first, Math.min(chunk, rows - first), dim));
      await device.queue.onSubmittedWorkDone();
      gallery = this.ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims: [rows, dim], dispose: () => buffer.destroy() });
    } else {
      gallery = new this.ort.Tensor('float32', unitRows(0, rows, dim), [rows, dim]);
    }
    const q = new this.ort.Tensor('float32', unitRows(rows + 17, queries, dim), [queries, dim]);
    let best = -1;
    const run = async () => {
      const out = await session.run({ queries: q, gallery });
      best = Number((out.indices!.data as BigInt64Array)[0]);
    };
    await run();
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const start = now();
      await run();
      times.push(now() - start);
    }
    gallery.dispose();
    await session.release();
    return { ms: median(times), best };
  }

  async locate(location: string, points: number, repeats: number): Promise<Run & { value: number }> {
    const session = await this.ort.InferenceSession.create(location, this.options());
    const gps = new this.ort.Tensor('float32', gpsPoints(points), [points, 2]);
    let value = 0;
    const run = async () => {
      const out = await session.run({ gps });
      value = (out.embedding!.data as Float32Array)[0]!;
    };
    await run();
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const start = now();
      await run();
      times.push(now() - start);
    }
    await session.release();
    return { ms: median(times), value };
  }

  /** ort.env.webgpu.device exists only once a WebGPU session has been made; make one first. */
  private async primeDevice(location: string): Promise<void> {
    if (this.ep !== 'webgpu' || this.primed) return;
    await (await this.ort.InferenceSession.create(location, this.options())).release();
    this.primed = true;
  }

  private primed = false;
}

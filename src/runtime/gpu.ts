import { BufferPool } from './buffers.js';
import { DEVICE_LOST_HINT, DeviceError, formatShape, ShapeError } from './errors.js';
import { PipelineCache, type OverrideConstants, type PipelineRequest } from './pipelines.js';
import { halvesToFloats } from './f16.js';
import { byteLengthOf, checkShape, Tensor, type DType } from './tensor.js';

export interface GpuFeatures {
  /** `timestamp-query`: per-pass GPU timing. */
  timestamps: boolean;
  /** `subgroups`: subgroup reductions in WGSL. */
  subgroups: boolean;
  /** `shader-f16`: native f16 arithmetic (packed f16 storage works without it). */
  f16: boolean;
}

/** What a kernel wrapper hands to Gpu.dispatch. */
export interface Dispatch {
  /** Names the pipeline in errors and profiles, e.g. "gemm". */
  label: string;
  code: string;
  constants?: OverrideConstants;
  entryPoint?: string;
  /** Bound at @binding(0) as a uniform when present; buffers then start at @binding(1). */
  uniforms?: ArrayBufferView;
  /** Storage bindings in @binding order. */
  buffers: (Tensor | GPUBuffer)[];
  workgroups: readonly [number, number?, number?];
}

const MAP_READ = 0x01;
const COPY_DST = 0x08;
const UNIFORM = 0x40;
const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x04;

/**
 * A device plus everything kernels share: the buffer pool, the pipeline cache, and one open command
 * encoder that collects dispatches until something needs their results (read, write, sync). Batching
 * matters: a ViT forward pass is hundreds of dispatches, and one submit costs far less than hundreds.
 *
 * Errors are never silent: each submit runs inside validation and out-of-memory error scopes, and a lost
 * device or uncaptured error poisons the Gpu, so the next read/sync rejects with the reason.
 */
export class Gpu {
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  readonly limits: GPUSupportedLimits;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingUniforms: GPUBuffer[] = [];
  private pendingScopes: Promise<GPUError | null>[] = [];
  private failure: Error | null = null;
  private readonly lostSignal: Promise<never>;
  private timedPass: { querySet: GPUQuerySet } | null = null;
  /** While plan() runs: the pipelines dispatches asked for (nothing is allocated, written or run). */
  private planned: PipelineRequest[] | null = null;
  /** Open scope() calls, innermost last: the tensors made inside each. */
  private readonly scopes: Tensor[][] = [];
  dispatchCount = 0;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: GPUAdapter,
    readonly adapterName: string,
    readonly features: GpuFeatures,
    readonly isSoftware: boolean,
    /** The `GPU` object the adapter came from; held so Node's binding is not collected under us. */
    readonly gpuRoot: unknown,
  ) {
    this.pipelines = new PipelineCache(device);
    this.pool = new BufferPool(device);
    this.limits = device.limits;
    this.lostSignal = device.lost.then((info) => {
      const error = new DeviceError(`GPU device lost (${info.reason}): ${info.message || 'no message'}; ${DEVICE_LOST_HINT}`);
      this.failure ??= error;
      throw error;
    });
    this.lostSignal.catch(() => {});
    device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      this.failure ??= new DeviceError(`GPU error: ${message}`);
    });
  }

  /**
   * Whether kernels that pass values between the lanes of a group of `lanes` run here: the `subgroups`
   * feature and a smallest subgroup at least that wide (lavapipe 8; SwiftShader 4).
   */
  subgroupsOfAtLeast(lanes: number): boolean {
    const info = this.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
    return this.features.subgroups && (info?.subgroupMinSize ?? 0) >= lanes;
  }

  /** Allocates an uninitialized tensor from the pool. */
  empty(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    checkShape(shape, label);
    const byteLength = byteLengthOf(shape, dtype);
    this.checkBindable(byteLength, `${label} ${formatShape(shape)}:${dtype}`);
    const tensor = new Tensor(this, this.planned ? this.pool.placeholder() : this.pool.acquire(byteLength, label), [...shape], dtype);
    this.scopes[this.scopes.length - 1]?.push(tensor);
    return tensor;
  }

  /** Runs `make` outside every open scope: what it makes is kept until released by hand. */
  lasting<T>(make: () => T): T {
    const open = this.scopes.splice(0);
    try {
      return make();
    } finally {
      this.scopes.push(...open);
    }
  }

  /**
   * Runs `work` and gives every tensor it made back to the pool except those it returns (a tensor, or an
   * arrays and plain objects holding them), so model code reads as its math with no release() between the lines.
   * A tensor is freed once the scope ends, so each temporary of the scope lives until then; scopes nest,
   * and what an inner one returns belongs to the outer. `work` must be synchronous: tensors made across
   * an await would be counted in whichever scope is open then. On a throw everything made is freed.
   * A tensor that must outlive every scope (a kernel's cached constant) is made inside lasting().
   */
  scope<T>(work: () => T): T {
    const made: Tensor[] = [];
    this.scopes.push(made);
    let result: T;
    try {
      result = work();
      if (result instanceof Promise) throw new TypeError('gpu.scope: work must be synchronous (it returned a Promise)');
    } catch (error) {
      this.scopes.pop();
      for (const tensor of made) tensor.release();
      throw error;
    }
    this.scopes.pop();
    // A returned tensor may be a reshape of one made here (a new Tensor on the same buffer), so buffers
    // count; under plan() every tensor shares one placeholder buffer, so there only the tensors do.
    const returned = returnedTensors(result);
    const keptTensors = new Set<Tensor>(returned);
    const keptBuffers = new Set<GPUBuffer>(this.planned ? [] : returned.map((tensor) => tensor.buffer));
    const outer = this.scopes[this.scopes.length - 1];
    for (const tensor of made) {
      if (keptTensors.has(tensor) || keptBuffers.has(tensor.buffer)) outer?.push(tensor);
      else tensor.release();
    }
    return result;
  }

  /** Copies host data into a new tensor. f32 data for f32; raw u16 halves (Uint16Array) for f16. */
  upload(data: Float32Array | Uint16Array | Uint32Array | Int32Array, shape: readonly number[], dtype?: DType, label = 'tensor'): Tensor {
    const type: DType = dtype ?? (data instanceof Uint16Array ? 'f16' : data instanceof Uint32Array ? 'u32' : data instanceof Int32Array ? 'i32' : 'f32');
    const tensor = this.empty(shape, type, label);
    if (data.length !== tensor.size) {
      tensor.release();
      throw new ShapeError(`${label}: ${data.length} values given for shape ${formatShape(shape)} (${tensor.size} elements)`);
    }
    this.write(tensor.buffer, data);
    return tensor;
  }

  /** Writes host bytes into a buffer at a byte offset; pending dispatches are submitted first so they see the old contents. */
  write(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    if (this.planned) return;
    this.flush();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const aligned = Math.floor(bytes.byteLength / 4) * 4;
    if (aligned > 0) this.device.queue.writeBuffer(buffer, byteOffset, bytes, 0, aligned);
    if (aligned < bytes.byteLength) {
      // writeBuffer moves whole words; a trailing odd f16 is padded with zero.
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(aligned));
      this.device.queue.writeBuffer(buffer, byteOffset + aligned, tail);
    }
  }

  /** Throws a ShapeError when a buffer of this size cannot be bound as one storage binding. */
  checkBindable(byteLength: number, what: string): void {
    const max = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (byteLength > max) {
      throw new ShapeError(`${what} needs ${byteLength} bytes, more than this adapter binds at once (${max} bytes); split it into chunks`);
    }
  }

  /** Records one compute dispatch; it runs at the next flush. */
  dispatch(d: Dispatch): void {
    this.throwIfFailed();
    const [x, y = 1, z = 1] = d.workgroups;
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new ShapeError(`${d.label}: dispatch of [${x}, ${y}, ${z}] workgroups exceeds the adapter limit of ${maxGroups} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (this.planned) {
      this.planned.push({ label: d.label, code: d.code, constants: d.constants, entryPoint: d.entryPoint });
      return;
    }
    // Open the encoder first: its error scopes must enclose pipeline and bind-group creation too.
    this.openEncoder();
    const pipeline = this.pipelines.get(d.label, d.code, d.constants, d.entryPoint);
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (d.uniforms) {
      const uniform = this.device.createBuffer({ label: `${d.label}.params`, size: Math.max(16, Math.ceil(d.uniforms.byteLength / 16) * 16), usage: UNIFORM, mappedAtCreation: true });
      new Uint8Array(uniform.getMappedRange()).set(new Uint8Array(d.uniforms.buffer, d.uniforms.byteOffset, d.uniforms.byteLength));
      uniform.unmap();
      this.pendingUniforms.push(uniform);
      entries.push({ binding: binding++, resource: { buffer: uniform } });
    }
    for (const b of d.buffers) {
      const buffer = b instanceof Tensor ? b.buffer : b;
      entries.push({ binding: binding++, resource: { buffer } });
    }
    const bindGroup = this.device.createBindGroup({ label: d.label, layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  /** Records a buffer-to-buffer copy in queue order with the dispatches around it. */
  copy(source: GPUBuffer, sourceOffset: number, destination: GPUBuffer, destinationOffset: number, byteLength: number): void {
    if (this.planned) return;
    this.closePass();
    this.openEncoder().copyBufferToBuffer(source, sourceOffset, destination, destinationOffset, byteLength);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.closePass();
    this.device.queue.submit([this.encoder.finish()]);
    this.pendingScopes.push(this.device.popErrorScope(), this.device.popErrorScope());
    this.encoder = null;
    for (const uniform of this.pendingUniforms) uniform.destroy();
    this.pendingUniforms = [];
  }

  /** Waits for all submitted work; rejects with the device's reason if anything failed. */
  async sync(): Promise<void> {
    this.flush();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.lostSignal]);
    await this.checkScopes();
  }

  /** Reads a tensor back as f32 (f16 tensors are widened; u32/i32 are returned by value in a Float32Array only if asked via readRaw). */
  async read(tensor: Tensor): Promise<Float32Array> {
    const raw = await this.readBytes(tensor.buffer, 0, tensor.byteLength);
    switch (tensor.dtype) {
      case 'f32':
        return new Float32Array(raw);
      case 'f16':
        return halvesToFloats(new Uint16Array(raw, 0, tensor.size));
      default:
        throw new ShapeError(`read(): ${tensor} holds ${tensor.dtype}; use readRaw()`);
    }
  }

  async readRaw(tensor: Tensor): Promise<ArrayBuffer> {
    return this.readBytes(tensor.buffer, 0, tensor.byteLength);
  }

  async readBytes(buffer: GPUBuffer, byteOffset: number, byteLength: number): Promise<ArrayBuffer> {
    if (this.planned) throw new DeviceError('a read inside Gpu.plan(): planned work must only record dispatches');
    this.throwIfFailed();
    const staging = this.device.createBuffer({ label: 'readback', size: byteLength, usage: MAP_READ | COPY_DST });
    this.copy(buffer, byteOffset, staging, 0, byteLength);
    this.flush();
    try {
      await Promise.race([staging.mapAsync(MAP_READ), this.lostSignal]);
      await this.checkScopes();
      return staging.getMappedRange().slice(0);
    } finally {
      staging.destroy();
    }
  }

  /**
   * Runs `work` as a dry run: every dispatch it records is collected as a pipeline request instead of
   * running, tensors it allocates share one placeholder buffer, writes and copies are skipped. Model code
   * run this way lists the pipelines a forward pass of that shape needs, for pipelines.prepare().
   */
  plan(work: () => void): PipelineRequest[] {
    if (this.planned) throw new DeviceError('Gpu.plan() does not nest');
    this.flush();
    const requests: PipelineRequest[] = (this.planned = []);
    try {
      work();
    } finally {
      this.planned = null;
    }
    return requests;
  }

  /**
   * Runs `work` (which records dispatches) inside one timed compute pass and returns GPU nanoseconds, or
   * wall-clock nanoseconds around submit+wait where `timestamp-query` is absent.
   */
  async time(work: () => void): Promise<{ ns: number; source: 'timestamp' | 'wall' }> {
    await this.sync();
    if (!this.features.timestamps) {
      const start = performance.now();
      work();
      await this.sync();
      return { ns: (performance.now() - start) * 1e6, source: 'wall' };
    }
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    this.timedPass = { querySet };
    try {
      work();
      this.closePass();
    } finally {
      this.timedPass = null;
    }
    const resolve = this.device.createBuffer({ size: 16, usage: QUERY_RESOLVE | COPY_SRC });
    this.openEncoder().resolveQuerySet(querySet, 0, 2, resolve, 0);
    const raw = await this.readBytes(resolve, 0, 16);
    resolve.destroy();
    querySet.destroy();
    const [begin, end] = new BigUint64Array(raw);
    return { ns: Number(end! - begin!), source: 'timestamp' };
  }

  /** Frees pooled buffers and destroys the device. Node processes still need to exit themselves. */
  destroy(): void {
    this.flush();
    this.pool.trim();
    this.device.destroy();
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      // Popped in flush(): every error between here and the submit lands in these scopes.
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const descriptor: GPUComputePassDescriptor = this.timedPass
      ? { timestampWrites: { querySet: this.timedPass.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } }
      : {};
    this.pass = this.openEncoder().beginComputePass(descriptor);
    return this.pass;
  }

  private closePass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private async checkScopes(): Promise<void> {
    const scopes = this.pendingScopes;
    this.pendingScopes = [];
    for (const error of await Promise.all(scopes)) {
      if (error) this.failure ??= new DeviceError(`GPU ${error.constructor.name === 'GPUOutOfMemoryError' ? 'out of memory' : 'validation error'}: ${error.message}`);
    }
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/** The tensors in what a scope returned: itself, or those inside its arrays and plain objects, at any depth. */
function returnedTensors(value: unknown, found: Tensor[] = [], seen = new Set<unknown>()): Tensor[] {
  if (value instanceof Tensor) found.push(value);
  else if (value && typeof value === 'object' && !seen.has(value) && (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype)) {
    seen.add(value);
    for (const item of Object.values(value)) returnedTensors(item, found, seen);
  }
  return found;
}

/**
 * Reuses storage buffers by exact byte size. Inference runs the same shapes over and over, so exact-size
 * buckets hit almost always and never waste memory the way power-of-two rounding would on 1 GiB buffers.
 *
 * Reuse is safe without waiting for the GPU: a buffer released after its last recorded use and acquired by
 * a later dispatch is written after that use in queue order. Host writes flush pending work first
 * (Gpu.write), so queue.writeBuffer can never overtake a recorded read.
 */
export const STORAGE_USAGE = GPUBufferUsageFlags();

function GPUBufferUsageFlags(): number {
  // GPUBufferUsage is a global only once a WebGPU implementation is loaded; the numbers are fixed by spec.
  const STORAGE = 0x80, COPY_SRC = 0x04, COPY_DST = 0x08;
  return STORAGE | COPY_SRC | COPY_DST;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  bytesAllocated = 0;
  bytesPooled = 0;

  constructor(private readonly device: GPUDevice) {}

  acquire(byteLength: number, label = 'tensor'): GPUBuffer {
    const size = Math.max(4, Math.ceil(byteLength / 4) * 4);
    const bucket = this.free.get(size);
    const reused = bucket?.pop();
    if (reused) {
      this.bytesPooled -= size;
      return reused;
    }
    this.bytesAllocated += size;
    return this.device.createBuffer({ label, size, usage: STORAGE_USAGE });
  }

  release(buffer: GPUBuffer): void {
    if (buffer === this.placeholderBuffer) return;
    let bucket = this.free.get(buffer.size);
    if (!bucket) this.free.set(buffer.size, (bucket = []));
    bucket.push(buffer);
    this.bytesPooled += buffer.size;
  }

  private placeholderBuffer: GPUBuffer | null = null;

  /** One tiny buffer that stands in for every tensor while Gpu.plan() records; releasing it is a no-op. */
  placeholder(): GPUBuffer {
    return (this.placeholderBuffer ??= this.device.createBuffer({ label: 'plan.placeholder', size: 16, usage: STORAGE_USAGE }));
  }

  /** Frees every pooled buffer (live tensors are untouched). */
  trim(): void {
    for (const bucket of this.free.values()) for (const buffer of bucket) buffer.destroy();
    this.bytesAllocated -= this.bytesPooled;
    this.bytesPooled = 0;
    this.free.clear();
  }
}

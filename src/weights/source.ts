import type { ByteSource } from '../io/bytes.js';
import { decodeToF32, WEIGHT_DTYPE_BYTES, type TensorInfo } from './dtypes.js';
import { MissingTensorError, WeightsError } from '../io/errors.js';

/** One checkpoint, opened: its tensor table, read one tensor at a time. */
export interface WeightSource {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The tensor's values widened (or narrowed, for F64/I64) to f32, row-major. */
  readF32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

/**
 * A WeightSource that can hand out pieces of a tensor, so uploads and checks stream through bounded
 * memory. Every reader in this folder implements it.
 */
export interface RangedWeightSource extends WeightSource {
  readonly format: 'safetensors' | 'pytorch';
  /** Metadata the file carries (safetensors `__metadata__`), if any. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Little-endian bytes of elements [start, start + count) in row-major order, in the stored dtype. */
  readRaw(name: string, start?: number, count?: number, into?: Uint8Array): Promise<Uint8Array>;
  /** Elements [start, start + count) as f32. */
  readF32Range(name: string, start: number, count: number): Promise<Float32Array>;
}

export function isRanged(source: WeightSource): source is RangedWeightSource {
  return typeof (source as Partial<RangedWeightSource>).readRaw === 'function';
}

/** Conversions read the stored bytes in pieces this big, so only one piece of raw bytes is alive at a time. */
const DECODE_CHUNK_BYTES = 16 << 20;

export abstract class BaseWeightSource implements RangedWeightSource {
  abstract readonly format: 'safetensors' | 'pytorch';
  abstract readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>> = {};
  private closed = false;

  constructor(protected readonly bytes: ByteSource) {}

  /** Raw bytes of elements [start, start + count) of a tensor whose info has been looked up. */
  protected abstract rawRange(name: string, info: TensorInfo, start: number, count: number, into?: Uint8Array): Promise<Uint8Array>;

  info(name: string): TensorInfo {
    if (this.closed) throw new WeightsError(`${this.bytes.name}: read of '${name}' after close()`);
    const info = this.tensors.get(name);
    if (!info) throw missingTensor(name, this.tensors, this.bytes.name);
    return info;
  }

  elementCount(name: string): number {
    return this.info(name).shape.reduce((a, b) => a * b, 1);
  }

  async readRaw(name: string, start = 0, count?: number, into?: Uint8Array): Promise<Uint8Array> {
    const info = this.info(name);
    const total = info.shape.reduce((a, b) => a * b, 1);
    const n = count ?? total - start;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(n) || start < 0 || n < 0 || start + n > total) {
      throw new WeightsError(`tensor '${name}': elements [${start}, ${start + n}) are outside its ${total} elements`);
    }
    return this.rawRange(name, info, start, n, into);
  }

  async readF32Range(name: string, start: number, count: number): Promise<Float32Array> {
    const info = this.info(name);
    const out = new Float32Array(count);
    if (info.dtype === 'F32') {
      // Read straight into the result's bytes: one copy of the tensor in memory, not two.
      await this.readRaw(name, start, count, new Uint8Array(out.buffer));
      return out;
    }
    const perChunk = Math.max(1, Math.floor(DECODE_CHUNK_BYTES / WEIGHT_DTYPE_BYTES[info.dtype]));
    for (let done = 0; done < count; done += perChunk) {
      const n = Math.min(perChunk, count - done);
      decodeToF32(info.dtype, await this.readRaw(name, start + done, n), out, done);
    }
    return out;
  }

  readF32(name: string): Promise<Float32Array> {
    return this.readF32Range(name, 0, this.elementCount(name));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.bytes.close();
  }
}

/** Names the tensor, the file, and the stored names that look most like it (same last component). */
export function missingTensor(name: string, tensors: ReadonlyMap<string, unknown>, file: string): MissingTensorError {
  const last = name.split('.').pop() ?? name;
  const similar = [...tensors.keys()].filter((key) => key.endsWith(`.${last}`) || key === last).slice(0, 3);
  const hint = similar.length > 0 ? `; similar names: ${similar.map((s) => `'${s}'`).join(', ')}` : '';
  return new MissingTensorError(`tensor '${name}' is not in ${file} (${tensors.size} tensors)${hint}`);
}

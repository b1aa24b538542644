import { WEIGHT_DTYPE_BYTES } from './dtypes.js';
import type { WeightSource } from './source.js';
import { isQuantizedSource } from './formats/quantized.js';

/**
 * The same source, calling `onBytes(done, total)` as tensors are read: bytes of the stored tensors, so a
 * progress bar moves with the upload rather than jumping from 0 to 1 per file. Every method the source
 * has (ranged reads included) keeps working. `reads` picks the tensors the loader will read (the total
 * counts only those: a vision tower taken from a full CLIP checkpoint leaves the text tower unread).
 */
export function withReadProgress<S extends WeightSource>(source: S, onBytes: (done: number, total: number) => void, reads: (name: string) => boolean = () => true): S {
  // A quantized file's reader does its own unpacking behind the names it shows; it is passed through as it is.
  if (isQuantizedSource(source)) return source;
  let total = 0;
  const bytesPer = new Map<string, number>();
  for (const [name, info] of source.tensors) {
    if (!reads(name)) continue;
    const bytes = WEIGHT_DTYPE_BYTES[info.dtype] ?? 4;
    bytesPer.set(name, bytes);
    total += bytes * info.shape.reduce((a, b) => a * b, 1);
  }
  let done = 0;
  const add = (bytes: number) => {
    done = Math.min(total, done + bytes);
    onBytes(done, total);
  };
  onBytes(0, total);
  return new Proxy(source, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'readF32') {
        return async (name: string) => {
          const values: Float32Array = await value.call(target, name);
          add(values.length * (bytesPer.get(name) ?? 4));
          return values;
        };
      }
      if (property === 'readF32Range') {
        return async (name: string, start: number, count: number) => {
          const values: Float32Array = await value.call(target, name, start, count);
          add(values.length * (bytesPer.get(name) ?? 4));
          return values;
        };
      }
      if (property === 'readRaw') {
        return async (...args: unknown[]) => {
          const bytes: Uint8Array = await value.apply(target, args);
          add(bytes.byteLength);
          return bytes;
        };
      }
      return value.bind(target);
    },
  });
}

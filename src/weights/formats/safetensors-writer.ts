import { concatBytes } from '../../io/bytes.js';
import { shapeElements, WEIGHT_DTYPE_BYTES, type WeightDType } from '../dtypes.js';
import { WeightsError } from '../../io/errors.js';
import { formatShape, ShapeError } from '../../runtime/index.js';

/** One tensor to write; its bytes are asked for only when the writer reaches it, so a file streams out. */
export interface SafetensorsEntry {
  name: string;
  dtype: WeightDType;
  shape: readonly number[];
  /** Little-endian bytes, exactly elements × the dtype's size. */
  data: () => Uint8Array | Promise<Uint8Array>;
}

/** The 8-byte length and JSON header (padded with spaces to 8 bytes, as the reference writer) for these entries. */
export function safetensorsHeader(entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}): { head: Uint8Array; dataBytes: number } {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const entry of entries) {
    if (entry.name === '__metadata__' || Object.hasOwn(header, entry.name)) throw new WeightsError(`safetensors writer: duplicate or reserved tensor name '${entry.name}'`);
    const length = shapeElements(entry.shape, `safetensors writer: '${entry.name}'`) * WEIGHT_DTYPE_BYTES[entry.dtype];
    header[entry.name] = { dtype: entry.dtype, shape: [...entry.shape], data_offsets: [offset, offset + length] };
    offset += length;
  }
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const encoded = new TextEncoder().encode(json);
  const head = new Uint8Array(8 + encoded.length);
  new DataView(head.buffer).setUint32(0, encoded.length, true);
  head.set(encoded, 8);
  return { head, dataBytes: offset };
}

/** Writes a safetensors file through `sink`, one tensor at a time; returns the bytes written. */
export async function writeSafetensors(entries: readonly SafetensorsEntry[], metadata: Record<string, string>,
  sink: (chunk: Uint8Array) => Promise<void> | void): Promise<number> {
  const { head, dataBytes } = safetensorsHeader(entries, metadata);
  await sink(head);
  for (const entry of entries) {
    const bytes = await entry.data();
    const expected = shapeElements(entry.shape, entry.name) * WEIGHT_DTYPE_BYTES[entry.dtype];
    if (bytes.byteLength !== expected) throw new WeightsError(`safetensors writer: '${entry.name}' gave ${bytes.byteLength} bytes, its shape needs ${expected}`);
    await sink(bytes);
  }
  return head.byteLength + dataBytes;
}

/** The whole file in memory (small files, browsers). */
export async function encodeSafetensorsFile(entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeSafetensors(entries, metadata, (chunk) => void chunks.push(chunk));
  return concatBytes(chunks);
}

/** Node: streams the file to `path` (written beside it first and renamed, so a failed write leaves nothing half-made). */
export async function writeSafetensorsToPath(path: string, entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}): Promise<number> {
  const { open, rename, rm } = await import('node:fs/promises');
  const partial = `${path}.partial`;
  const file = await open(partial, 'w');
  try {
    const total = await writeSafetensors(entries, metadata, async (chunk) => {
      await file.write(chunk);
    });
    await file.close();
    await rename(partial, path);
    return total;
  } catch (error) {
    await file.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
}

/** F32 tensors plus string metadata as safetensors bytes, synchronously (concept banks, fitted parameters). */
export function encodeSafetensors(tensors: Record<string, { shape: readonly number[]; data: Float32Array }>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = Object.entries(tensors).map(([name, { shape, data }]) => {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new ShapeError(`encodeSafetensors: '${name}' has ${data.length} values for shape ${formatShape(shape)}`);
    // Little-endian bytes: every platform WebGPU runs on is little-endian, as safetensors requires.
    return { name, dtype: 'F32' as const, shape, data: () => new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  });
  const { head, dataBytes } = safetensorsHeader(entries, metadata);
  const out = new Uint8Array(head.byteLength + dataBytes);
  out.set(head);
  let at = head.byteLength;
  for (const entry of entries) {
    const bytes = entry.data();
    out.set(bytes, at);
    at += bytes.byteLength;
  }
  return out;
}

import type { ByteSource } from '../../io/bytes.js';
import { isWeightDType, shapeElements, WEIGHT_DTYPE_BYTES, type TensorInfo, type WeightDType } from '../dtypes.js';
import { WeightsError } from '../../io/errors.js';
import { BaseWeightSource } from '../source.js';

/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, then the data
 * section; offsets are relative to its start. Every tensor is contiguous, row-major, little-endian.
 */

/** The reference implementation refuses headers above 100 MB; so do we, before allocating anything. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry extends TensorInfo {
  /** Byte range in the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** File offset of the data section. */
  dataStart: number;
}

/** Reads the 8-byte length prefix; throws when it cannot describe a header inside a file of `fileSize` bytes. */
export function headerLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new WeightsError(`${file}: truncated safetensors file: ${fileSize} bytes, less than the 8-byte header length`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + low;
  if (length > fileSize - 8) {
    throw new WeightsError(`${file}: safetensors header length ${length} runs past the end of the file (${fileSize} bytes, ${fileSize - 8} after the length)`);
  }
  if (length > MAX_HEADER_BYTES) throw new WeightsError(`${file}: safetensors header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (length < 2) throw new WeightsError(`${file}: safetensors header length ${length} is too small to hold a JSON object`);
  return length;
}

/** Parses and validates the JSON header against a file of `fileSize` bytes. */
export function parseHeader(json: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const dataStart = 8 + json.byteLength;
  const dataSize = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new WeightsError(`${file}: safetensors header is not valid UTF-8`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WeightsError(`${file}: safetensors header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw new WeightsError(`${file}: safetensors header must be a JSON object, got ${describe(parsed)}`);

  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, file);
      continue;
    }
    const where = `${file}: tensor '${name}'`;
    if (!isPlainObject(value)) throw new WeightsError(`${where}: entry must be an object, got ${describe(value)}`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isWeightDType(dtype)) throw new WeightsError(`${where}: unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(WEIGHT_DTYPE_BYTES).join(', ')})`);
    if (!Array.isArray(shape)) throw new WeightsError(`${where}: shape must be an array, got ${describe(shape)}`);
    const elements = shapeElements(shape as number[], where);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new WeightsError(`${where}: data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw new WeightsError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) throw new WeightsError(`${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes; file truncated?)`);
    const needed = elements * WEIGHT_DTYPE_BYTES[dtype as WeightDType];
    if (end - begin !== needed) {
      throw new WeightsError(`${where}: shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${needed} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.set(name, { dtype, shape: [...(shape as number[])], begin, end });
  }

  // Like the reference reader: tensors tile the data section exactly, no overlaps, holes or trailing bytes.
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let cursor = 0;
  let previous = '';
  for (const [name, entry] of sorted) {
    if (entry.begin < cursor) {
      throw new WeightsError(`${file}: tensors '${previous}' and '${name}' overlap (data_offsets [${entry.begin}, ${entry.end}] start before ${cursor})`);
    }
    if (entry.begin > cursor) throw new WeightsError(`${file}: bytes [${cursor}, ${entry.begin}) of the data section belong to no tensor (before '${name}')`);
    cursor = entry.end;
    previous = name;
  }
  if (cursor !== dataSize) {
    throw new WeightsError(`${file}: the data section has ${dataSize} bytes but tensors cover only ${cursor} (trailing bytes or wrong offsets)`);
  }
  return { entries, metadata, dataStart };
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (!isPlainObject(value)) throw new WeightsError(`${file}: __metadata__ must be an object of strings, got ${describe(value)}`);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new WeightsError(`${file}: __metadata__ '${key}' must be a string, got ${describe(item)}`);
  }
  return value as Record<string, string>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

export class SafetensorsSource extends BaseWeightSource {
  readonly format = 'safetensors' as const;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  override readonly metadata: Readonly<Record<string, string>>;

  private constructor(bytes: ByteSource, private readonly header: SafetensorsHeader) {
    super(bytes);
    this.tensors = new Map([...header.entries].map(([name, e]) => [name, { dtype: e.dtype, shape: e.shape }]));
    this.metadata = header.metadata;
  }

  static async open(bytes: ByteSource): Promise<SafetensorsSource> {
    const length = headerLength(await bytes.read(0, Math.min(8, bytes.size)), bytes.size, bytes.name);
    const json = await bytes.read(8, length);
    return new SafetensorsSource(bytes, parseHeader(json, bytes.size, bytes.name));
  }

  protected rawRange(name: string, info: TensorInfo, start: number, count: number, into?: Uint8Array): Promise<Uint8Array> {
    const entry = this.header.entries.get(name)!;
    const size = WEIGHT_DTYPE_BYTES[info.dtype];
    return this.bytes.read(this.header.dataStart + entry.begin + start * size, count * size, into);
  }
}

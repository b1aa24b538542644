/**
 * Block-quantized tensors in safetensors files, and their upload.
 *
 * A quantized matrix `<name>` [N, K] is stored as two tensors (host form in src/kernels/quantize.ts):
 *   `<name>.q8`  I8 [N, K]              or  `<name>.q4`  U8 [N, ceil(K/2)] (nibble pairs, offset by 8)
 *   `<name>.scales`  F16 [N, ceil(K/32)]  (one scale per block of 32 along K)
 * and listed in the metadata key `geolens.quantization`, JSON
 *   {"block": 32, "tensors": {"<name>": {"scheme": "q8" | "q4", "shape": [N, K]}}}
 * (q4 needs the shape: K = 999 and K = 1000 both take 500 bytes a row). The reader presents each such pair
 * as the plain tensor `<name>` (dtype F32, its real shape), so shape checks, readF32 and uploads see the
 * model's names; uploadWeight() copies the stored values straight to the GPU when asked for the same
 * scheme, and quantizes (or dequantizes) in row chunks otherwise.
 *
 * Files geolens writes also carry a digest of every stored tensor (tensor-digests.ts); the quantized
 * view sits on DigestCheckedSource, so values and scales are checked as stored.
 */
import { dequantizeMatrix, packQuantizedRows, quantBlocks, quantizedRowBytes, quantizeMatrix, type QuantizedMatrix } from '../../kernels/quantize.js';
import {
  formatShape, isQuantized, QUANT_BLOCK, quantizedRowWords, ShapeError, type DType, type Gpu, type QuantizedDType, type Tensor,
} from '../../runtime/index.js';
import { DigestCheckedSource } from './tensor-digests.js';
import { toHalves, type TensorInfo } from '../dtypes.js';
import { WeightsError } from '../../io/errors.js';
import { isRanged, missingTensor, type RangedWeightSource, type WeightSource } from '../source.js';

export const QUANTIZATION_KEY = 'geolens.quantization';
interface StoredMatrix {
  scheme: QuantizedDType;
  rows: number;
  k: number;
  values: string;
  scales: string;
}

/** The quantization table of a file's metadata, checked against its tensors; null when the file has none. */
function parseQuantization(source: RangedWeightSource, file: string): Map<string, StoredMatrix> | null {
  const text = source.metadata[QUANTIZATION_KEY];
  if (text === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new WeightsError(`${file}: metadata '${QUANTIZATION_KEY}' is not valid JSON`);
  }
  const table = parsed as { block?: unknown; tensors?: Record<string, { scheme?: unknown; shape?: unknown }> };
  if (typeof parsed !== 'object' || parsed === null || table.block !== QUANT_BLOCK || typeof table.tensors !== 'object' || table.tensors === null) {
    throw new WeightsError(`${file}: metadata '${QUANTIZATION_KEY}' must be {"block": ${QUANT_BLOCK}, "tensors": {...}}; got ${text.slice(0, 80)}`);
  }
  const stored = new Map<string, StoredMatrix>();
  for (const [name, entry] of Object.entries(table.tensors)) {
    const where = `${file}: quantized tensor '${name}'`;
    const scheme = entry?.scheme;
    const shape = entry?.shape;
    if (scheme !== 'q8' && scheme !== 'q4') throw new WeightsError(`${where}: scheme must be "q8" or "q4", got ${JSON.stringify(scheme)}`);
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new WeightsError(`${where}: shape must be [N, K] of positive integers, got ${JSON.stringify(shape)}`);
    }
    const [rows, k] = shape as [number, number];
    const values = `${name}.${scheme}`;
    const scales = `${name}.scales`;
    expectStored(source, values, scheme === 'q8' ? 'I8' : 'U8', [rows, quantizedRowBytes(k, scheme)], where);
    expectStored(source, scales, 'F16', [rows, quantBlocks(k)], where);
    if (source.tensors.has(name)) throw new WeightsError(`${where}: the file also holds a plain tensor of that name`);
    stored.set(name, { scheme, rows, k, values, scales });
  }
  return stored;
}

function expectStored(source: RangedWeightSource, name: string, dtype: string, shape: number[], where: string): void {
  const info = source.tensors.get(name);
  if (!info) throw new WeightsError(`${where}: its part '${name}' is missing`);
  if (info.dtype !== dtype || info.shape.length !== 2 || info.shape[0] !== shape[0] || info.shape[1] !== shape[1]) {
    throw new WeightsError(`${where}: its part '${name}' is ${info.dtype} ${formatShape(info.shape)}; expected ${dtype} ${formatShape(shape)}`);
  }
}

/** A safetensors file with quantized matrices, seen with the model's tensor names. */
export class QuantizedWeightSource implements RangedWeightSource {
  readonly tensors: ReadonlyMap<string, TensorInfo>;

  private constructor(private readonly inner: RangedWeightSource, private readonly stored: Map<string, StoredMatrix>, private readonly file: string) {
    const parts = new Set([...stored.values()].flatMap((s) => [s.values, s.scales]));
    const tensors = new Map<string, TensorInfo>();
    for (const [name, info] of inner.tensors) if (!parts.has(name)) tensors.set(name, info);
    for (const [name, s] of stored) tensors.set(name, { dtype: 'F32', shape: [s.rows, s.k] });
    this.tensors = tensors;
  }

  /**
   * `source` with its stored tensors checked against their digests when the metadata records them, and
   * seen with the model's names when it lists quantized tensors. A quantized file without digests (written
   * before geolens recorded them) is read unchecked, after a warning naming it: `warn` (default console.warn).
   */
  static wrap(source: RangedWeightSource, file = 'the checkpoint', warn: (message: string) => void = console.warn): RangedWeightSource {
    const stored = parseQuantization(source, file);
    const checked = DigestCheckedSource.wrap(source, file);
    if (!stored) return checked;
    if (checked === source) warn(`geolens: ${file} records no tensor digests (written before geolens recorded them), so damage to it goes unnoticed; re-run \`geolens convert\` to add them`);
    return new QuantizedWeightSource(checked, stored, file);
  }

  get format(): 'safetensors' | 'pytorch' {
    return this.inner.format;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.inner.metadata;
  }

  get checksDigests(): boolean {
    return this.inner instanceof DigestCheckedSource;
  }

  /** How `name` is stored: its scheme, or undefined for a plain tensor. */
  schemeOf(name: string): QuantizedDType | undefined {
    return this.stored.get(name)?.scheme;
  }

  /** Rows [first, first + count) of a quantized matrix in host form. */
  async readQuantizedRows(name: string, first = 0, count?: number): Promise<QuantizedMatrix> {
    const s = this.stored.get(name);
    if (!s) throw missingTensor(name, this.tensors, 'the quantized checkpoint');
    const n = count ?? s.rows - first;
    const rowBytes = quantizedRowBytes(s.k, s.scheme);
    const blocks = quantBlocks(s.k);
    const raw = await this.inner.readRaw(s.values, first * rowBytes, n * rowBytes);
    const values = s.scheme === 'q8' ? new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength) : raw;
    const scaleBytes = (await this.inner.readRaw(s.scales, first * blocks, n * blocks)).slice();
    const scales = new Uint16Array(scaleBytes.buffer);
    for (let i = 0; i < scales.length; i++) {
      // f16 with every exponent bit set is Inf or NaN: one such scale would poison every search downstream.
      if ((scales[i]! & 0x7c00) === 0x7c00) {
        const row = first + Math.floor(i / blocks);
        throw new WeightsError(`${this.file}: quantized tensor '${name}': scale ${i % blocks} of row ${row} (in '${s.scales}') is ${scales[i]! & 0x3ff ? 'NaN' : 'Inf'}; the file is damaged`);
      }
    }
    return { dtype: s.scheme, rows: n, k: s.k, values, scales };
  }

  async readF32Range(name: string, start: number, count: number): Promise<Float32Array> {
    const s = this.stored.get(name);
    if (!s) return this.inner.readF32Range(name, start, count);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > s.rows * s.k) {
      throw new WeightsError(`tensor '${name}': elements [${start}, ${start + count}) are outside its ${s.rows * s.k} elements`);
    }
    if (count === 0) return new Float32Array(0);
    const firstRow = Math.floor(start / s.k);
    const endRow = Math.ceil((start + count) / s.k);
    const values = dequantizeMatrix(await this.readQuantizedRows(name, firstRow, endRow - firstRow));
    return values.slice(start - firstRow * s.k, start - firstRow * s.k + count);
  }

  readF32(name: string): Promise<Float32Array> {
    const s = this.stored.get(name);
    return s ? this.readF32Range(name, 0, s.rows * s.k) : this.inner.readF32(name);
  }

  async readRaw(name: string, start?: number, count?: number, into?: Uint8Array): Promise<Uint8Array> {
    const s = this.stored.get(name);
    if (!s) return this.inner.readRaw(name, start, count, into);
    // Presented as F32: the dequantized values' bytes.
    const values = await this.readF32Range(name, start ?? 0, count ?? s.rows * s.k - (start ?? 0));
    const bytes = new Uint8Array(values.buffer);
    if (!into) return bytes;
    into.set(bytes);
    return into.subarray(0, bytes.byteLength);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The scheme a quantized file was written in (q4 when it mixes q4 and q8 matrices), if it has any. */
export function storedScheme(source: WeightSource): QuantizedDType | undefined {
  if (!isQuantizedSource(source)) return undefined;
  const schemes = new Set([...source.tensors.keys()].map((name) => source.schemeOf(name)).filter((s) => s !== undefined));
  return schemes.has('q4') ? 'q4' : schemes.has('q8') ? 'q8' : undefined;
}

/** Whether reads of `source` are checked against recorded digests (a file opened by openWeights that records them). */
export function isDigestChecked(source: WeightSource): boolean {
  return source instanceof DigestCheckedSource || (source instanceof QuantizedWeightSource && source.checksDigests);
}

export function isQuantizedSource(source: WeightSource): source is QuantizedWeightSource {
  return source instanceof QuantizedWeightSource;
}

const DEFAULT_CHUNK_BYTES = 16 << 20;

/**
 * Uploads `name` as `dtype`, where a quantized dtype or quantized storage is involved (uploadWeight's
 * other cases stay there): stored q8/q4 to the same scheme is a copy of the stored bits; anything else
 * goes through f32 in chunks of rows, quantized (to q8/q4) or packed (to f16) on the way.
 */
export async function uploadQuantizedWeight(gpu: Gpu, source: WeightSource, name: string, dtype: DType,
  shape: readonly number[], chunkBytes = DEFAULT_CHUNK_BYTES): Promise<Tensor> {
  const stored = isQuantizedSource(source) ? source.schemeOf(name) : undefined;
  if (isQuantized(dtype) && shape.length !== 2) {
    throw new ShapeError(`tensor '${name}' has shape ${formatShape(shape)}; only matrices [N, K] can be stored as ${dtype}`);
  }
  if (!isQuantized(dtype) && dtype !== 'f32' && dtype !== 'f16') throw new ShapeError(`tensor '${name}': cannot upload as ${dtype}`);
  const k = shape[shape.length - 1]!;
  const rows = shape.reduce((a, b) => a * b, 1) / k;
  const tensor = gpu.empty(shape, dtype, name);
  try {
    const rowBytesOnGpu = isQuantized(dtype) ? quantizedRowWords(k, dtype) * 4 : k * (dtype === 'f32' ? 4 : 2);
    // Even row counts keep f16 pieces on whole words when K is odd.
    const perChunk = Math.max(2, Math.floor(chunkBytes / Math.max(rowBytesOnGpu, k * 4) / 2) * 2);
    const whole = stored === dtype || isRanged(source) ? null : await source.readF32(name);
    for (let first = 0; first < rows; first += perChunk) {
      const count = Math.min(perChunk, rows - first);
      let piece: ArrayBufferView;
      if (isQuantized(dtype) && stored === dtype) {
        piece = packQuantizedRows(await (source as QuantizedWeightSource).readQuantizedRows(name, 0 + first, count));
      } else {
        const values = whole ? whole.subarray(first * k, (first + count) * k) : await (source as RangedWeightSource).readF32Range(name, first * k, count * k);
        piece = isQuantized(dtype) ? packQuantizedRows(quantizeMatrix(values, [count, k], dtype, name)) : dtype === 'f32' ? values : toHalves(values);
      }
      gpu.write(tensor.buffer, piece, first * rowBytesOnGpu);
    }
    return tensor;
  } catch (error) {
    tensor.release();
    throw error;
  }
}

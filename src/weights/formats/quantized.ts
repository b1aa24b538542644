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
 * Files geolens writes (`geolens convert`, gallery embeddings) also carry a digest of every stored tensor
 * in the metadata key `geolens.tensor_digests`, JSON {"version": 1, "piece": 1048576, "tensors":
 * {"<stored name>": "<hex>"}}. A tensor's digest is the SHA-256 of the SHA-256s of its stored bytes in
 * pieces of `piece` bytes (the last one shorter): SubtleCrypto hashes one buffer at a time, and pieces let
 * the bytes be hashed as they are read, so a tensor is checked while it uploads and never read twice.
 * DigestCheckedSource does the checking; it sits under the quantized view, so values and scales are
 * checked as stored.
 */
import { dequantizeMatrix, packQuantizedRows, quantBlocks, quantizedRowBytes, quantizeMatrix, type QuantizedMatrix } from '../../kernels/quantize.js';
import {
  formatShape, isQuantized, QUANT_BLOCK, quantizedRowWords, ShapeError, type DType, type Gpu, type QuantizedDType, type Tensor,
} from '../../runtime/index.js';
import { sha256Hex } from '../../io/sha256.js';
import { decodeToF32, toHalves, WEIGHT_DTYPE_BYTES, type TensorInfo } from '../dtypes.js';
import { WeightsError } from '../../io/errors.js';
import { isRanged, missingTensor, type RangedWeightSource, type WeightSource } from '../source.js';

export const QUANTIZATION_KEY = 'geolens.quantization';
export const TENSOR_DIGESTS_KEY = 'geolens.tensor_digests';
const DIGEST_PIECE_BYTES = 1 << 20;

function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(hex.match(/../g)!.map((pair) => parseInt(pair, 16)));
}

/** The digest of one tensor's stored bytes (see the header): what a writer records. */
export async function tensorDigest(bytes: Uint8Array): Promise<string> {
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength || at === 0; at += DIGEST_PIECE_BYTES) {
    pieces.push(hexToBytes(await sha256Hex([bytes.subarray(at, at + DIGEST_PIECE_BYTES)])));
    if (bytes.byteLength === 0) break;
  }
  return sha256Hex(pieces);
}

/** The metadata value recording `digests` (stored tensor name → tensorDigest). */
export function tensorDigestsMetadata(digests: Iterable<[string, string]>): string {
  return JSON.stringify({ version: 1, piece: DIGEST_PIECE_BYTES, tensors: Object.fromEntries(digests) });
}

/**
 * The digests of entries whose bytes are at hand (a file built in memory), as the metadata to add; a
 * file streamed to disk records them as it writes instead (writeSealedSafetensors in convert.ts).
 */
export async function tensorDigestsFor(entries: readonly { name: string; data: () => Uint8Array | Promise<Uint8Array> }[]): Promise<Record<string, string>> {
  const digests: [string, string][] = [];
  for (const entry of entries) digests.push([entry.name, await tensorDigest(await entry.data())]);
  return { [TENSOR_DIGESTS_KEY]: tensorDigestsMetadata(digests) };
}

/** One stored tensor's check in progress: bytes [0, hashed) are hashed, piece by piece. */
interface DigestState {
  expected: string;
  /** Stored bytes, and bytes per element. */
  total: number;
  size: number;
  hashed: number;
  piece: Uint8Array | null;
  pieceFill: number;
  pieces: Uint8Array[];
  verified: boolean;
  refused: WeightsError | null;
  /** Reads of one tensor run one after another, so its hashing sees them in the order they return. */
  queue: Promise<unknown>;
}

/**
 * A source whose stored tensors are checked against the digests in its metadata as they are read: a read
 * that continues where the hashing stands is hashed on the way (uploads and whole reads read in order, so
 * a tensor is checked once, as it streams, and its last piece decides); any other read first checks the
 * whole tensor, a piece at a time. A mismatch is a WeightsError naming the file and the tensor, and the
 * tensor stays refused.
 */
export class DigestCheckedSource implements RangedWeightSource {
  private readonly states = new Map<string, DigestState>();

  private constructor(private readonly inner: RangedWeightSource, private readonly file: string, digests: Record<string, string>) {
    for (const [name, info] of inner.tensors) {
      const expected = digests[name];
      if (expected === undefined) throw new WeightsError(`${file}: tensor '${name}' has no digest in '${TENSOR_DIGESTS_KEY}' (the file was altered after it was written)`);
      const size = WEIGHT_DTYPE_BYTES[info.dtype];
      const total = info.shape.reduce((a, b) => a * b, 1) * size;
      this.states.set(name, { expected, total, size, hashed: 0, piece: null, pieceFill: 0, pieces: [], verified: false, refused: null, queue: Promise.resolve() });
    }
    for (const name of Object.keys(digests)) {
      if (!inner.tensors.has(name)) throw new WeightsError(`${file}: '${TENSOR_DIGESTS_KEY}' names a tensor '${name}' the file does not hold (the file was altered after it was written)`);
    }
  }

  /** Wraps `source` when its metadata carries digests; returns it unchanged otherwise. */
  static wrap(source: RangedWeightSource, file: string): RangedWeightSource {
    const text = source.metadata[TENSOR_DIGESTS_KEY];
    if (text === undefined) return source;
    let parsed: { version?: unknown; piece?: unknown; tensors?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new WeightsError(`${file}: metadata '${TENSOR_DIGESTS_KEY}' is not valid JSON`);
    }
    const tensors = parsed?.tensors as Record<string, unknown> | undefined;
    if (parsed?.version !== 1 || parsed.piece !== DIGEST_PIECE_BYTES || typeof tensors !== 'object' || tensors === null
      || !Object.values(tensors).every((hex) => typeof hex === 'string' && /^[0-9a-f]{64}$/.test(hex))) {
      throw new WeightsError(`${file}: metadata '${TENSOR_DIGESTS_KEY}' must be {"version": 1, "piece": ${DIGEST_PIECE_BYTES}, "tensors": {name: sha256 hex}}; got ${text.slice(0, 80)}`);
    }
    return new DigestCheckedSource(source, file, tensors as Record<string, string>);
  }

  get tensors(): ReadonlyMap<string, TensorInfo> {
    return this.inner.tensors;
  }

  get format(): 'safetensors' | 'pytorch' {
    return this.inner.format;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.inner.metadata;
  }

  readRaw(name: string, start = 0, count?: number, into?: Uint8Array): Promise<Uint8Array> {
    const state = this.states.get(name);
    if (!state) return this.inner.readRaw(name, start, count, into);
    const read = state.queue.then(() => this.readChecked(name, state, start, count, into));
    state.queue = read.catch(() => {});
    return read;
  }

  async readF32Range(name: string, start: number, count: number): Promise<Float32Array> {
    const info = this.inner.tensors.get(name);
    if (!info) return this.inner.readF32Range(name, start, count);
    const out = new Float32Array(count);
    if (info.dtype === 'F32') {
      await this.readRaw(name, start, count, new Uint8Array(out.buffer));
      return out;
    }
    const perChunk = Math.max(1, Math.floor((16 << 20) / WEIGHT_DTYPE_BYTES[info.dtype]));
    for (let done = 0; done < count; done += perChunk) {
      const n = Math.min(perChunk, count - done);
      decodeToF32(info.dtype, await this.readRaw(name, start + done, n), out, done);
    }
    return out;
  }

  readF32(name: string): Promise<Float32Array> {
    const info = this.inner.tensors.get(name);
    return info ? this.readF32Range(name, 0, info.shape.reduce((a, b) => a * b, 1)) : this.inner.readF32(name);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async readChecked(name: string, state: DigestState, start: number, count: number | undefined, into: Uint8Array | undefined): Promise<Uint8Array> {
    if (state.refused) throw state.refused;
    if (state.verified) return this.inner.readRaw(name, start, count, into);
    if (start * state.size !== state.hashed || state.total === 0) {
      // Out of order (or nothing to stream): the whole tensor is checked first, then read as asked.
      Object.assign(state, { hashed: 0, piece: null, pieceFill: 0, pieces: [] });
      do {
        const length = Math.min(DIGEST_PIECE_BYTES, state.total - state.hashed);
        await this.hash(name, state, await this.inner.readRaw(name, state.hashed / state.size, length / state.size));
      } while (!state.verified);
      return this.inner.readRaw(name, start, count, into);
    }
    const bytes = await this.inner.readRaw(name, start, count, into);
    await this.hash(name, state, bytes);
    return bytes;
  }

  /** Hashes the tensor's next `bytes`; the last of them decide, and a mismatch refuses the tensor. */
  private async hash(name: string, state: DigestState, bytes: Uint8Array): Promise<void> {
    let at = 0;
    // An empty tensor is one empty piece, as tensorDigest counts it.
    while (at < bytes.byteLength || (state.total === 0 && state.pieces.length === 0)) {
      const pieceBytes = Math.min(DIGEST_PIECE_BYTES, state.total - (state.hashed - state.pieceFill));
      if (pieceBytes === 0 && state.total > 0) break;
      let piece: Uint8Array | null = null;
      if (state.pieceFill === 0 && bytes.byteLength - at >= pieceBytes) {
        // A whole piece inside the read is hashed where it lies, without a copy.
        piece = bytes.subarray(at, at + pieceBytes);
        at += pieceBytes;
        state.hashed += pieceBytes;
      } else {
        state.piece ??= new Uint8Array(pieceBytes);
        const take = Math.min(bytes.byteLength - at, pieceBytes - state.pieceFill);
        state.piece.set(bytes.subarray(at, at + take), state.pieceFill);
        state.pieceFill += take;
        state.hashed += take;
        at += take;
        if (state.pieceFill === pieceBytes) {
          piece = state.piece;
          state.piece = null;
          state.pieceFill = 0;
        }
      }
      if (piece) state.pieces.push(hexToBytes(await sha256Hex([piece])));
    }
    if (state.hashed < state.total) return;
    const actual = await sha256Hex(state.pieces);
    state.pieces = [];
    if (actual !== state.expected) {
      state.refused = new WeightsError(`${this.file}: tensor '${name}' does not match the digest the file records (damaged or edited after it was written); download or convert it again`);
      throw state.refused;
    }
    state.verified = true;
  }
}

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

/**
 * Digests that files geolens writes (`geolens convert`, gallery embeddings) carry for every stored
 * tensor, in the metadata key `geolens.tensor_digests`, JSON {"version": 1, "piece": 1048576, "tensors":
 * {"<stored name>": "<hex>"}}. A tensor's digest is the SHA-256 of the SHA-256s of its stored bytes in
 * pieces of `piece` bytes (the last one shorter): SubtleCrypto hashes one buffer at a time, and pieces let
 * the bytes be hashed as they are read, so a tensor is checked while it uploads and never read twice.
 * DigestCheckedSource does the checking; the quantized view (quantized.ts) sits on top of it, so values
 * and scales are checked as stored.
 */
import { sha256Hex } from '../../io/sha256.js';
import { decodeToF32, WEIGHT_DTYPE_BYTES, type TensorInfo } from '../dtypes.js';
import { WeightsError } from '../../io/errors.js';
import type { RangedWeightSource } from '../source.js';

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

// Reading and editing safetensors files byte by byte, independently of src/weights: what a test needs to
// damage a file the way a bad disk, a bad download or a hand edit would.
import { createHash } from 'node:crypto';

/** The metadata key docs/ARCHITECTURE.md names for the digests. */
export const TENSOR_DIGESTS_KEY = 'geolens.tensor_digests';

export interface RawTensor {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export interface RawFile {
  header: Record<string, RawTensor> & { __metadata__?: Record<string, string> };
  dataStart: number;
  bytes: Buffer;
}

export function parseRaw(bytes: Buffer): RawFile {
  const length = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')), dataStart: 8 + length, bytes };
}

/** The absolute byte range of `name` in the file. */
export function tensorRange(file: RawFile, name: string): [number, number] {
  const entry = file.header[name] as RawTensor | undefined;
  if (!entry) throw new Error(`no tensor '${name}' (have ${Object.keys(file.header).join(', ')})`);
  return [file.dataStart + entry.data_offsets[0], file.dataStart + entry.data_offsets[1]];
}

/** The same data under a new header (metadata edited by `edit`), padded to 8 bytes as the reference writer does. */
export function withMetadata(file: RawFile, edit: (metadata: Record<string, string>) => void): Buffer {
  const header = structuredClone(file.header);
  const metadata = header.__metadata__ ?? {};
  edit(metadata);
  header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([head, Buffer.from(json), file.bytes.subarray(file.dataStart)]);
}

/** The documented tensor digest: SHA-256 over the SHA-256s of the stored bytes in 1 MiB pieces. */
export function referenceDigest(bytes: Uint8Array): string {
  const outer = createHash('sha256');
  const piece = 1 << 20;
  for (let at = 0; at < bytes.byteLength || at === 0; at += piece) {
    outer.update(createHash('sha256').update(bytes.subarray(at, at + piece)).digest());
    if (bytes.byteLength === 0) break;
  }
  return outer.digest('hex');
}

/** Every tensor's digest recomputed from the file's bytes, as the metadata value. */
export function resealed(file: RawFile): string {
  const tensors: Record<string, string> = {};
  for (const name of Object.keys(file.header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = tensorRange(file, name);
    tensors[name] = referenceDigest(file.bytes.subarray(begin, end));
  }
  return JSON.stringify({ version: 1, piece: 1 << 20, tensors });
}

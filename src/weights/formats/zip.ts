import type { ByteSource } from '../../io/bytes.js';
import { WeightsError } from '../../io/errors.js';

/**
 * The zip container of PyTorch's `.pth` (torch.save since 1.6): the central directory at the end of the
 * file lists every entry; torch writes them stored (uncompressed), 64-byte aligned via the extra field,
 * with zip64 records once the file passes 4 GiB. Only stored entries are read; anything else is refused.
 */
export interface ZipEntry {
  name: string;
  /** Bytes of the entry's data. */
  size: number;
  crc32: number;
  /** Offset of the local file header (the data follows it). */
  headerOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const METHOD_NAMES: Record<number, string> = { 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz' };

export class ZipArchive {
  private readonly dataStarts = new Map<string, number>();

  private constructor(private readonly bytes: ByteSource, readonly entries: ReadonlyMap<string, ZipEntry>, private readonly centralStart: number) {}

  static async open(bytes: ByteSource): Promise<ZipArchive> {
    const file = bytes.name;
    if (bytes.size < 22) throw new WeightsError(`${file}: truncated zip: ${bytes.size} bytes cannot hold an end-of-central-directory record`);
    // The EOCD record is the last 22 bytes plus a comment of up to 65,535 bytes.
    const tailLength = Math.min(bytes.size, 22 + 65535);
    const tailStart = bytes.size - tailLength;
    const tail = await bytes.read(tailStart, tailLength);
    const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let at = -1;
    for (let i = tail.byteLength - 22; i >= 0; i--) {
      if (view.getUint32(i, true) === EOCD && i + 22 + view.getUint16(i + 20, true) === tail.byteLength) {
        at = i;
        break;
      }
    }
    if (at < 0) throw new WeightsError(`${file}: no zip end-of-central-directory record (truncated or not a zip)`);
    let count: number = view.getUint16(at + 10, true);
    let centralSize: number = view.getUint32(at + 12, true);
    let centralStart: number = view.getUint32(at + 16, true);
    let centralEnd = tailStart + at;
    if (count === 0xffff || centralSize === 0xffffffff || centralStart === 0xffffffff) {
      const locatorAt = tailStart + at - 20;
      if (locatorAt < 0) throw new WeightsError(`${file}: zip64 sizes announced but no zip64 locator before the end record`);
      const locator = await readView(bytes, locatorAt, 20);
      if (locator.getUint32(0, true) !== ZIP64_LOCATOR) throw new WeightsError(`${file}: zip64 sizes announced but the zip64 locator is missing`);
      const recordAt = u64(locator, 8, file, 'zip64 end record offset');
      if (recordAt + 56 > locatorAt) throw new WeightsError(`${file}: zip64 end record at ${recordAt} lies outside the file`);
      const record = await readView(bytes, recordAt, 56);
      if (record.getUint32(0, true) !== ZIP64_EOCD) throw new WeightsError(`${file}: no zip64 end record at offset ${recordAt}`);
      count = u64(record, 32, file, 'zip64 entry count');
      centralSize = u64(record, 40, file, 'zip64 central directory size');
      centralStart = u64(record, 48, file, 'zip64 central directory offset');
      centralEnd = recordAt;
    }
    if (centralStart + centralSize > centralEnd) {
      throw new WeightsError(`${file}: zip central directory [${centralStart}, ${centralStart + centralSize}) runs past its end record at ${centralEnd} (truncated file?)`);
    }
    if (count > centralSize / 46) throw new WeightsError(`${file}: zip claims ${count} entries in a ${centralSize}-byte central directory`);
    const central = await readView(bytes, centralStart, centralSize);
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > centralSize || central.getUint32(p, true) !== CENTRAL) throw new WeightsError(`${file}: zip central directory entry ${i} is corrupt (at offset ${centralStart + p})`);
      const flags = central.getUint16(p + 8, true);
      const method = central.getUint16(p + 10, true);
      const crc32 = central.getUint32(p + 16, true);
      let compressed: number = central.getUint32(p + 20, true);
      let size: number = central.getUint32(p + 24, true);
      const nameLength = central.getUint16(p + 28, true);
      const extraLength = central.getUint16(p + 30, true);
      const commentLength = central.getUint16(p + 32, true);
      let headerOffset: number = central.getUint32(p + 42, true);
      const end = p + 46 + nameLength + extraLength + commentLength;
      if (end > centralSize) throw new WeightsError(`${file}: zip central directory entry ${i} runs past the directory`);
      const name = decodeName(new Uint8Array(central.buffer, central.byteOffset + p + 46, nameLength), file);
      // Zip64 extra field: the 8-byte values of whichever fields hold 0xFFFFFFFF, in this order.
      let q = p + 46 + nameLength;
      const extraEnd = q + extraLength;
      while (q + 4 <= extraEnd) {
        const id = central.getUint16(q, true);
        const length = central.getUint16(q + 2, true);
        if (q + 4 + length > extraEnd) throw new WeightsError(`${file}: zip entry '${name}' has a corrupt extra field`);
        if (id === 0x0001) {
          let r = q + 4;
          const take = (what: string): number => {
            if (r + 8 > q + 4 + length) throw new WeightsError(`${file}: zip entry '${name}' zip64 field lacks its ${what}`);
            const value = u64(central, r, file, `zip64 ${what} of '${name}'`);
            r += 8;
            return value;
          };
          if (size === 0xffffffff) size = take('size');
          if (compressed === 0xffffffff) compressed = take('compressed size');
          if (headerOffset === 0xffffffff) headerOffset = take('header offset');
        }
        q += 4 + length;
      }
      if (flags & 1) throw new WeightsError(`${file}: zip entry '${name}' is encrypted`);
      if (method !== 0) {
        throw new WeightsError(`${file}: zip entry '${name}' is compressed (${METHOD_NAMES[method] ?? `method ${method}`}); geolens reads only stored entries, as torch.save writes them. Re-save with torch.save(state_dict, path)`);
      }
      if (compressed !== size) throw new WeightsError(`${file}: stored zip entry '${name}' has compressed size ${compressed} ≠ size ${size}`);
      if (headerOffset + 30 + size > centralStart) throw new WeightsError(`${file}: zip entry '${name}' (${size} bytes at ${headerOffset}) runs into the central directory`);
      if (entries.has(name)) throw new WeightsError(`${file}: zip holds two entries named '${name}'`);
      entries.set(name, { name, size, crc32, headerOffset });
      p = end;
    }
    return new ZipArchive(bytes, entries, centralStart);
  }

  entry(name: string): ZipEntry {
    const entry = this.entries.get(name);
    if (!entry) throw new WeightsError(`${this.bytes.name}: zip entry '${name}' is missing`);
    return entry;
  }

  /** File offset where an entry's data begins (read from its local header, once). */
  async dataStart(entry: ZipEntry): Promise<number> {
    const known = this.dataStarts.get(entry.name);
    if (known !== undefined) return known;
    const header = await readView(this.bytes, entry.headerOffset, 30);
    if (header.getUint32(0, true) !== LOCAL) throw new WeightsError(`${this.bytes.name}: zip entry '${entry.name}' has no local header at offset ${entry.headerOffset}`);
    const nameLength = header.getUint16(26, true);
    const extraLength = header.getUint16(28, true);
    const localName = decodeName(await this.bytes.read(entry.headerOffset + 30, nameLength), this.bytes.name);
    if (localName !== entry.name) throw new WeightsError(`${this.bytes.name}: zip entry '${entry.name}' is named '${localName}' in its local header`);
    const start = entry.headerOffset + 30 + nameLength + extraLength;
    if (start + entry.size > this.centralStart) throw new WeightsError(`${this.bytes.name}: zip entry '${entry.name}' data runs into the central directory`);
    this.dataStarts.set(entry.name, start);
    return start;
  }

  /** A whole entry, its CRC-32 checked. */
  async read(name: string): Promise<Uint8Array> {
    const entry = this.entry(name);
    const data = await this.bytes.read(await this.dataStart(entry), entry.size);
    checkCrc(data, entry, this.bytes.name);
    return data;
  }
}

export function checkCrc(data: Uint8Array, entry: ZipEntry, file: string, computed?: number): void {
  const actual = computed ?? crc32(data);
  if (actual !== entry.crc32) {
    throw new WeightsError(`${file}: zip entry '${entry.name}' is corrupt: CRC-32 ${hex(actual)} ≠ recorded ${hex(entry.crc32)}`);
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

async function readView(bytes: ByteSource, offset: number, length: number): Promise<DataView> {
  if (offset + length > bytes.size) throw new WeightsError(`${bytes.name}: truncated zip: record at ${offset} of ${length} bytes runs past the end (${bytes.size} bytes)`);
  const data = await bytes.read(offset, length);
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

function u64(view: DataView, at: number, file: string, what: string): number {
  const value = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) throw new WeightsError(`${file}: ${what} ${value} is out of range`);
  return value;
}

function decodeName(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new WeightsError(`${file}: zip entry name is not valid UTF-8`);
  }
}

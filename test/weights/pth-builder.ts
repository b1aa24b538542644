import { crc32 } from '../../src/weights/index.js';

/** Builds pickles opcode by opcode and stores them in a PyTorch-layout zip, for tests of hostile .pth files. */
export class PickleWriter {
  private parts: number[] = [0x80, 0x02];
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  u32(value: number): number[] {
    return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
  }
  str(text: string): this {
    const bytes = new TextEncoder().encode(text);
    return this.op(0x58, ...this.u32(bytes.length), ...bytes);
  }
  int(value: number): this {
    return this.op(0x4a, ...this.u32(value));
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  put(index: number): this {
    return this.op(0x72, ...this.u32(index));
  }
  get(index: number): this {
    return this.op(0x6a, ...this.u32(index));
  }
  /** Pushes a float tensor: _rebuild_tensor_v2(storage key of numel floats, offset, shape, stride, False, OrderedDict()). */
  tensor(key: string, numel: number, offset: number, shape: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').op(0x28);
    this.op(0x28).str('storage').global('torch', 'FloatStorage').str(key).str('cpu').int(numel).op(0x74, 0x51);
    this.int(offset).op(0x28);
    for (const d of shape) this.int(d);
    this.op(0x74, 0x28);
    for (const s of stride) this.int(s);
    this.op(0x74, 0x89).global('collections', 'OrderedDict').op(0x29, 0x52);
    return this.op(0x74, 0x52);
  }
  bytes(): Uint8Array {
    return new Uint8Array([...this.parts, 0x2e]);
  }
}

/** A stored (uncompressed) zip of `archive/<name>` entries, as torch.save lays them out. */
export function pthZip(entries: Record<string, Uint8Array>): Uint8Array {
  const local: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [short, data] of Object.entries(entries)) {
    const name = new TextEncoder().encode(`archive/${short}`);
    const crc = crc32(data);
    const header = new Uint8Array(30 + name.length);
    const h = new DataView(header.buffer);
    h.setUint32(0, 0x04034b50, true);
    h.setUint16(4, 20, true);
    h.setUint32(14, crc, true);
    h.setUint32(18, data.length, true);
    h.setUint32(22, data.length, true);
    h.setUint16(26, name.length, true);
    header.set(name, 30);
    const record = new Uint8Array(46 + name.length);
    const c = new DataView(record.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true);
    c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    record.set(name, 46);
    local.push(header, data);
    central.push(record);
    offset += header.length + data.length;
  }
  const centralSize = central.reduce((n, r) => n + r.length, 0);
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, central.length, true);
  e.setUint16(10, central.length, true);
  e.setUint32(12, centralSize, true);
  e.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + 22);
  let p = 0;
  for (const part of [...local, ...central, end]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

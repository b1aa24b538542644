/**
 * Image dimensions from the container header alone, so a pixel cap can refuse a decompression bomb (a
 * 1 MB PNG of 20000×20000) before any decoder allocates its pixels. PNG (IHDR), GIF (logical screen),
 * WebP (VP8, VP8L, VP8X), JPEG (the first SOFn marker). Null when the header is not understood or lies
 * beyond the bytes given.
 */
export function imageDimensions(bytes: Uint8Array): { width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (offset: number, ...values: number[]) => values.every((v, i) => bytes[offset + i] === v);
  if (at(0, 0x89, 0x50, 0x4e, 0x47) && bytes.length >= 24 && at(12, 0x49, 0x48, 0x44, 0x52)) return { width: view.getUint32(16), height: view.getUint32(20) };
  if (at(0, 0x47, 0x49, 0x46, 0x38) && bytes.length >= 10) return { width: view.getUint16(6, true), height: view.getUint16(8, true) };
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50) && bytes.length >= 30) {
    if (at(12, 0x56, 0x50, 0x38, 0x20)) return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    if (at(12, 0x56, 0x50, 0x38, 0x4c)) {
      const bits = view.getUint32(21, true);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (at(12, 0x56, 0x50, 0x38, 0x58)) {
      const u24 = (o: number) => bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16);
      return { width: u24(24) + 1, height: u24(27) + 1 };
    }
    return null;
  }
  if (at(0, 0xff, 0xd8)) {
    let p = 2;
    while (p + 9 <= bytes.length) {
      if (bytes[p] !== 0xff) return null;
      const marker = bytes[p + 1]!;
      if (marker === 0xff) {
        p++;
        continue;
      }
      // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { width: view.getUint16(p + 7), height: view.getUint16(p + 5) };
      }
      if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
        p += 2;
        continue;
      }
      p += 2 + view.getUint16(p + 2);
    }
    return null;
  }
  return null;
}

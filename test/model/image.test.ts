// CLIP preprocessing vs PIL + numpy (scripts/fixtures/clip_vision.py), and decoding errors.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeImage, sniffImageFormat } from '../../src/image/decode-node.js';
import { ImageError, normalizeImage, preprocessImage, resizeAndCrop, resizeOutputSize, type RawImage } from '../../src/image/image.js';

const FIXTURE = 'test/fixtures/clip-vision/preprocess.safetensors';
const KAUAI = '../shared/data/geoclip/Kauai.png';

/** Just enough safetensors to read the fixture: U8 and F32 tensors plus the metadata. */
function readSafetensors(path: string): { tensors: Map<string, { shape: number[]; data: Uint8Array | Float32Array }>; metadata: Record<string, string> } {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const body = 8 + headerLength;
  const tensors = new Map<string, { shape: number[]; data: Uint8Array | Float32Array }>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as unknown as Record<string, string>;
      continue;
    }
    const bytes = file.subarray(body + entry.data_offsets[0], body + entry.data_offsets[1]);
    const copy = new Uint8Array(bytes);
    tensors.set(name, { shape: entry.shape, data: entry.dtype === 'F32' ? new Float32Array(copy.buffer) : copy });
  }
  return { tensors, metadata };
}

const fixture = readSafetensors(FIXTURE);
function tensor(name: string): Uint8Array | Float32Array {
  const t = fixture.tensors.get(name);
  if (!t) throw new Error(`fixture ${FIXTURE} has no ${name}`);
  return t.data;
}

function countMismatches(actual: ArrayLike<number>, expected: ArrayLike<number>): { count: number; worst: number } {
  let count = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (d !== 0) count++;
    worst = Math.max(worst, d);
  }
  return { count, worst };
}

test('resizeOutputSize keeps the aspect ratio and truncates like transformers', () => {
  assert.equal(resizeOutputSize(512, 504, 224), [227, 224]);
  assert.equal(resizeOutputSize(504, 512, 224), [224, 227]);
  assert.equal(resizeOutputSize(4032, 3024, 224), [298, 224]);
  assert.equal(resizeOutputSize(100, 100, 224), [224, 224]);
});

test('Kauai.png: decode + resize + crop match PIL byte for byte, and the normalized pixels match numpy exactly', async () => {
  const image = await decodeImage(new Uint8Array(readFileSync(KAUAI)));
  assert.equal([image.width, image.height, image.channels], [512, 504, 4]);
  const cropped = resizeAndCrop(image, 224);
  const bytes = countMismatches(cropped, tensor('kauai.cropped'));
  assert.is(bytes.count, 0, `${bytes.count} of ${cropped.length} bytes differ from PIL (worst by ${bytes.worst})`);
  const pixels = preprocessImage(image);
  assert.is(pixels.length, 3 * 224 * 224);
  const floats = countMismatches(pixels, tensor('kauai.pixels'));
  assert.is(floats.count, 0, `${floats.count} values differ from numpy (worst by ${floats.worst})`);
});

test('synthetic images (noise that overshoots, up/down sampling, RGBA, no-op resize) match PIL byte for byte', () => {
  const cases = JSON.parse(fixture.metadata.cases!) as { name: string; width: number; height: number; channels: 3 | 4; size: number }[];
  assert.ok(cases.length >= 6);
  for (const { name, width, height, channels, size } of cases) {
    const image: RawImage = { data: tensor(`${name}.input`) as Uint8Array, width, height, channels };
    const cropped = resizeAndCrop(image, size);
    const result = countMismatches(cropped, tensor(`${name}.cropped`));
    assert.is(result.count, 0, `${name} (${width}×${height}×${channels} → ${size}): ${result.count} bytes differ (worst by ${result.worst})`);
  }
});

test('a 4:2:0 JPEG written by PIL decodes (sharp) to the pixels PIL decodes', async () => {
  const image = await decodeImage(tensor('jpeg.bytes') as Uint8Array);
  assert.equal([image.width, image.height, image.channels], [100, 75, 3]);
  const result = countMismatches(image.data, tensor('jpeg.decoded'));
  assert.is(result.count, 0, `${result.count} of ${image.data.length} bytes differ from PIL (worst by ${result.worst})`);
});

test('grey, grey + alpha and palette PNGs decode to the RGB that PIL\'s convert("RGB") gives', async () => {
  for (const mode of ['L', 'LA', 'P']) {
    const image = await decodeImage(tensor(`png${mode}.bytes`) as Uint8Array);
    const rgb = new Uint8Array(image.width * image.height * 3);
    for (let i = 0; i < image.width * image.height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = image.data[i * image.channels + c]!;
    const result = countMismatches(rgb, tensor(`png${mode}.rgb`));
    assert.is(result.count, 0, `${mode}: ${result.count} bytes differ from PIL (worst by ${result.worst})`);
  }
});

test('grey images are replicated into R, G and B', () => {
  const grey: RawImage = { data: Uint8Array.from({ length: 30 * 20 }, (_, i) => (i * 37) % 256), width: 30, height: 20, channels: 1 };
  const rgb: RawImage = { data: Uint8Array.from({ length: 30 * 20 * 3 }, (_, i) => grey.data[Math.floor(i / 3)]!), width: 30, height: 20, channels: 3 };
  assert.equal(resizeAndCrop(grey, 16), resizeAndCrop(rgb, 16));
});

test('normalizeImage puts channels first and applies CLIP mean/std', () => {
  const out = normalizeImage(new Uint8Array([255, 0, 128, 0, 255, 0, 10, 20, 30, 40, 50, 60]), 2);
  assert.ok(Math.abs(out[0]! - (1 - 0.48145466) / 0.26862954) < 1e-6);
  assert.ok(Math.abs(out[4]! - (0 - 0.4578275) / 0.26130258) < 1e-6);
  assert.ok(Math.abs(out[8 + 3]! - (60 / 255 - 0.40821073) / 0.27577711) < 1e-6);
});

test('bad raw images are rejected with the sizes in the message', () => {
  assert.throws(() => resizeAndCrop({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 }, 2), (e: Error) => e instanceof ImageError && /10 bytes for 4×4×3/.test(e.message));
  assert.throws(() => resizeAndCrop({ data: new Uint8Array(0), width: 0, height: 4, channels: 3 }, 2), (e: Error) => e instanceof ImageError && /invalid size/.test(e.message));
  assert.throws(() => resizeAndCrop({ data: new Uint8Array(48), width: 4, height: 4, channels: 3 }, 4, 8), (e: Error) => e instanceof ImageError && /crop 8/.test(e.message));
});

test('decodeImage: a truncated PNG, a corrupt JPEG, empty and unknown bytes all give a clear ImageError', async () => {
  const png = new Uint8Array(readFileSync(KAUAI));
  const expectError = async (bytes: Uint8Array, pattern: RegExp) => {
    try {
      await decodeImage(bytes);
    } catch (error) {
      assert.ok(error instanceof ImageError, `expected ImageError, got ${error}`);
      assert.match((error as Error).message, pattern);
      return;
    }
    assert.unreachable(`decoding ${bytes.length} bytes should fail (${pattern})`);
  };
  await expectError(png.subarray(0, png.length >> 1), /corrupt or unreadable PNG/);

  const sharp = (await import('sharp')).default;
  const raw = Uint8Array.from({ length: 64 * 48 * 3 }, (_, i) => (i * 7919) % 251);
  const jpeg = new Uint8Array(await sharp(raw, { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toBuffer());
  assert.is(sniffImageFormat(jpeg), 'jpeg');
  const decoded = await decodeImage(jpeg);
  assert.equal([decoded.width, decoded.height, decoded.channels], [64, 48, 3]);
  await expectError(jpeg.subarray(0, jpeg.length - 200), /corrupt or unreadable JPEG/);
  const garbled = jpeg.slice();
  garbled.fill(0xa5, 20, 200);
  await expectError(garbled, /corrupt or unreadable JPEG/);

  await expectError(new Uint8Array(0), /no bytes/);
  await expectError(new TextEncoder().encode('definitely not an image'), /unsupported image format \(first bytes 64 65 66/);
});

test.run();

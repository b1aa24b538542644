import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import { decodeImage } from '../../src/image/decode-node.js';
import { buildGallery, fileGalleryCache, parseGalleryCsv, readGalleryCsv } from '../../src/model/geoclip/gallery.js';
import { imageDimensions } from '../../src/image/header.js';
import { ImageError, imageLimits, preprocessImage, type RawImage } from '../../src/image/image.js';
import { GeolensError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { seededRandom } from '../support/numeric.js';
import { DATA, loadNarrowGeoClip } from './geoclip-fixtures.js';
import { pngHeader } from './png-bomb.js';
import { rejection } from '../weights/support.js';

function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  assert.unreachable('expected a refusal');
  throw new Error('unreachable');
}

test('RawImage: float pixels with a declared range are honoured, others refused (NaN, out of range, no range, other arrays)', () => {
  const random = seededRandom(11);
  const width = 40;
  const height = 30;
  const bytes = new Uint8Array(width * height * 3).map(() => Math.floor(random() * 256));
  const expected = preprocessImage({ data: bytes, width, height, channels: 3 }, { size: 24 });
  // The same picture as floats in [0, 1] and in [0, 255]: exactly the bytes back, so the same pixels.
  const unit = Float32Array.from(bytes, (b) => b / 255);
  const wide = Float32Array.from(bytes);
  assert.equal(preprocessImage({ data: unit, width, height, channels: 3, range: 1 }, { size: 24 }), expected);
  assert.equal(preprocessImage({ data: wide, width, height, channels: 3, range: 255 }, { size: 24 }), expected);

  const noRange = refusal(() => preprocessImage({ data: unit, width, height, channels: 3 } as RawImage));
  assert.instance(noRange, ImageError);
  assert.match(noRange.message, /Float32Array data needs range 1 \(values in \[0, 1\]\) or 255/);
  const nan = unit.slice();
  nan[77] = NaN;
  assert.match(refusal(() => preprocessImage({ data: nan, width, height, channels: 3, range: 1 })).message, /value NaN at index 77 is NaN/);
  const over = unit.slice();
  over[5] = 1.5;
  assert.match(refusal(() => preprocessImage({ data: over, width, height, channels: 3, range: 1 })).message, /value 1\.5 at index 5 is outside \[0, 1\]/);
  const doubles = refusal(() => preprocessImage({ data: Float64Array.from(unit), width, height, channels: 3 } as unknown as RawImage));
  assert.match(doubles.message, /data is a Float64Array; RawImage data must be a Uint8Array/);
  const plain = refusal(() => preprocessImage({ data: Array.from(bytes), width, height, channels: 3 } as unknown as RawImage));
  assert.match(plain.message, /data is a Array/);
});

test('the pixel cap refuses an image from its header, before decoding; the cap is configurable', async () => {
  const bomb = pngHeader(20000, 20000);
  const before = process.memoryUsage().rss;
  const started = performance.now();
  const error = await rejection(() => decodeImage(bomb));
  assert.instance(error, ImageError);
  assert.match(error.message, /PNG header says: 20000×20000 is 400000000 pixels, more than the cap of 100000000/);
  assert.ok(performance.now() - started < 1000, 'refused without decoding');
  assert.ok(process.memoryUsage().rss - before < 100 << 20, 'no pixel buffer allocated');
  assert.equal(imageDimensions(bomb), { width: 20000, height: 20000 });

  const small = new Uint8Array(await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer());
  assert.is((await decodeImage(small)).width, 64);
  assert.match((await rejection(() => decodeImage(small, { maxPixels: 3000 }))).message, /64×48 is 3072 pixels, more than the cap of 3000/);
  const saved = imageLimits.maxPixels;
  imageLimits.maxPixels = 3000;
  try {
    assert.match((await rejection(() => decodeImage(small))).message, /cap of 3000/);
    // RawImage input meets the same cap.
    assert.match(refusal(() => preprocessImage({ data: new Uint8Array(64 * 48 * 3), width: 64, height: 48, channels: 3 })).message, /cap of 3000/);
  } finally {
    imageLimits.maxPixels = saved;
  }
});

test('image headers give the dimensions sharp reports, for PNG, JPEG, WebP (lossy, lossless) and GIF', async () => {
  const base = () => sharp({ create: { width: 37, height: 23, channels: 3, background: { r: 1, g: 2, b: 3 } } });
  const encoded: [string, Buffer][] = [
    ['png', await base().png().toBuffer()],
    ['jpeg', await base().jpeg().withMetadata({ exif: { IFD0: { Copyright: 'x'.repeat(3000) } } }).toBuffer()],
    ['webp', await base().webp().toBuffer()],
    ['webp lossless', await base().webp({ lossless: true }).toBuffer()],
    ['gif', await base().gif().toBuffer()],
  ];
  for (const [name, buffer] of encoded) {
    const meta = await sharp(buffer).metadata();
    assert.equal(imageDimensions(new Uint8Array(buffer)), { width: meta.width, height: meta.height }, name);
  }
  assert.is(imageDimensions(new Uint8Array([1, 2, 3])), null);
});

test('gallery CSV numbers are decimal only: 0x10, 0b1, Infinity and 1_0 are refused; 1e1 and .5 are read', () => {
  for (const cell of ['0x10', '0b1', '0o7', 'Infinity', '1_0', '', '1.2.3']) {
    const error = refusal(() => parseGalleryCsv(`LAT,LON\n1,2\n${cell},3\n`));
    assert.instance(error, GeolensError);
    assert.match(error.message, /line 3 has .* LAT value, not a finite number \(plain decimals only\)/, cell);
  }
  assert.equal([...parseGalleryCsv('LAT,LON\n1e1,.5\n-2.5E-1,+3\n')], [10, 0.5, -0.25, 3]);
  // A headerless file whose first row is hexadecimal is not taken for numbers either.
  assert.match(refusal(() => parseGalleryCsv('0x10,2\n')).message, /must be a header naming LAT and LON/);
});

test('a FIFO and /dev/zero as a gallery are refused without blocking or reading', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'geolens-gallery-fifo-'));
  const fifo = join(dir, 'gallery.csv');
  execFileSync('mkfifo', [fifo]);
  try {
    const started = performance.now();
    const fromFifo = await rejection(() => readGalleryCsv(fifo));
    assert.instance(fromFifo, GeolensError);
    assert.match(fromFifo.message, /gallery '.*gallery\.csv' is a FIFO \(named pipe\), not a regular file/);
    const fromZero = await rejection(() => readGalleryCsv('/dev/zero'));
    assert.match(fromZero.message, /gallery '\/dev\/zero' is a character device, not a regular file/);
    assert.ok(performance.now() - started < 2000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a gallery cache file with one altered row is rebuilt, not trusted', async () => {
  const gpu = await testGpu();
  const model = await loadNarrowGeoClip(gpu);
  const gps = parseGalleryCsv(readFileSync(`${DATA}/coordinates_100K.csv`, 'utf8')).subarray(0, 2 * 100);
  const dir = mkdtempSync(join(tmpdir(), 'geolens-gallery-flip-'));
  try {
    const first = await buildGallery(model, gps, { cache: fileGalleryCache(dir) });
    assert.is(first.fromCache, false);
    const embeddings = await first.chunks[0]!.read();
    first.release();
    const file = join(dir, 'galleries', readdirSync(join(dir, 'galleries'))[0]!);
    const written = new Uint8Array(readFileSync(file));

    const again = await buildGallery(model, gps, { cache: fileGalleryCache(dir) });
    assert.is(again.fromCache, true, 'an intact file is used');
    again.release();

    // Row 17 of 100: one value changed; the header (magic, version, count) stays valid.
    const altered = written.slice();
    const at = 48 + (17 * first.dim + 3) * 4;
    new DataView(altered.buffer).setFloat32(at, 0.99, true);
    writeFileSync(file, altered);
    const rebuilt = await buildGallery(model, gps, { cache: fileGalleryCache(dir) });
    assert.is(rebuilt.fromCache, false, 'the altered file is not trusted');
    assert.equal(await rebuilt.chunks[0]!.read(), embeddings, 'rebuilt rows equal the first build');
    rebuilt.release();
    assert.equal(new Uint8Array(readFileSync(file)), written, 'the cache file is rewritten whole');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GeoLocator, GeolensError } from '../../src/api/index.js';
import sharp from 'sharp';
import { haversineKm } from '../../src/geo/distance.js';
import { decodeImage } from '../../src/image/decode-node.js';
import { openWeights } from '../../src/weights/index.js';
import { ensureTinyModel, KAUAI, TINY_MODEL_DIR, tinyModelOptions } from '../support/tiny-model.js';
import { assertClose } from '../support/numeric.js';

const DIR = TINY_MODEL_DIR;
const VOCAB = '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz';

function fixtures(): void {
  ensureTinyModel();
  if (!existsSync(`${DIR}/text-expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/text_locate.py'], { stdio: 'inherit' });
}

let locator: GeoLocator;

test('locateText: the tiny CLIP text tower → image MLP → search gives PyTorch\'s top-5 and probabilities', async () => {
  fixtures();
  locator = await GeoLocator.create(await tinyModelOptions({ geoclipWeights: `${DIR}/geoclip.safetensors`, vocabulary: VOCAB }));
  const source = await openWeights(`${DIR}/text-expected.safetensors`);
  const prompts = JSON.parse(source.metadata?.prompts ?? '[]') as string[];
  const index = await source.readF32('topk_index');
  const probability = await source.readF32('topk_probability');
  await source.close();
  assert.is(prompts.length, 3);
  const results = await locator.locateText(prompts, { topK: 5 });
  results.forEach((result, q) => {
    assert.equal(result.places.map((p) => p.galleryIndex), Array.from(index.subarray(q * 5, q * 5 + 5)), `prompt ${q} top-5`);
    assertClose(result.places.map((p) => p.probability), probability.subarray(q * 5, q * 5 + 5), 0, 1e-5, `prompt ${q} probabilities`);
  });
  const [single] = await locator.locateText(prompts[1]!, { topK: 2 });
  assert.equal(single!.places.map((p) => p.galleryIndex), Array.from(index.subarray(5, 7)));
  await locator.locateText([]).then(
    () => assert.unreachable('no prompts'),
    (e: Error) => assert.ok(e instanceof GeolensError && /no prompts/.test(e.message), e.message),
  );
  await locator.locateText(['beach', '  ']).then(
    () => assert.unreachable('blank prompt'),
    (e: Error) => assert.match(e.message, /prompt 1 is empty/),
  );
});

test('EXIF orientation 6 gives the embedding of the same photo stored upright; EXIF GPS is reported', async () => {
  // Stored sideways (40 wide, 48 tall) with orientation 6: viewers turn it 90° clockwise to 48 × 40.
  const stored = new Uint8Array(40 * 48 * 3);
  for (let i = 0; i < stored.length; i++) stored[i] = (i * 7919 + ((i / 120) | 0) * 31) % 251;
  const jpeg = new Uint8Array(await sharp(stored, { raw: { width: 40, height: 48, channels: 3 } })
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '22/1 3/1 0/100', GPSLongitudeRef: 'W', GPSLongitude: '159/1 30/1 0/100' } })
    .toBuffer());
  // The upright copy: the JPEG's own pixels (not turned), rotated clockwise here by index arithmetic.
  const { data: sideways } = await sharp(jpeg, { autoOrient: false }).raw().toBuffer({ resolveWithObject: true });
  const upright = Buffer.alloc(sideways.length);
  for (let y = 0; y < 40; y++) for (let x = 0; x < 48; x++) for (let ch = 0; ch < 3; ch++) upright[(y * 48 + x) * 3 + ch] = sideways[((47 - x) * 40 + y) * 3 + ch]!;
  const png = new Uint8Array(await sharp(upright, { raw: { width: 48, height: 40, channels: 3 } }).png().toBuffer());

  const decoded = await decodeImage(jpeg);
  assert.equal([decoded.width, decoded.height], [48, 40]);
  assert.ok(Buffer.from(decoded.data).equals(Buffer.from((await decodeImage(png)).data)), 'turned pixels differ from the upright copy');
  const embeddings = await (await locator.imageEmbeddings([jpeg, png])).read();
  assertClose(embeddings.subarray(0, 512), embeddings.subarray(512), 0, 1e-6, 'embedding of the EXIF-rotated JPEG vs the upright PNG');

  const [withGps, without] = await locator.locate([jpeg, png], { topK: 2 });
  const exif = withGps!.exif!;
  assert.ok(Math.abs(exif.lat - 22.05) < 1e-9 && Math.abs(exif.lon + 159.5) < 1e-9, `EXIF position ${exif.lat}, ${exif.lon}`);
  assert.ok(Math.abs(exif.distanceKm - haversineKm(22.05, -159.5, withGps!.places[0]!.lat, withGps!.places[0]!.lon)) < 1e-9);
  assert.is(without!.exif, undefined);
  const [off] = await locator.locate(jpeg, { topK: 1, exif: false });
  assert.is(off!.exif, undefined);
});

test('locate with refine: the top places gain a refined point that never scores below them', async () => {
  const [plain] = await locator.locate(KAUAI, { topK: 4 });
  const [result] = await locator.locate(KAUAI, { topK: 4, refine: { candidates: 2, radiusKm: 20, steps: 2, gridSize: 5 } });
  assert.equal(result!.places.map((p) => p.galleryIndex), plain!.places.map((p) => p.galleryIndex));
  for (const [i, place] of result!.places.entries()) {
    if (i >= 2) {
      assert.is(place.refined, undefined);
      continue;
    }
    const refined = place.refined!;
    assert.ok(refined.probability >= place.probability * (1 - 1e-4), `place ${i}: refined p ${refined.probability} < gallery p ${place.probability}`);
    assert.ok(refined.shiftKm <= 20 * Math.SQRT2 * 1.01 + 20 / 2, `place ${i} moved ${refined.shiftKm} km`);
    assert.ok(Number.isFinite(refined.logit) && Math.abs(refined.lat) <= 90 && Math.abs(refined.lon) <= 180);
  }
  const [text] = await locator.locateText('a sandy beach with palm trees', { topK: 1, refine: true });
  assert.ok(text!.places[0]!.refined!.probability >= text!.places[0]!.probability * (1 - 1e-4));
  await locator.locate(KAUAI, { refine: { steps: 0 } }).then(
    () => assert.unreachable('zero steps'),
    (e: Error) => assert.match(e.message, /steps must be an integer from 1 to 10, got 0/),
  );
  locator.release();
});

test.run();

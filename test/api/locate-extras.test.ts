import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GeoLocator, GeolensError, type GeoLocatorOptions } from '../../src/api/index.js';
import { openWeights } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose } from '../support/numeric.js';

const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';
const VOCAB = '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz';

function fixtures(): void {
  if (!existsSync(`${DIR}/expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/api_locate.py'], { stdio: 'inherit' });
  if (!existsSync(`${DIR}/text-expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/text_locate.py'], { stdio: 'inherit' });
}

async function options(): Promise<GeoLocatorOptions> {
  return {
    gpu: await testGpu(),
    clipWeights: `${DIR}/clip.safetensors`,
    clipConfig: `${DIR}/config.json`,
    geoclipWeights: `${DIR}/geoclip.safetensors`,
    gallery: `${DIR}/gallery.csv`,
    vocabulary: VOCAB,
    galleryCache: false,
  };
}

let locator: GeoLocator;

test('locateText: the tiny CLIP text tower → image MLP → search gives PyTorch\'s top-5 and probabilities', async () => {
  fixtures();
  locator = await GeoLocator.create(await options());
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

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { GeoLocator, ImageError, ShapeError, GeolensError } from '../../src/api/index.js';
import { KAUAI, TINY_MODEL_DIR, tinyModelExpected as expected, tinyModelOptions as options } from '../support/tiny-model.js';
import { assertClose } from '../support/numeric.js';

const DIR = TINY_MODEL_DIR;

let locator: GeoLocator | null = null;

test('locate() on a photo path gives PyTorch\'s top-5 places and probabilities', async () => {
  const stages = new Set<string>();
  locator = await GeoLocator.create(await options({ onProgress: (p) => stages.add(p.stage) }));
  assert.ok(stages.has('weights') && stages.has('gallery'), `progress stages: ${[...stages]}`);
  assert.is(locator.gallery.size, 2000);
  const want = await expected();
  const [result] = await locator.locate(KAUAI, { topK: 5 });
  assert.equal(result!.places.map((p) => p.galleryIndex), Array.from(want.topk_index!));
  assertClose(result!.places.map((p) => p.probability), want.topk_probability!, 0, 1e-5, 'probabilities');
  const gallery = readFileSync(`${DIR}/gallery.csv`, 'utf8').trim().split('\n').slice(1).map((line) => line.split(',').map(Number));
  for (const place of result!.places) {
    assert.ok(Math.abs(place.lat - gallery[place.galleryIndex]![0]!) < 1e-4 && Math.abs(place.lon - gallery[place.galleryIndex]![1]!) < 1e-4);
  }
});

test('a batch of the same photo as path, bytes and Blob gives the same answer three times', async () => {
  const bytes = new Uint8Array(readFileSync(KAUAI));
  const results = await locator!.locate([KAUAI, bytes, new Blob([bytes])], { topK: 3 });
  assert.is(results.length, 3);
  for (const r of results.slice(1)) assert.equal(r.places, results[0]!.places);
});

test('bad inputs are refused with the problem named', async () => {
  const corrupt = new Uint8Array(readFileSync(KAUAI)).slice(0, 2000);
  await locator!.locate([KAUAI, corrupt]).then(
    () => assert.unreachable('a truncated PNG must not decode'),
    (e: Error) => assert.ok(e instanceof ImageError && /image 1/.test(e.message), e.message),
  );
  await locator!.locate(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])).then(
    () => assert.unreachable('unknown bytes must not decode'),
    (e: Error) => assert.ok(e instanceof ImageError && /unsupported image format/.test(e.message), e.message),
  );
  await locator!.locate(KAUAI, { topK: 2001 }).then(
    () => assert.unreachable('k beyond the gallery'),
    (e: Error) => assert.ok(e instanceof ShapeError && /2001/.test(e.message) && /2000/.test(e.message), e.message),
  );
  await locator!.locate([]).then(
    () => assert.unreachable('no images'),
    (e: Error) => assert.instance(e, GeolensError),
  );
  await GeoLocator.create(await options({ gallery: new Float32Array([10, 20, NaN, 5]) })).then(
    () => assert.unreachable('NaN in the gallery'),
    (e: Error) => assert.match(e.message, /NaN|not a number|row 1/i),
  );
});

test('locateEmbeddings checks topK as locate does: positive, within the gallery, at most the search maximum', async () => {
  const embeddings = await locator!.embedImages(KAUAI, { output: 'tensor' });
  try {
    for (const [topK, pattern] of [[300, /topK = 300 exceeds the supported maximum of 256/], [0, /topK must be a positive integer, got 0/], [2001, /topK = 2001 is more than the gallery's 2000 points/]] as const) {
      await locator!.locateEmbeddings(embeddings, { topK }).then(
        () => assert.unreachable(`topK ${topK} must be refused`),
        (e: Error) => assert.ok(e instanceof ShapeError && pattern.test(e.message), e.message),
      );
    }
    const [top] = await locator!.locateEmbeddings(embeddings, { topK: 256 });
    assert.is(top!.places.length, 256);
  } finally {
    embeddings.release();
  }
});

test('with a concept bank, places are re-ranked and explained as the concept formulas say', async () => {
  const want = await expected();
  const withConcepts = await GeoLocator.create(await options({ concepts: { bank: `${DIR}/concepts.safetensors` } }));
  const [result] = await withConcepts.locate(KAUAI, { topK: 5, rerankCandidates: 20 });
  assert.equal(result!.places.map((p) => p.galleryIndex), Array.from(want.rerank_index!));
  assertClose(result!.places.map((p) => p.concepts!.score), want.rerank_score!, 0, 1e-5, 're-rank scores');
  assertClose(result!.places.map((p) => p.probability), want.rerank_probability!, 0, 1e-5, 'GeoCLIP probabilities of re-ranked places');
  const imageConcepts = want.image_concepts!;
  const best = imageConcepts.indexOf(Math.max(...imageConcepts));
  assert.is(result!.imageConcepts![0]!.name, `concept ${best}`);
  assert.ok(Math.abs(result!.imageConcepts![0]!.probability - imageConcepts[best]!) < 1e-5);
  for (const place of result!.places) assert.ok(place.concepts!.agreement.length > 0 && place.concepts!.place.length > 0);
  // explain: false keeps GeoCLIP's own order.
  const [plain] = await withConcepts.locate(KAUAI, { topK: 5, explain: false });
  assert.equal(plain!.places.map((p) => p.galleryIndex), Array.from(want.topk_index!));
  withConcepts.release();
  locator!.release();
});

test.run();

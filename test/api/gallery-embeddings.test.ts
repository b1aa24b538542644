// Shipped gallery embeddings: written once, loaded instead of embedding the gallery, same answers;
// a file made from other location-encoder weights or for another gallery is refused.
import { mkdirSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GalleryEmbeddingsError, GeoLocator, writeGalleryEmbeddings } from '../../src/api/index.js';
import { loadGeoClip } from '../../src/api/loaders.js';
import { predict } from '../../src/model/geoclip/gallery.js';
import { galleryEmbeddingsEntries, loadGalleryEmbeddings } from '../../src/model/geoclip/gallery-embeddings.js';
import { encodeSafetensorsFile, openWeights } from '../../src/weights/index.js';
import { ENCODER_FILE, ensureLocationFixtures } from '../model/geoclip-fixtures.js';
import { testGpu } from '../support/gpu.js';
import { ensureTinyModel, KAUAI, splitGeoclipWeights, TINY_MODEL_DIR, tinyModelOptions as options } from '../support/tiny-model.js';

const DIR = TINY_MODEL_DIR;
const OUT = 'test/fixtures/generated/gallery-embeddings';

function fixture(): void {
  ensureTinyModel();
  mkdirSync(OUT, { recursive: true });
}

test('gallery embeddings round-trip: create() from an f16 file gives the same top-5 as embedding the gallery; q8 the same five', async () => {
  fixture();
  const gpu = await testGpu();
  const embedded = await GeoLocator.create(await options());
  const [want] = await embedded.locate(KAUAI, { topK: 5 });
  const wantIndices = want!.places.map((p) => p.galleryIndex);
  const out = `${OUT}/gallery.f16.safetensors`;
  const summary = await writeGalleryEmbeddings({ gpu, geoclipWeights: splitGeoclipWeights(), gallery: `${DIR}/gallery.csv`, dtype: 'f16', out });
  assert.match(summary, /2000 gallery embeddings \(512-d, f16\)/);

  // Through the API: no `gallery` given, so the file's own points are the gallery, and nothing is embedded.
  let stages = '';
  const shipped = await GeoLocator.create(await options({ gallery: undefined, galleryEmbeddings: `${OUT}/gallery.f16.safetensors`, onProgress: (p) => void (stages += `${p.what};`) }));
  assert.not.match(stages, /gallery embeddings;/, 'the gallery was embedded although a file was given');
  assert.is(shipped.gallery.size, 2000);
  const [got] = await shipped.locate(KAUAI, { topK: 5 });
  shipped.release();
  assert.equal(got!.places.map((p) => p.galleryIndex), wantIndices, 'f16: top-5 indices');
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(got!.places[i]!.probability - want!.places[i]!.probability) <= 1e-3 * want!.places[i]!.probability, `f16: probability ${i}`);

  // q8 rounds each embedding to 1/254 of its block's largest value: the same five places; near-equal
  // neighbours (this seeded encoder's top probabilities are all ~0.0018) may trade ranks.
  // (Written from the embeddings the first locator computed, sparing a second pass over the gallery.)
  const computed = await embedded.gallery.chunks[0]!.read();
  const q8File = await galleryEmbeddingsEntries(embedded.geoclip, embedded.gallery.gps, computed, 'q8');
  const q8Bytes = await encodeSafetensorsFile(q8File.entries, q8File.metadata);
  console.log(`    2000 × 512 gallery embeddings: f16 ${(readFileSync(out).byteLength / 1e6).toFixed(2)} MB, q8 ${(q8Bytes.byteLength / 1e6).toFixed(2)} MB`);
  const file = await openWeights(q8Bytes);
  const gallery = await loadGalleryEmbeddings(gpu, embedded.geoclip, file);
  await file.close();
  const image = await embedded.imageEmbeddings([KAUAI]);
  const [q8] = await predict(embedded.geoclip, image, gallery, 5);
  image.release();
  gallery.release();
  embedded.release();
  const q8Indices = q8!.map((p) => p.galleryIndex);
  console.log(`    q8 top-5 ${q8Indices.join(', ')} vs ${wantIndices.join(', ')}`);
  assert.equal([...q8Indices].sort(), [...wantIndices].sort(), 'q8: the same five places');
  assert.equal(q8Indices.slice(0, 3), wantIndices.slice(0, 3), 'q8: top-3 in order');
});

test('a gallery embeddings file from other location-encoder weights, or for another gallery, is refused', async () => {
  ensureLocationFixtures();
  const gpu = await testGpu();
  const out = `${OUT}/gallery.f16.safetensors`;
  const other = await GeoLocator.create(await options({ geoclipWeights: splitGeoclipWeights(ENCODER_FILE), galleryEmbeddings: out })).then(() => null, (e: Error) => e);
  assert.ok(other instanceof GalleryEmbeddingsError, `expected GalleryEmbeddingsError, got ${other}`);
  assert.match(other.message, /made from other location-encoder weights/);
  const geoclip = await loadGeoClip(gpu, splitGeoclipWeights());
  const refusal = async (location: string, gps?: Float32Array) => {
    const file = await openWeights(location);
    try {
      return await loadGalleryEmbeddings(gpu, geoclip, file, { gps }).then(() => null, (e: Error) => e);
    } finally {
      await file.close();
    }
  };
  assert.match(String(await refusal(out, new Float32Array([10, 20, 30, 40]))), /another gallery \(2000 points in the file, 2 given\)/);
  assert.match(String(await refusal(`${DIR}/clip.safetensors`)), /not a gallery embeddings file/);
  geoclip.release();
});

test.run();

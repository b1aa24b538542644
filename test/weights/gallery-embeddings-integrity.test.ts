// Gallery-embeddings files carry their own integrity: each stored tensor's digest is recorded, so a file
// with two rows swapped (in the embeddings, or in both the embeddings and the points) is refused naming
// the file and the tensor, where it used to move the top place.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GeoLocator, writeGalleryEmbeddings } from '../../src/api/index.js';
import { loadGeoClip } from '../../src/api/loaders.js';
import { galleryEmbeddingsEntries, loadGalleryEmbeddings } from '../../src/model/geoclip/gallery-embeddings.js';
import { encodeSafetensorsFile, openWeights } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { ensureTinyModel, KAUAI, splitGeoclipWeights, TINY_MODEL_DIR, tinyModelOptions } from '../support/tiny-model.js';
import { TENSOR_DIGESTS_KEY, parseRaw, referenceDigest, tensorRange, withMetadata, type RawFile } from './integrity-support.js';

const OUT = 'test/fixtures/generated/gallery-embeddings-integrity';
const F16 = `${OUT}/gallery.f16.safetensors`;

let written = false;
async function f16File(): Promise<Buffer> {
  ensureTinyModel();
  if (!written) {
    mkdirSync(OUT, { recursive: true });
    await writeGalleryEmbeddings({ gpu: await testGpu(), geoclipWeights: splitGeoclipWeights(), gallery: `${TINY_MODEL_DIR}/gallery.csv`, dtype: 'f16', out: F16 });
    written = true;
  }
  return readFileSync(F16);
}

/** A copy of the file with rows `a` and `b` of `name` swapped. */
function swapRows(file: RawFile, into: Buffer, name: string, a: number, b: number): void {
  const [begin, end] = tensorRange(file, name);
  const rows = file.header[name]!.shape[0]!;
  const rowBytes = (end - begin) / rows;
  const first = Buffer.from(into.subarray(begin + a * rowBytes, begin + (a + 1) * rowBytes));
  into.copyWithin(begin + a * rowBytes, begin + b * rowBytes, begin + (b + 1) * rowBytes);
  first.copy(into, begin + b * rowBytes);
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The error create() throws for these gallery embeddings; an assertion failure when it succeeds. */
async function createError(path: string): Promise<Error> {
  try {
    const locator = await GeoLocator.create(await tinyModelOptions({ gallery: undefined, galleryEmbeddings: path }));
    const [result] = await locator.locate(KAUAI, { topK: 1 });
    locator.release();
    assert.unreachable(`${path} loaded; top-1 #${result!.places[0]!.galleryIndex}`);
  } catch (error) {
    if ((error as Error).name === 'Assertion') throw error;
    return error as Error;
  }
  throw new Error('unreachable');
}

test('gallery embeddings record the digest of gps and embeddings as documented; the file loads', async () => {
  const bytes = await f16File();
  const file = parseRaw(bytes);
  const recorded = JSON.parse(file.header.__metadata__![TENSOR_DIGESTS_KEY]!) as { tensors: Record<string, string> };
  assert.equal(Object.keys(recorded.tensors).sort(), ['embeddings', 'gps']);
  for (const name of ['gps', 'embeddings']) {
    const [begin, end] = tensorRange(file, name);
    assert.is(recorded.tensors[name], referenceDigest(bytes.subarray(begin, end)), name);
  }
  const gpu = await testGpu();
  const geoclip = await loadGeoClip(gpu, splitGeoclipWeights());
  const source = await openWeights(F16);
  const gallery = await loadGalleryEmbeddings(gpu, geoclip, source);
  await source.close();
  assert.is(gallery.size, 2000);
  gallery.release();
  geoclip.release();
});

test('two embedding rows swapped: create() refuses the file naming it and the tensor', async () => {
  const bytes = await f16File();
  const copy = Buffer.from(bytes);
  swapRows(parseRaw(bytes), copy, 'embeddings', 3, 1700);
  const path = `${OUT}/swapped-embeddings.safetensors`;
  writeFileSync(path, copy);
  const error = await createError(path);
  assert.is(error.name, 'WeightsError', error.message);
  assert.match(error.message, new RegExp(`^${escape(path)}: tensor 'embeddings' does not match the digest the file records`));
});

test('the same two rows swapped in both gps and embeddings (a consistent file, another gallery order): refused', async () => {
  const bytes = await f16File();
  const file = parseRaw(bytes);
  const copy = Buffer.from(bytes);
  swapRows(file, copy, 'embeddings', 3, 1700);
  swapRows(file, copy, 'gps', 3, 1700);
  const path = `${OUT}/swapped-both.safetensors`;
  writeFileSync(path, copy);
  const error = await createError(path);
  assert.match(error.message, new RegExp(`^${escape(path)}: tensor '(gps|embeddings)' does not match the digest the file records`), error.message);
});

test('q8 gallery embeddings with two rows swapped are refused naming the stored part', async () => {
  ensureTinyModel();
  const gpu = await testGpu();
  const geoclip = await loadGeoClip(gpu, splitGeoclipWeights());
  try {
    const source = await openWeights(await f16File());
    const gps = await source.readF32('gps');
    const embeddings = await source.readF32('embeddings');
    await source.close();
    const { entries, metadata } = await galleryEmbeddingsEntries(geoclip, gps, embeddings, 'q8');
    const bytes = Buffer.from(await encodeSafetensorsFile(entries, metadata));
    const good = await openWeights(new Uint8Array(bytes));
    (await loadGalleryEmbeddings(gpu, geoclip, good)).release();
    await good.close();

    const copy = Buffer.from(bytes);
    swapRows(parseRaw(bytes), copy, 'embeddings.q8', 10, 20);
    const path = `${OUT}/swapped.q8.safetensors`;
    writeFileSync(path, copy);
    const damaged = await openWeights(path);
    const error = await loadGalleryEmbeddings(gpu, geoclip, damaged).then((g) => (g.release(), null), (e: Error) => e);
    await damaged.close();
    assert.ok(error, 'the swapped q8 file loaded');
    assert.match(error!.message, new RegExp(`^${escape(path)}: tensor 'embeddings\\.q8' does not match the digest the file records`), error!.message);
  } finally {
    geoclip.release();
  }
});

test('gallery embeddings written before digests existed load, with a warning saying how to rebuild them', async () => {
  const bytes = await f16File();
  const old = withMetadata(parseRaw(bytes), (metadata) => void delete metadata[TENSOR_DIGESTS_KEY]);
  const gpu = await testGpu();
  const geoclip = await loadGeoClip(gpu, splitGeoclipWeights());
  const warnings: string[] = [];
  const source = await openWeights(new Uint8Array(old));
  const gallery = await loadGalleryEmbeddings(gpu, geoclip, source, { warn: (message) => void warnings.push(message) });
  await source.close();
  assert.is(gallery.size, 2000);
  gallery.release();
  geoclip.release();
  assert.equal(warnings, ['geolens: these gallery embeddings record no tensor digests (written before geolens recorded them), so a damaged row goes unnoticed; rebuild them with `geolens convert --gallery-embeddings`']);
});

test.run();

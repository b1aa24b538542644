import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { AbortError, GeoLocator, WeightsError, type GeoLocatorOptions } from '../../src/api/index.js';
import { testGpu } from '../support/gpu.js';
import { GEOCLIP_DATA as DATA, KAUAI, TINY_MODEL_DIR, tinyModelOptions } from '../support/tiny-model.js';

const DIR = TINY_MODEL_DIR;
// The one-file GeoCLIP weights, so that every tensor of the model goes through the dtype under test.
const options = (extra: Partial<GeoLocatorOptions> = {}) => tinyModelOptions({ geoclipWeights: `${DIR}/geoclip.safetensors`, ...extra });

/** Elements of the 2-D+ matrices in a safetensors file whose names pass `isMatrix`, read from its header. */
function matrixElements(path: string, isMatrix: (name: string, shape: number[]) => boolean): number {
  const bytes = readFileSync(path);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, { shape?: number[] }>;
  return Object.entries(header).filter(([name, info]) => info.shape && isMatrix(name, info.shape)).reduce((sum, [, info]) => sum + info.shape!.reduce((a, b) => a * b, 1), 0);
}

async function liveBytesOf(dtype: 'f32' | 'f16'): Promise<{ bytes: number; locator: GeoLocator }> {
  const gpu = await testGpu();
  const live = () => gpu.pool.bytesAllocated - gpu.pool.bytesPooled;
  const before = live();
  const locator = await GeoLocator.create(await options({ dtype }));
  return { bytes: live() - before, locator };
}

test('f16 stores CLIP\'s, the image MLP\'s and the location encoder\'s matrices and the gallery in half the bytes; Δp stays small', async () => {
  const f32 = await liveBytesOf('f32');
  const f16 = await liveBytesOf('f16');
  // What halves: every matrix the models multiply by (not embeddings, norms, biases), and the gallery.
  const clipMatrices = matrixElements(`${DIR}/clip.safetensors`, (name, shape) =>
    name.startsWith('vision_model.') && !name.includes('position_embedding') && !name.includes('class_embedding') && shape.length >= 2 || name === 'visual_projection.weight');
  const headMatrices = matrixElements(`${DIR}/geoclip.safetensors`, (name, shape) => shape.length === 2 && name.endsWith('.weight'));
  const galleryElements = f32.locator.gallery.size * f32.locator.gallery.dim;
  const halved = 2 * (clipMatrices + headMatrices + galleryElements);
  console.log(`  GPU memory of the tiny model: f32 ${(f32.bytes / 2 ** 20).toFixed(2)} MiB, f16 ${(f16.bytes / 2 ** 20).toFixed(2)} MiB (${(f16.bytes / f32.bytes * 100).toFixed(1)}%)`);
  assert.ok(Math.abs(f32.bytes - f16.bytes - halved) <= 4096, `saved ${f32.bytes - f16.bytes} bytes, the matrices and gallery account for ${halved}`);
  assert.is(f16.locator.gallery.chunks[0]!.dtype, 'f16');

  const [a] = await f32.locator.locate(KAUAI, { topK: 5 });
  const [b] = await f16.locator.locate(KAUAI, { topK: 5 });
  // Δp: the f16 probability of each of f32's top places (found by gallery index in f16's top 50).
  const [wide] = await f16.locator.locate(KAUAI, { topK: 50 });
  const deltas = a!.places.map((place) => Math.abs(place.probability - (wide!.places.find((p) => p.galleryIndex === place.galleryIndex)?.probability ?? 0)));
  const maxDelta = Math.max(...deltas);
  const maxRelative = Math.max(...deltas.map((d, i) => d / a!.places[i]!.probability));
  console.log(`  Δp (f16 − f32) over the top 5: max ${maxDelta.toExponential(2)} (relative ${maxRelative.toExponential(2)}), top-1 p ${a!.places[0]!.probability.toFixed(6)} vs ${b!.places[0]!.probability.toFixed(6)}`);
  assert.equal(b!.places.map((p) => p.galleryIndex), a!.places.map((p) => p.galleryIndex));
  // Measured 1.0e-6 (relative 6e-4); the bounds leave 10× room.
  assert.ok(maxDelta < 1e-5 && maxRelative < 6e-3, `Δp ${maxDelta}, relative ${maxRelative}`);
  f32.locator.release();
  f16.locator.release();
});

test('a file given for the wrong role is named for what it is', async () => {
  await GeoLocator.create(await options({ clipWeights: `${DIR}/geoclip.safetensors` })).then(
    () => assert.unreachable('GeoCLIP heads as CLIP'),
    (e: Error) => assert.ok(e instanceof WeightsError && /geoclip\.safetensors: this is a GeoCLIP heads checkpoint .*, expected CLIP vision weights/.test(e.message), e.message),
  );
  await GeoLocator.create(await options({ geoclipWeights: `${DIR}/clip.safetensors` })).then(
    () => assert.unreachable('CLIP as GeoCLIP'),
    (e: Error) => assert.match(e.message, /clip\.safetensors: this is a full CLIP checkpoint \(vision and text towers\), expected a GeoCLIP heads checkpoint/),
  );
  await GeoLocator.create(await options({ clipWeights: `${DIR}/concepts.safetensors` })).then(
    () => assert.unreachable('a concept bank as CLIP'),
    (e: Error) => assert.match(e.message, /this is a concept bank, expected CLIP vision weights/),
  );
  await GeoLocator.create(await options({ concepts: { bank: `${DIR}/geoclip.safetensors` } })).then(
    () => assert.unreachable('GeoCLIP heads as a concept bank'),
    (e: Error) => assert.match(e.message, /geoclip\.safetensors: this is a GeoCLIP heads checkpoint .*, expected a concept bank/),
  );
  await GeoLocator.create(await options({ geoclipWeights: { imageMlp: `${DATA}/logit_scale_weights.pth`, locationEncoder: `${DIR}/location-encoder.safetensors`, logitScale: 3.68 } })).then(
    () => assert.unreachable('logit scale as image MLP'),
    (e: Error) => assert.match(e.message, /GeoCLIP image MLP .*logit_scale_weights\.pth: this is GeoCLIP's logit scale, expected GeoCLIP's image MLP/),
  );
});

test('CLIP weights without a config: the vision config is inferred from the shapes and logged', async () => {
  const notes: string[] = [];
  const controller = new AbortController();
  // Stop once the note is out: what is inferred is the point here, not another model build.
  const logger = (message: string) => {
    notes.push(message);
    controller.abort();
  };
  await GeoLocator.create(await options({ clipConfig: undefined, quiet: false, logger, signal: controller.signal })).then(
    () => assert.unreachable('aborted after the note'),
    (e: Error) => assert.instance(e, AbortError),
  );
  assert.equal(notes, ['geolens: no CLIP config given; inferred from the weights: hidden 64, 2 layers, 1 heads, patch 8, image 32, MLP 256, projection 768']);
});

test.run();

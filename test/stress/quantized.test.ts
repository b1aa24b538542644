// Quantized towers at real sizes (npm run test:stress; skipped unless GEOLENS_STRESS=1: minutes of CPU):
// - ViT-B/32-shaped seeded tower (projection 768, so GeoCLIP's real image MLP takes its features): q8 / q4
//   image features against f32 on three photos, and the top-5 gallery places of the q8 pipeline;
// - ViT-L/14's vision tower: file sizes computed from its shapes for f32 / f16 / q8 / q4, and measured on
//   seeded L/14-shaped q8 and q4 files written by the converter.
import { readFileSync, mkdirSync, statSync, rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLIP_VISION_PRESETS, ClipVisionModel, type ClipVisionConfig } from '../../src/model/clip/vision.js';
import { decodeImage } from '../../src/image/decode-node.js';
import { buildGallery, predict, readGalleryCsv } from '../../src/model/geoclip/gallery.js';
import { GeoClip } from '../../src/model/geoclip/geoclip.js';
import { preprocessImage, type RawImage } from '../../src/image/image.js';
import type { Tensor } from '../../src/runtime/index.js';
import { clipTensorFilter, CLIP_CONFIG_KEY, convertEntries, type ConvertDType } from '../../src/weights/convert.js';
import { openWeights, safetensorsHeader, writeSafetensorsToPath } from '../../src/weights/index.js';
import { randomVisionWeights } from '../../bench/support/clip-weights.js';
import { cosine } from '../support/numeric.js';
import { GENERATED, ensureLocationFixtures } from '../model/geoclip-fixtures.js';
import { testGpu } from '../support/gpu.js';

const enabled = process.env.GEOLENS_STRESS === '1';
const DATA = '../shared/data/geoclip';

/** Kauai.png, the same photo mirrored, and a synthetic sky-over-sea gradient: three different inputs. */
async function photos(): Promise<Float32Array> {
  const kauai = await decodeImage(new Uint8Array(readFileSync(`${DATA}/Kauai.png`)));
  const mirrored: RawImage = { ...kauai, data: new Uint8Array(kauai.data.length) };
  for (let y = 0; y < kauai.height; y++) {
    for (let x = 0; x < kauai.width; x++) {
      for (let c = 0; c < kauai.channels; c++) {
        mirrored.data[(y * kauai.width + x) * kauai.channels + c] = kauai.data[(y * kauai.width + (kauai.width - 1 - x)) * kauai.channels + c]!;
      }
    }
  }
  const gradient: RawImage = { width: 256, height: 256, channels: 3, data: new Uint8Array(256 * 256 * 3) };
  for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) gradient.data.set([y < 128 ? 120 + y / 2 : 20, y < 128 ? 170 : 60 + x / 4, 230 - y / 3], (y * 256 + x) * 3);
  const plane = 3 * 224 * 224;
  const out = new Float32Array(3 * plane);
  [kauai, mirrored, gradient].forEach((image, i) => out.set(preprocessImage(image), i * plane));
  return out;
}

async function clipFeatures(model: ClipVisionModel, pixels: Float32Array): Promise<Tensor> {
  const input = model.gpu.upload(pixels, [pixels.length / (3 * 224 * 224), 3, 224, 224]);
  const features = model.imageFeatures(input);
  input.release();
  return features;
}

(enabled ? test : test.skip)('ViT-B/32-shaped seeded tower: q8 / q4 image features vs f32 (cosine ≥ 0.999 / 0.99), q8 top-5 gallery places equal', async () => {
  const gpu = await testGpu();
  const config: ClipVisionConfig = { ...CLIP_VISION_PRESETS['ViT-B/32'], projection_dim: 768 };
  const pixels = await photos();
  ensureLocationFixtures();
  const sources = await Promise.all([
    openWeights(`${DATA}/image_encoder_mlp_weights.pth`), openWeights(`${DATA}/logit_scale_weights.pth`),
    openWeights(`${GENERATED}/geoclip-location-encoder-narrow.safetensors`),
  ]);
  const [imageMlp, logitScale, locationEncoder] = sources;
  const heads = {
    f32: await GeoClip.load(gpu, { imageMlp, logitScale, locationEncoder }),
    q8: await GeoClip.load(gpu, { imageMlp, logitScale, locationEncoder }, { dtype: 'q8' }),
  };
  const gps = (await readGalleryCsv(`${DATA}/coordinates_100K.csv`)).subarray(0, 2 * 5000);
  // One gallery (the f32 location encoder's), so the places differ only through the image side.
  const gallery = await buildGallery(heads.f32, gps, { cache: false });

  const results: Record<string, { features: Float32Array; top5: number[][] }> = {};
  for (const dtype of ['f32', 'q8', 'q4'] as const) {
    const model = await ClipVisionModel.load(gpu, randomVisionWeights(config, 3), config, { dtype });
    const features = await clipFeatures(model, pixels);
    model.release();
    const values = await features.read();
    const head = dtype === 'f32' ? heads.f32 : heads.q8;
    const embeddings = head.imageEmbeddings(features);
    features.release();
    const top5 = (await predict(head, embeddings, gallery, 5)).map((row) => row.map((p) => p.galleryIndex));
    embeddings.release();
    results[dtype] = { features: values, top5 };
  }
  const dim = config.projection_dim;
  for (const [dtype, minimum] of [['q8', 0.999], ['q4', 0.99]] as const) {
    for (let i = 0; i < 3; i++) {
      const c = cosine(results[dtype]!.features, results.f32!.features, i * dim, dim);
      console.log(`    B/32 ${dtype}: photo ${i} feature cosine to f32 ${c.toFixed(6)}, top-5 ${results[dtype]!.top5[i]!.join(',')} (f32 ${results.f32!.top5[i]!.join(',')})`);
      assert.ok(c >= minimum, `${dtype} photo ${i}: cosine ${c} < ${minimum}`);
    }
  }
  assert.equal(results.q8!.top5, results.f32!.top5, 'q8 top-5 gallery indices');
  gallery.release();
  heads.f32.release();
  heads.q8.release();
  await Promise.all(sources.map((s) => s.close()));
});

(enabled ? test : test.skip)('ViT-L/14 vision tower: q8 ≤ 330 MB and q4 ≤ 190 MB, computed from its shapes and measured on seeded files', async () => {
  const config = CLIP_VISION_PRESETS['ViT-L/14'];
  const source = randomVisionWeights(config, 5);
  const computed: Partial<Record<ConvertDType, number>> = {};
  const convert = (dtype: ConvertDType) => convertEntries(source, { dtype, include: clipTensorFilter(false), metadata: { [CLIP_CONFIG_KEY]: JSON.stringify(config) } });
  for (const dtype of ['f32', 'f16', 'q8', 'q4'] as const) {
    const { entries, metadata } = convert(dtype);
    const { head, dataBytes } = safetensorsHeader(entries, metadata);
    computed[dtype] = head.byteLength + dataBytes;
  }
  const dir = `${GENERATED}/stress`;
  mkdirSync(dir, { recursive: true });
  const measured: Record<string, number> = {};
  for (const dtype of ['q8', 'q4'] as const) {
    const path = `${dir}/clip-vit-l14-vision.${dtype}.safetensors`;
    const { entries, metadata } = convert(dtype);
    await writeSafetensorsToPath(path, entries, metadata);
    measured[dtype] = statSync(path).size;
    // The file opens and every tensor the tower needs is there with its shape.
    const file = await openWeights(path);
    assert.is(file.tensors.get('vision_model.encoder.layers.23.mlp.fc2.weight')!.shape.join(), '1024,4096');
    await file.close();
    rmSync(path);
  }
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  console.log(`    ViT-L/14 vision tower: f32 ${mb(computed.f32!)}, f16 ${mb(computed.f16!)}, q8 ${mb(computed.q8!)} (file ${mb(measured.q8!)}), q4 ${mb(computed.q4!)} (file ${mb(measured.q4!)})`);
  assert.is(measured.q8, computed.q8);
  assert.is(measured.q4, computed.q4);
  assert.ok(computed.q8! <= 330e6, `q8 ${mb(computed.q8!)} > 330 MB`);
  assert.ok(computed.q4! <= 190e6, `q4 ${mb(computed.q4!)} > 190 MB`);
});

test.run();

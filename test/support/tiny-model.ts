// The tiny seeded model most API, CLI and browser tests run: a small CLIP in the real layout, GeoCLIP's real
// image MLP and logit scale beside a seeded location encoder, a small gallery, and what PyTorch answers
// for them (scripts/fixtures/api_locate.py writes it all, ~3 s, the first time a test asks).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { GeoLocatorOptions } from '../../src/api/index.js';
import { openWeights } from '../../src/weights/index.js';
import { testGpu } from './gpu.js';

export const TINY_MODEL_DIR = 'test/fixtures/generated/api';
export const GEOCLIP_DATA = '../shared/data/geoclip';
export const KAUAI = `${GEOCLIP_DATA}/Kauai.png`;

export function ensureTinyModel(): void {
  if (!existsSync(`${TINY_MODEL_DIR}/expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/api_locate.py'], { stdio: 'inherit' });
}

/** GeoCLIP's weights as its own repository ships them: three files (here two real, one seeded). */
export function splitGeoclipWeights(locationEncoder = `${TINY_MODEL_DIR}/location-encoder.safetensors`) {
  return { imageMlp: `${GEOCLIP_DATA}/image_encoder_mlp_weights.pth`, locationEncoder, logitScale: `${GEOCLIP_DATA}/logit_scale_weights.pth` };
}

/**
 * create() options for the tiny model on the test device, quiet and with no gallery cache. The GeoCLIP
 * weights are the three split files unless `extra` says otherwise (`${TINY_MODEL_DIR}/geoclip.safetensors`
 * holds the same tensors in one file).
 */
export async function tinyModelOptions(extra: Partial<GeoLocatorOptions> = {}): Promise<GeoLocatorOptions> {
  ensureTinyModel();
  return {
    gpu: await testGpu(),
    clipWeights: `${TINY_MODEL_DIR}/clip.safetensors`,
    clipConfig: `${TINY_MODEL_DIR}/config.json`,
    geoclipWeights: splitGeoclipWeights(),
    gallery: `${TINY_MODEL_DIR}/gallery.csv`,
    galleryCache: false,
    quiet: true,
    ...extra,
  };
}

/** PyTorch's answers for the tiny model (expected.safetensors): embeddings, probabilities, top-k rows. */
export async function tinyModelExpected(): Promise<Record<string, Float32Array>> {
  ensureTinyModel();
  const source = await openWeights(`${TINY_MODEL_DIR}/expected.safetensors`);
  const out: Record<string, Float32Array> = {};
  for (const name of source.tensors.keys()) out[name] = await source.readF32(name);
  await source.close();
  return out;
}

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GeoClip } from '../../src/model/geoclip/geoclip.js';
import type { Gpu } from '../../src/runtime/index.js';
import { openWeights, type WeightSource, type TensorInfo } from '../../src/weights/index.js';

export const GENERATED = 'test/fixtures/generated';
export const ENCODER_FILE = `${GENERATED}/geoclip-location-encoder.safetensors`;
export const DATA = '../shared/data/geoclip';

/** Runs scripts/fixtures/geoclip_location.py (about 2 s) unless its outputs are already there. */
export function ensureLocationFixtures(): void {
  if (existsSync(ENCODER_FILE)) return;
  const result = spawnSync('/usr/bin/python3', ['scripts/fixtures/geoclip_location.py'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`geoclip_location.py failed (${result.status}): ${result.stderr}`);
}

/** Every tensor of a fixture file as f32. */
export async function readFixture(path: string): Promise<Record<string, Float32Array>> {
  const source = await openWeights(path);
  const out: Record<string, Float32Array> = {};
  for (const name of source.tensors.keys()) out[name] = await source.readF32(name);
  await source.close();
  return out;
}

/** The same tensors seen under other names (e.g. with the Hugging Face release's prefixes). */
export function renamed(source: WeightSource, rename: (name: string) => string): WeightSource {
  const back = new Map<string, string>();
  const tensors = new Map<string, TensorInfo>();
  for (const [name, info] of source.tensors) {
    back.set(rename(name), name);
    tensors.set(rename(name), info);
  }
  return {
    tensors,
    readF32: (name) => source.readF32(back.get(name) ?? name),
    close: () => source.close(),
  };
}

/** GeoCLIP with the real image MLP and logit scale and the seeded narrow location encoder; checkpoints closed after loading. */
export async function loadNarrowGeoClip(gpu: Gpu): Promise<GeoClip> {
  ensureLocationFixtures();
  const sources = await Promise.all([
    openWeights(`${DATA}/image_encoder_mlp_weights.pth`),
    openWeights(`${DATA}/logit_scale_weights.pth`),
    openWeights(`${GENERATED}/geoclip-location-encoder-narrow.safetensors`),
  ]);
  const [imageMlp, logitScale, locationEncoder] = sources;
  try {
    return await GeoClip.load(gpu, { imageMlp, logitScale, locationEncoder });
  } finally {
    await Promise.all(sources.map((source) => source.close()));
  }
}

import type { TensorInfo } from './dtypes.js';
import { WeightsError } from '../io/errors.js';

/** What a checkpoint holds, told from its tensor names alone (no values are read). */
export type CheckpointKind =
  | 'clip'
  | 'clip-vision'
  | 'clip-text'
  | 'geoclip-heads'
  | 'geoclip-image-mlp'
  | 'geoclip-location-encoder'
  | 'geoclip-logit-scale'
  | 'concept-bank'
  | 'concept-params'
  | 'unknown';

const DESCRIPTIONS: Record<CheckpointKind, string> = {
  clip: 'a full CLIP checkpoint (vision and text towers)',
  'clip-vision': 'CLIP vision weights',
  'clip-text': 'CLIP text weights',
  'geoclip-heads': 'a GeoCLIP heads checkpoint (image MLP, location encoder, logit scale)',
  'geoclip-image-mlp': "GeoCLIP's image MLP",
  'geoclip-location-encoder': "GeoCLIP's location encoder",
  'geoclip-logit-scale': "GeoCLIP's logit scale",
  'concept-bank': 'a concept bank',
  'concept-params': 'fitted concept parameters (from `geolens fit-concepts`)',
  'unknown': 'no checkpoint geolens knows',
};

export function describeCheckpointKind(kind: CheckpointKind): string {
  return DESCRIPTIONS[kind];
}

export function identifyCheckpoint(tensors: ReadonlyMap<string, TensorInfo>): CheckpointKind {
  const names = [...tensors.keys()];
  const has = (test: (name: string) => boolean) => names.some(test);
  const vision = has((n) => n.includes('vision_model.embeddings.patch_embedding.weight'));
  const text = has((n) => n.includes('text_model.embeddings.token_embedding.weight'));
  if (vision && text) return 'clip';
  if (vision) return 'clip-vision';
  if (text) return 'clip-text';
  const location = has((n) => n.endsWith('LocEnc0.capsule.0.b'));
  const mlp = has((n) => /(^|\.)0\.weight$/.test(n) && !n.includes('LocEnc')) && has((n) => /(^|\.)2\.weight$/.test(n) && !n.includes('LocEnc'));
  const scale = has((n) => n.endsWith('logit_scale'));
  if (location && (mlp || scale)) return 'geoclip-heads';
  if (location) return 'geoclip-location-encoder';
  if (names.includes('concepts') && tensors.get('concepts')!.shape.length === 2) return 'concept-bank';
  if (has((n) => n.startsWith('image_projection.') || n.startsWith('location_projection.'))) return 'concept-params';
  if (mlp) return 'geoclip-image-mlp';
  const only = names.length === 1 ? tensors.get(names[0]!)! : null;
  if (scale || (only && only.shape.reduce((a, b) => a * b, 1) === 1)) return 'geoclip-logit-scale';
  return 'unknown';
}

/**
 * Refuses a file given for the wrong role, naming what it is instead: "clip.safetensors: this is a
 * GeoCLIP heads checkpoint (…), expected CLIP vision weights". Files geolens does not recognise pass,
 * so the loader's own error (which names the missing tensors) speaks for them.
 */
export function expectCheckpoint(tensors: ReadonlyMap<string, TensorInfo>, accepted: readonly CheckpointKind[], where: string): void {
  const kind = identifyCheckpoint(tensors);
  if (kind === 'unknown' || accepted.includes(kind)) return;
  throw new WeightsError(`${where}: this is ${DESCRIPTIONS[kind]}, expected ${DESCRIPTIONS[accepted[0]!]}`);
}

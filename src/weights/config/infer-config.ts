import type { ClipVisionConfig } from './clip-config.js';
import type { TensorInfo } from '../dtypes.js';
import { WeightsError } from '../../io/errors.js';
import { identifyCheckpoint, describeCheckpointKind } from '../identify.js';

/**
 * A CLIP vision config read off the checkpoint's tensor shapes, for weights that come without a
 * config.json: hidden size and patch size from the patch embedding [D, C, P, P], image size from the
 * position table [(S/P)² + 1, D], layers by counting, the MLP width from fc1, the projection from
 * visual_projection. Heads are D / 64, as in every released CLIP; activation and epsilon are OpenAI's.
 */
export function inferClipVisionConfig(tensors: ReadonlyMap<string, TensorInfo>, what = 'CLIP weights'): ClipVisionConfig {
  const shape = (name: string): number[] => {
    const info = tensors.get(name);
    if (!info) {
      const kind = identifyCheckpoint(tensors);
      const is = kind === 'unknown' ? `it has no '${name}'` : `this is ${describeCheckpointKind(kind)}`;
      throw new WeightsError(`${what}: cannot infer a CLIP vision config: ${is}; give the config.json (--clip-config)`);
    }
    return info.shape;
  };
  const [hidden, channels, patch, patchWidth] = shape('vision_model.embeddings.patch_embedding.weight');
  if (patch === undefined || patch !== patchWidth) throw new WeightsError(`${what}: the patch embedding is not [D, C, P, P]; give the config.json`);
  const [positions] = shape('vision_model.embeddings.position_embedding.weight');
  const side = Math.round(Math.sqrt(positions! - 1));
  if (side * side !== positions! - 1) throw new WeightsError(`${what}: ${positions} positions are not a square grid plus the class token; give the config.json`);
  let layers = 0;
  while (tensors.has(`vision_model.encoder.layers.${layers}.mlp.fc1.weight`)) layers++;
  if (layers === 0) throw new WeightsError(`${what}: no encoder layers (vision_model.encoder.layers.0.*); give the config.json`);
  const [intermediate] = shape('vision_model.encoder.layers.0.mlp.fc1.weight');
  const [projection] = shape('visual_projection.weight');
  if (hidden! % 64 !== 0) throw new WeightsError(`${what}: hidden size ${hidden} is not a multiple of 64, so the head count cannot be inferred; give the config.json`);
  return {
    hidden_size: hidden!,
    intermediate_size: intermediate!,
    num_hidden_layers: layers,
    num_attention_heads: hidden! / 64,
    num_channels: channels!,
    image_size: side * patch,
    patch_size: patch,
    projection_dim: projection!,
    layer_norm_eps: 1e-5,
    hidden_act: 'quick_gelu',
  };
}

/** One line for the log: "hidden 1024, 24 layers, 16 heads, patch 14, image 224, projection 768". */
export function describeVisionConfig(c: ClipVisionConfig): string {
  return `hidden ${c.hidden_size}, ${c.num_hidden_layers} layers, ${c.num_attention_heads} heads, patch ${c.patch_size}, image ${c.image_size}, MLP ${c.intermediate_size}, projection ${c.projection_dim}`;
}

// Random weights under HF CLIP names for the tower benchmarks (vit, clip-text): no download, and each tensor
// is made only when it is read, so only the one being uploaded lives in JS memory.
import type { ClipVisionConfig } from '../../src/model/clip/vision.js';
import type { TensorInfo, WeightSource } from '../../src/weights/index.js';

/** mulberry32 floats in [-scale, scale). */
export function fillRandom(out: Float32Array, seed: number, scale: number): Float32Array {
  let state = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export interface EncoderShape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
}

/** Name and shape of every `${tower}.encoder.layers.${i}.*` tensor (tower: 'vision_model' or 'text_model'). */
export function encoderLayerShapes(tower: string, config: EncoderShape): [string, number[]][] {
  const d = config.hidden_size;
  const inner = config.intermediate_size;
  const shapes: [string, number[]][] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const prefix = `${tower}.encoder.layers.${i}`;
    for (const proj of ['q', 'k', 'v', 'out']) {
      shapes.push([`${prefix}.self_attn.${proj}_proj.weight`, [d, d]], [`${prefix}.self_attn.${proj}_proj.bias`, [d]]);
    }
    for (const norm of ['layer_norm1', 'layer_norm2']) shapes.push([`${prefix}.${norm}.weight`, [d]], [`${prefix}.${norm}.bias`, [d]]);
    shapes.push([`${prefix}.mlp.fc1.weight`, [inner, d]], [`${prefix}.mlp.fc1.bias`, [inner]]);
    shapes.push([`${prefix}.mlp.fc2.weight`, [d, inner]], [`${prefix}.mlp.fc2.bias`, [d]]);
  }
  return shapes;
}

/**
 * F32 tensors of these names and shapes. Layer norm weights are ones; every other tensor is `fill(out,
 * name, shape, index)`, index being its place in `shapes` (a seed that differs per tensor).
 */
export function randomWeightSource(
  shapes: [string, number[]][],
  fill: (out: Float32Array, name: string, shape: readonly number[], index: number) => Float32Array,
): WeightSource {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, shape] of shapes) tensors.set(name, { dtype: 'F32', shape });
  const names = [...tensors.keys()];
  return {
    tensors,
    readF32: async (name) => {
      const shape = tensors.get(name)!.shape;
      const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (/norm.*\.weight$/.test(name)) return out.fill(1);
      return fill(out, name, shape, names.indexOf(name));
    },
    close: async () => {},
  };
}

/** A CLIP vision tower of `config`'s shapes under HF names, matrices scaled by 1/sqrt(fan-in), one seed per tensor. */
export function randomVisionWeights(config: ClipVisionConfig, seed: number): WeightSource {
  const d = config.hidden_size;
  const p = config.patch_size;
  return randomWeightSource([
    ['vision_model.embeddings.patch_embedding.weight', [d, config.num_channels ?? 3, p, p]],
    ['vision_model.embeddings.class_embedding', [d]],
    ['vision_model.embeddings.position_embedding.weight', [(config.image_size / p) ** 2 + 1, d]],
    ['vision_model.pre_layrnorm.weight', [d]],
    ['vision_model.pre_layrnorm.bias', [d]],
    ['vision_model.post_layernorm.weight', [d]],
    ['vision_model.post_layernorm.bias', [d]],
    ...encoderLayerShapes('vision_model', config),
    ['visual_projection.weight', [config.projection_dim, d]],
  ], (out, _name, shape, index) => {
    // Matrices scaled by 1/sqrt(fan-in) keep activations O(1) through the layers.
    const fanIn = shape.length >= 2 ? out.length / shape[0]! : 1;
    return fillRandom(out, seed * 100_003 + index, shape.length >= 2 ? 1 / Math.sqrt(fanIn) : 0.1);
  });
}

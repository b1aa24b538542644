import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkTensors, clipShapes, clipTextShapes, clipVisionShapes, openWeights, parseClipConfig, parseClipTextConfig, parseClipVisionConfig,
  renameTensors, WeightsError,
} from '../../src/weights/index.js';
import { FIXTURES, writeSafetensors } from './support.js';

const LARGE = JSON.parse(readFileSync(`${FIXTURES}/clip-vit-large-patch14.config.json`, 'utf8'));

test('CLIPConfig of clip-vit-large-patch14: both towers typed', () => {
  const config = parseClipConfig(LARGE);
  assert.is(config.projection_dim, 768);
  assert.equal(config.vision, {
    hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, num_channels: 3,
    image_size: 224, patch_size: 14, projection_dim: 768, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu',
  });
  assert.is(config.text.hidden_size, 768);
  assert.is(config.text.eos_token_id, 2);
  assert.is(config.text.max_position_embeddings, 77);
  assert.is(config.text.vocab_size, 49408);
  assert.equal(parseClipVisionConfig(LARGE), config.vision);
  assert.equal(parseClipTextConfig(LARGE), config.text);
});

test('defaults follow HF; a tower config alone parses; the top projection_dim reaches towers that omit it', () => {
  const vision = parseClipVisionConfig({ hidden_size: 64, num_attention_heads: 4, patch_size: 16 });
  assert.is(vision.intermediate_size, 3072);
  assert.is(vision.image_size, 224);
  assert.is(vision.hidden_act, 'quick_gelu');
  const full = parseClipConfig({ projection_dim: 256, vision_config: { hidden_size: 64, num_attention_heads: 4 }, text_config: {} });
  assert.is(full.vision.projection_dim, 256);
  assert.is(full.text.projection_dim, 256);
  assert.is(full.text.eos_token_id, 49407);
});

test('bad configs name the field', () => {
  assert.throws(() => parseClipConfig({ vision_config: { hidden_size: 'big' } }), (e: Error) => e instanceof WeightsError && /vision_config: 'hidden_size' must be a number/.test(e.message));
  assert.throws(() => parseClipVisionConfig({ image_size: 225, patch_size: 14 }), /image_size 225 is not a multiple of patch_size 14/);
  assert.throws(() => parseClipTextConfig({ hidden_size: 10, num_attention_heads: 3 }), /not divisible/);
  assert.throws(() => parseClipTextConfig({ hidden_act: 'swish' }), /unknown hidden_act 'swish'/);
  assert.throws(() => parseClipConfig([]), /expected a JSON object/);
});

test('the ViT-L/14 tensor table has the sizes of the real checkpoint', () => {
  const config = parseClipConfig(LARGE);
  const shapes = clipShapes(config);
  // 24 vision + 12 text layers of 16 tensors, 7 vision + 4 text tower tensors, two projections, logit_scale.
  assert.is(shapes.size, 36 * 16 + 7 + 4 + 2 + 1);
  assert.equal(shapes.get('vision_model.embeddings.position_embedding.weight'), [257, 1024]);
  assert.equal(shapes.get('vision_model.embeddings.patch_embedding.weight'), [1024, 3, 14, 14]);
  assert.equal(shapes.get('text_model.encoder.layers.11.mlp.fc1.weight'), [3072, 768]);
  let params = 0;
  for (const shape of shapes.values()) params += shape.reduce((a, b) => a * b, 1);
  // transformers reports 427,616,513 parameters for CLIPModel ViT-L/14.
  assert.is(params, 427616513);
});

test('checkTensors reports missing, unexpected and wrongly shaped tensors all at once', async () => {
  const config = parseClipVisionConfig({ hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2, image_size: 8, patch_size: 4, projection_dim: 6 });
  const expected = clipVisionShapes(config);
  const tensors: Record<string, { dtype: string; shape: number[] }> = {};
  for (const [name, shape] of expected) tensors[name] = { dtype: 'F32', shape };
  const good = await openWeights(writeSafetensors({ ...tensors, 'vision_model.embeddings.position_ids': { dtype: 'I64', shape: [1, 5] } }));
  assert.ok(checkTensors(good, expected).ok);

  delete tensors['vision_model.encoder.layers.1.mlp.fc2.bias'];
  delete tensors['vision_model.post_layernorm.weight'];
  tensors['vision_model.encoder.layers.0.self_attn.q_proj.weight'] = { dtype: 'F32', shape: [8, 4] };
  tensors['text_model.final_layer_norm.weight'] = { dtype: 'F32', shape: [8] };
  const bad = await openWeights(writeSafetensors(tensors));
  const report = checkTensors(bad, expected, { throwOnError: false });
  assert.equal(report.missing, ['vision_model.encoder.layers.1.mlp.fc2.bias', 'vision_model.post_layernorm.weight']);
  assert.equal(report.wrongShape, [{ name: 'vision_model.encoder.layers.0.self_attn.q_proj.weight', expected: [8, 8], actual: [8, 4] }]);
  assert.equal(report.unexpected, ['text_model.final_layer_norm.weight']);
  assert.throws(() => checkTensors(bad, expected, { what: 'tiny.safetensors' }), (e: Error) =>
    /tiny\.safetensors does not match the model: missing 2: .*fc2\.bias.*post_layernorm\.weight; wrong shape 1: .*q_proj\.weight is \[8, 4\], expected \[8, 8\]/.test(e.message));
  assert.throws(() => checkTensors(bad, expected, { strict: true }), /unexpected 1: text_model\.final_layer_norm\.weight/);
  // The text tower alone accepts a CLIPModel file holding both.
  assert.ok(clipTextShapes(parseClipTextConfig({})).has('text_projection.weight'));
});

test('renameTensors maps stored names to model names and reads through', async () => {
  const source = await openWeights(writeSafetensors({ 'model.vision.a': { dtype: 'F32', shape: [3] }, 'model.text.b': { dtype: 'F16', shape: [2] } }));
  const vision = renameTensors(source, (name) => (name.startsWith('model.vision.') ? name.slice('model.vision.'.length) : null));
  assert.equal([...vision.tensors.keys()], ['a']);
  assert.equal([...(await vision.readF32('a'))], [...(await source.readF32('model.vision.a'))]);
  assert.throws(() => renameTensors(source, () => 'same'), /both 'model.vision.a' and 'model.text.b' to 'same'/);
});

test.run();

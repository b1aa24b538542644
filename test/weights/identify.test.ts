import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLIP_VISION_PRESETS } from '../../src/model/clip/vision.js';
import { clipVisionShapes, identifyCheckpoint, inferClipVisionConfig, openWeights, type TensorInfo } from '../../src/weights/index.js';

const DIR = 'test/fixtures/generated/api';
const DATA = '../shared/data/geoclip';

function tensorsOf(shapes: ReadonlyMap<string, readonly number[]>): Map<string, TensorInfo> {
  return new Map([...shapes].map(([name, shape]) => [name, { dtype: 'F32', shape: [...shape] }]));
}

test('the vision config read off the tensor shapes is each released CLIP\'s config', () => {
  for (const [name, preset] of Object.entries(CLIP_VISION_PRESETS)) {
    assert.equal(inferClipVisionConfig(tensorsOf(clipVisionShapes(preset))), preset, name);
  }
});

test('inference refuses what it cannot read, naming the file\'s kind', () => {
  const heads = new Map<string, TensorInfo>([['LocEnc0.capsule.0.b', { dtype: 'F32', shape: [256, 2] }], ['logit_scale', { dtype: 'F32', shape: [] }]]);
  assert.throws(() => inferClipVisionConfig(heads, 'x.pth'), /x\.pth: cannot infer a CLIP vision config: this is a GeoCLIP heads checkpoint/);
  const odd = tensorsOf(clipVisionShapes({ ...CLIP_VISION_PRESETS['ViT-B/32'], hidden_size: 100, num_attention_heads: 4 }));
  assert.throws(() => inferClipVisionConfig(odd), /hidden size 100 is not a multiple of 64/);
});

test('each file of the test model is told for what it is', async () => {
  const cases: [string, string][] = [
    [`${DIR}/clip.safetensors`, 'clip'],
    [`${DIR}/geoclip.safetensors`, 'geoclip-heads'],
    [`${DIR}/location-encoder.safetensors`, 'geoclip-location-encoder'],
    [`${DIR}/concepts.safetensors`, 'concept-bank'],
    [`${DATA}/image_encoder_mlp_weights.pth`, 'geoclip-image-mlp'],
    [`${DATA}/logit_scale_weights.pth`, 'geoclip-logit-scale'],
  ];
  for (const [path, kind] of cases) {
    const source = await openWeights(path);
    assert.is(identifyCheckpoint(source.tensors), kind, path);
    await source.close();
  }
  assert.is(identifyCheckpoint(tensorsOf(clipVisionShapes(CLIP_VISION_PRESETS['ViT-B/32']))), 'clip-vision');
  assert.is(identifyCheckpoint(new Map([['image_projection.weight', { dtype: 'F32', shape: [512, 512] }]])), 'concept-params');
  assert.is(identifyCheckpoint(new Map([['something.else', { dtype: 'F32', shape: [3, 3] }], ['other', { dtype: 'F32', shape: [3] }]])), 'unknown');
});

test.run();

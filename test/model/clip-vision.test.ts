// ClipVisionModel vs the PyTorch mirror of HF's CLIPVisionModelWithProjection (scripts/fixtures/clip_vision.py).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLIP_VISION_PRESETS, ClipVisionModel, clipVisionFlops } from '../../src/model/clip/vision.js';
import { decodeImage } from '../../src/image/decode-node.js';
import { preprocessImage } from '../../src/image/image.js';
import { ShapeError } from '../../src/runtime/index.js';
import { openWeights, parseClipVisionConfig, type ClipVisionConfig, type WeightSource } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { cosine } from '../support/numeric.js';

const DIR = 'test/fixtures/clip-vision/tiny';
const config = parseClipVisionConfig(JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8')));

async function expected(name: string, dir = DIR): Promise<Float32Array> {
  const source = await openWeights(`${dir}/expected.safetensors`);
  try {
    return await source.readF32(name);
  } finally {
    await source.close();
  }
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(worst) ? Infinity : worst;
}

/** Compares features per image: cosine and max abs error, and says both in the failure. */
function assertFeatures(actual: Float32Array, wanted: Float32Array, minCosine: number, maxError: number, what: string, dim = config.projection_dim): void {
  assert.is(actual.length, wanted.length, `${what}: length`);
  for (let b = 0; b < wanted.length / dim; b++) {
    const c = cosine(actual, wanted, b * dim, dim);
    assert.ok(c >= minCosine, `${what}: image ${b} cosine ${c} < ${minCosine}`);
  }
  const error = maxAbs(actual, wanted);
  assert.ok(error <= maxError, `${what}: max abs error ${error} > ${maxError}`);
}

async function run(model: ClipVisionModel, pixels: Float32Array, batch: number): Promise<Float32Array> {
  const gpu = model.gpu;
  const { image_size: size, projection_dim: dim } = model.config;
  const input = gpu.upload(pixels, [batch, 3, size, size]);
  const features = model.imageFeatures(input);
  input.release();
  assert.equal(features.shape, [batch, dim]);
  const values = await features.read();
  features.release();
  return values;
}

test('tiny CLIP (quick_gelu, f32) matches PyTorch: cosine ≥ 0.99999 and ≤ 1e-4 abs, batch 2 and batch 1', async () => {
  const gpu = await testGpu();
  const weights = await openWeights(`${DIR}/model.safetensors`);
  const model = await ClipVisionModel.load(gpu, weights, config);
  const pixels = await expected('pixels');
  const want = await expected('features');
  const got = await run(model, pixels, 2);
  assertFeatures(got, want, 0.99999, 1e-4, 'batch 2');
  const second = await run(model, pixels.subarray(pixels.length / 2), 1);
  assertFeatures(second, want.subarray(want.length / 2), 0.99999, 1e-4, 'batch 1');
  // Every intermediate went back to the pool: a repeat pass allocates nothing new.
  const allocated = gpu.pool.bytesAllocated;
  await run(model, pixels, 2);
  assert.is(gpu.pool.bytesAllocated, allocated, 'a second forward pass allocated new buffers');
  console.log(`    f32: max abs error ${maxAbs(got, want).toExponential(2)}, min cosine ${Math.min(cosine(got, want, 0, 48), cosine(got, want, 48, 48)).toFixed(8)}`);
  model.release();
  await weights.close();
});

const MEDIUM = 'test/fixtures/generated/clip-vision-medium';

test('Kauai.png end to end at CLIP geometry (224 px, patch 32, 50 tokens, head dim 64, width 256): TS preprocessing + WGSL vs PIL + PyTorch', async () => {
  if (!existsSync(`${MEDIUM}/expected.safetensors`) || !existsSync(`${MEDIUM}/model.safetensors`)) {
    // About 3 s of Python; the weights (~10 MB) are too big to commit.
    const result = spawnSync('/usr/bin/python3', ['scripts/fixtures/clip_vision.py', '--medium'], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`clip_vision.py --medium failed (${result.status}): ${result.stderr}`);
  }
  const medium = parseClipVisionConfig(JSON.parse(readFileSync(`${MEDIUM}/config.json`, 'utf8')));
  const want = await expected('pixels', MEDIUM);
  const kauai = preprocessImage(await decodeImage(new Uint8Array(readFileSync('../shared/data/geoclip/Kauai.png'))));
  const plane = 3 * 224 * 224;
  assert.ok(kauai.every((v, i) => v === want[i]), 'TS preprocessing of Kauai.png differs from the PIL pixels');
  const pixels = want.slice();
  pixels.set(kauai);

  const gpu = await testGpu();
  const weights = await openWeights(`${MEDIUM}/model.safetensors`);
  const model = await ClipVisionModel.load(gpu, weights, medium);
  const got = await run(model, pixels, 2);
  const features = await expected('features', MEDIUM);
  assertFeatures(got, features, 0.99999, 1e-4, 'medium', medium.projection_dim);
  console.log(`    medium: max abs error ${maxAbs(got, features).toExponential(2)} (|features| max ${Math.max(...features.map(Math.abs)).toFixed(2)}), ${pixels.length / plane} images`);
  model.release();
  await weights.close();
});

test('hidden_act gelu (exact erf) matches PyTorch with the same weights', async () => {
  const gpu = await testGpu();
  const weights = await openWeights(`${DIR}/model.safetensors`);
  const model = await ClipVisionModel.load(gpu, weights, { ...config, hidden_act: 'gelu' });
  const got = await run(model, await expected('pixels'), 2);
  assertFeatures(got, await expected('features_gelu'), 0.99999, 1e-4, 'gelu');
  model.release();
  await weights.close();
});

test('f16 matrices stay close to the f32 model (cosine ≥ 0.9999, ≤ 2e-2 abs)', async () => {
  const gpu = await testGpu();
  const weights = await openWeights(`${DIR}/model.safetensors`);
  const model = await ClipVisionModel.load(gpu, weights, config, { dtype: 'f16' });
  const want = await expected('features');
  const got = await run(model, await expected('pixels'), 2);
  // f16 keeps 11 significant bits: weights move by ~2^-12 relative, features by a few 1e-3.
  assertFeatures(got, want, 0.9999, 2e-2, 'f16');
  console.log(`    f16: max abs error ${maxAbs(got, want).toExponential(2)}`);
  model.release();
  await weights.close();
});

test('wrong pixel shapes are refused with the expected and given shapes', async () => {
  const gpu = await testGpu();
  const weights = await openWeights(`${DIR}/model.safetensors`);
  const model = await ClipVisionModel.load(gpu, weights, config);
  for (const shape of [[1, 3, 64, 64], [1, 1, 32, 32], [3, 32, 32]]) {
    const pixels = gpu.empty(shape);
    assert.throws(() => model.imageFeatures(pixels), (e: Error) => e instanceof ShapeError && e.message.includes('[B, 3, 32, 32]') && e.message.includes(`[${shape.join(', ')}]`));
    pixels.release();
  }
  model.release();
  assert.throws(() => model.imageFeatures(gpu.empty([1, 3, 32, 32])), /after release/);
  await weights.close();
});

test('a config that does not fit the weights, or a missing tensor, fails naming the tensors', async () => {
  const gpu = await testGpu();
  const weights = await openWeights(`${DIR}/model.safetensors`);
  const wrongWidth: ClipVisionConfig = { ...config, intermediate_size: 128 };
  await loadFails(() => ClipVisionModel.load(gpu, weights, wrongWidth), /layers\.0\.mlp\.fc1\.weight is \[256, 64\], expected \[128, 64\].*layers\.1\.mlp\.fc2\.weight/);
  await loadFails(() => ClipVisionModel.load(gpu, weights, { ...config, num_hidden_layers: 3 }), /missing 16: vision_model\.encoder\.layers\.2\./);
  const hiding: WeightSource = {
    tensors: new Map([...weights.tensors].filter(([name]) => name !== 'visual_projection.weight')),
    readF32: (name) => weights.readF32(name),
    close: async () => {},
  };
  await loadFails(() => ClipVisionModel.load(gpu, hiding, config), /visual_projection\.weight/);
  await weights.close();
});

async function loadFails(load: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await load();
  } catch (error) {
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`load should fail with ${pattern}`);
}

test('presets match HF configs; unsupported activations and impossible shapes are refused before any upload', async () => {
  const full = parseClipVisionConfig({ projection_dim: 768, vision_config: { hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, patch_size: 14 } });
  assert.equal(full, CLIP_VISION_PRESETS['ViT-L/14']);
  const gpu = await testGpu();
  const weights = await openWeights(`${DIR}/model.safetensors`);
  await loadFails(() => ClipVisionModel.load(gpu, weights, { ...config, hidden_act: 'gelu_pytorch_tanh' }), /hidden_act 'gelu_pytorch_tanh' is not supported/);
  await loadFails(() => ClipVisionModel.load(gpu, weights, { ...config, num_attention_heads: 5 }), /not divisible/);
  await weights.close();
  // ViT-B/32 is ~4.4 GMACs per image (8.8 GFLOP); ViT-L/14 ~81 GMACs.
  const b32 = clipVisionFlops(CLIP_VISION_PRESETS['ViT-B/32']) / 1e9;
  const l14 = clipVisionFlops(CLIP_VISION_PRESETS['ViT-L/14']) / 1e9;
  assert.ok(b32 > 8.5 && b32 < 9.0, `ViT-B/32 ${b32} GFLOP`);
  assert.ok(l14 > 160 && l14 < 164, `ViT-L/14 ${l14} GFLOP`);
});

test.run();

// The transformer kernels against PyTorch (float64 from float32 inputs), from
// test/fixtures/kernels/torch.safetensors; regenerate with `/usr/bin/python3 scripts/fixtures/kernels.py`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attention } from '../../src/kernels/attention.js';
import { visionEmbeddings } from '../../src/kernels/embeddings.js';
import { l2Normalize } from '../../src/kernels/l2-normalize.js';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { patchEmbed } from '../../src/kernels/patch-embed.js';
import { softmax } from '../../src/kernels/softmax.js';
import type { Gpu, Tensor } from '../../src/runtime/index.js';
import { openWeights, type WeightSource } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { relativeError } from '../support/numeric.js';

let fixture: WeightSource | null = null;

async function load(gpu: Gpu, name: string): Promise<Tensor> {
  fixture ??= await openWeights('test/fixtures/kernels/torch.safetensors');
  const info = fixture.tensors.get(name);
  assert.ok(info, `fixture has ${name}`);
  return gpu.upload(await fixture.readF32(name), info!.shape);
}

async function expectTorch(actual: Tensor, name: string, tolerance = 1e-5): Promise<void> {
  const expected = await fixture!.readF32(name);
  assert.equal(actual.shape, fixture!.tensors.get(name)!.shape, `${name} shape`);
  const error = relativeError(await actual.read(), expected);
  if (process.env.PRINT_ERRORS) console.log(`${name}: relative error ${error.toExponential(2)} vs PyTorch`);
  assert.ok(error <= tolerance, `${name}: relative error ${error} vs PyTorch`);
}

test('attention matches PyTorch: S 50, 2 heads of 64, with and without the causal mask', async () => {
  const gpu = await testGpu();
  const qkv = await load(gpu, 'attention.qkv');
  await expectTorch(attention(qkv, 2), 'attention.out');
  await expectTorch(attention(qkv, 2, { causal: true }), 'attention.causal');
});

test('attention matches PyTorch: batch 3, head dim 5, scale 0.3', async () => {
  const gpu = await testGpu();
  await expectTorch(attention(await load(gpu, 'attention_odd.qkv'), 3, { scale: 0.3 }), 'attention_odd.out');
});

test('layerNorm, softmax, l2Normalize match PyTorch', async () => {
  const gpu = await testGpu();
  const x = await load(gpu, 'layernorm.x');
  await expectTorch(layerNorm(x, await load(gpu, 'layernorm.weight'), await load(gpu, 'layernorm.bias')), 'layernorm.out');
  await expectTorch(softmax(await load(gpu, 'softmax.x')), 'softmax.out');
  await expectTorch(l2Normalize(await load(gpu, 'l2.x')), 'l2.out');
});

test('patchEmbed matches PyTorch Conv2d(stride = kernel) flattened to tokens; visionEmbeddings matches torch.cat + add', async () => {
  const gpu = await testGpu();
  await expectTorch(patchEmbed(await load(gpu, 'patch.pixels'), await load(gpu, 'patch.weight'), 14, await load(gpu, 'patch.bias')), 'patch.out');
  const embedded = visionEmbeddings(await load(gpu, 'embed.patches'), await load(gpu, 'embed.class'), await load(gpu, 'embed.positions'));
  await expectTorch(embedded, 'embed.out', 0);
});

test.after(async () => {
  await fixture?.close();
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { im2col, im2colReference, patchEmbed, patchEmbedReference } from '../../src/kernels/patch-embed.js';
import { floatsToHalves, halvesToFloats, ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray, relativeError } from '../support/numeric.js';

test('im2col is an exact copy in Conv2d weight order: batch 3, non-square image, odd channels', async () => {
  const gpu = await testGpu();
  const shape = [3, 5, 14, 21];
  const pixels = randomArray(3 * 5 * 14 * 21, 1);
  const cols = im2col(gpu.upload(pixels, shape), 7);
  assert.equal(cols.shape, [3, 2 * 3, 5 * 7 * 7]);
  assertClose(await cols.read(), im2colReference(pixels, shape, 7), 0, 0, 'im2col');
});

test('im2col edge cases: patch 1 (a transpose to channels-last), one patch covering the image', async () => {
  const gpu = await testGpu();
  const pixels = randomArray(2 * 3 * 4 * 5, 2);
  assertClose(await im2col(gpu.upload(pixels, [2, 3, 4, 5]), 1).read(), im2colReference(pixels, [2, 3, 4, 5], 1), 0, 0, 'patch 1');
  const single = randomArray(3 * 6 * 6, 3);
  assertClose(await im2col(gpu.upload(single, [1, 3, 6, 6]), 6).read(), im2colReference(single, [1, 3, 6, 6], 6), 0, 0, 'one patch');
});

async function checkPatchEmbed(shape: number[], patch: number, dim: number, seed: number, options: { bias?: boolean; f16?: boolean } = {}): Promise<void> {
  const gpu = await testGpu();
  const channels = shape[1]!;
  const pixels = randomArray(shape.reduce((a, b) => a * b, 1), seed, 2);
  let weight = randomArray(dim * channels * patch * patch, seed + 1, 0.1);
  const bias = options.bias ? randomArray(dim, seed + 2) : undefined;
  const weightShape = [dim, channels, patch, patch];
  let weightTensor = gpu.upload(weight, weightShape);
  if (options.f16) {
    const halves = floatsToHalves(weight);
    weight = halvesToFloats(halves); // the reference sees the rounded weights the GPU sees
    weightTensor = gpu.upload(halves, weightShape, 'f16');
  }
  const out = patchEmbed(gpu.upload(pixels, shape), weightTensor, patch, bias && gpu.upload(bias, [dim]));
  const patches = (shape[2]! / patch) * (shape[3]! / patch);
  assert.equal(out.shape, [shape[0], patches, dim]);
  const expected = patchEmbedReference(pixels, shape, weight, dim, patch, bias);
  const error = relativeError(await out.read(), expected);
  assert.ok(error <= 1e-5, `patchEmbed ${JSON.stringify(shape)} P${patch} D${dim}: relative error ${error}`);
}

// The cases share GEMM pipelines where they can (each costs a second to compile on SwiftShader): K % 4 = 0
// with an f32 bias twice, then odd K with an f16 weight, then K = 1 without bias.
test('patchEmbed matches a float64 convolution: batch 3, D 65, f16 weight, a 1×1 image', async () => {
  await checkPatchEmbed([3, 3, 28, 42], 14, 65, 4, { bias: true });
  await checkPatchEmbed([1, 3, 32, 32], 16, 48, 5, { bias: true });
  await checkPatchEmbed([2, 3, 14, 14], 7, 33, 6, { bias: true, f16: true });
  await checkPatchEmbed([1, 1, 1, 1], 1, 1, 7);
});

test('patchEmbed and im2col reject bad shapes, naming them', async () => {
  const gpu = await testGpu();
  const pixels = gpu.upload(new Float32Array(3 * 30 * 28), [1, 3, 30, 28]);
  assert.throws(() => im2col(pixels, 14), (e: Error) => e instanceof ShapeError && /\[1, 3, 30, 28\]/.test(e.message) && /14/.test(e.message));
  const good = gpu.upload(new Float32Array(3 * 28 * 28), [1, 3, 28, 28]);
  const weight = gpu.upload(new Float32Array(8 * 4 * 14 * 14), [8, 4, 14, 14]);
  assert.throws(() => patchEmbed(good, weight, 14), (e: Error) => e instanceof ShapeError && /\[8, 4, 14, 14\]/.test(e.message) && /\[1, 3, 28, 28\]/.test(e.message));
  const right = gpu.upload(new Float32Array(8 * 3 * 14 * 14), [8, 3, 14, 14]);
  assert.throws(() => patchEmbed(good, right, 14, gpu.upload(new Float32Array(7), [7])), (e: Error) => e instanceof ShapeError && /\[7\]/.test(e.message));
  assert.throws(() => patchEmbed(good.reshape([3, 28, 28]), right, 14), (e: Error) => e instanceof ShapeError && /\[3, 28, 28\]/.test(e.message));
});

test.run();

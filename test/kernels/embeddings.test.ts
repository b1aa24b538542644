import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { visionEmbeddings, visionEmbeddingsReference } from '../../src/kernels/embeddings.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray } from '../support/numeric.js';

async function check(batch: number, tokens: number, width: number, seed: number): Promise<void> {
  const gpu = await testGpu();
  const patches = randomArray(batch * tokens * width, seed);
  const cls = randomArray(width, seed + 1);
  const positions = randomArray((tokens + 1) * width, seed + 2);
  const out = visionEmbeddings(gpu.upload(patches, [batch, tokens, width]), gpu.upload(cls, [width]), gpu.upload(positions, [tokens + 1, width]));
  assert.equal(out.shape, [batch, tokens + 1, width]);
  // One f32 addition per element on both sides: bit-exact.
  assertClose(await out.read(), visionEmbeddingsReference(patches, batch, tokens, width, cls, positions), 0, 0, `embeddings ${batch}×${tokens}×${width}`);
}

test('visionEmbeddings is exact against the reference: ViT-B/32 (49 patches), batch 3, odd D', async () => {
  await check(3, 49, 768, 1);
  await check(3, 256, 65, 2);
});

test('visionEmbeddings edge cases: one patch, D 1, batch 1; NaN stays in its element', async () => {
  await check(1, 1, 1, 3);
  await check(2, 3, 1, 4);
  const gpu = await testGpu();
  const patches = new Float32Array([1, NaN, 3, 4]);
  const out = await visionEmbeddings(gpu.upload(patches, [1, 2, 2]), gpu.upload(new Float32Array(2), [2]), gpu.upload(new Float32Array(6), [3, 2])).read();
  assert.equal([...out].map((v) => (Number.isNaN(v) ? 'NaN' : v)), [0, 0, 1, 'NaN', 3, 4]);
});

test('visionEmbeddings rejects mismatched class and position shapes, naming all shapes', async () => {
  const gpu = await testGpu();
  const patches = gpu.upload(new Float32Array(2 * 4 * 8), [2, 4, 8]);
  const cls = gpu.upload(new Float32Array(8), [8]);
  const positions = gpu.upload(new Float32Array(5 * 8), [5, 8]);
  assert.throws(() => visionEmbeddings(patches, gpu.upload(new Float32Array(7), [7]), positions), (e: Error) => e instanceof ShapeError && /\[2, 4, 8\].*\[7\].*\[5, 8\]/.test(e.message));
  assert.throws(() => visionEmbeddings(patches, cls, gpu.upload(new Float32Array(4 * 8), [4, 8])), (e: Error) => e instanceof ShapeError && /positions must be \[5, 8\]/.test(e.message));
  assert.throws(() => visionEmbeddings(patches.reshape([8, 8]), cls, positions), (e: Error) => e instanceof ShapeError && /\[8, 8\]/.test(e.message));
});

test.run();

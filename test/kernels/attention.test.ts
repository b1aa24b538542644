import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attention, attentionKernels, attentionReference, ATTENTION_WORKGROUP_SIZES, type AttentionKernel } from '../../src/kernels/attention.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray, relativeError } from '../support/numeric.js';

interface Case {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  causal?: boolean;
  scale?: number;
  seed?: number;
}

async function check({ batch, seq, heads, headDim, causal, scale, seed = 1 }: Case, tolerance = 1e-5, workgroupSize?: number, kernel?: AttentionKernel): Promise<Float32Array> {
  const gpu = await testGpu();
  const width = heads * headDim;
  // Scale 2 spreads the scores over a few units, so the softmax is far from uniform.
  const qkv = randomArray(batch * seq * 3 * width, seed, 2);
  const out = await attention(gpu.upload(qkv, [batch, seq, 3 * width]), heads, { causal, scale, workgroupSize, kernel }).read();
  const expected = attentionReference(qkv, batch, seq, heads, { causal, scale });
  const label = `attention B${batch} S${seq} H${heads} hd${headDim}${causal ? ' causal' : ''}${kernel ? ` ${kernel}` : ''}`;
  const error = relativeError(out, expected);
  assert.ok(error <= tolerance, `${label}: relative error ${error}`);
  assertClose(out, expected, 1e-4, tolerance, label);
  return out;
}

test('attention matches the float64 reference: ViT shapes (S 50, 257) with odd batch', async () => {
  await check({ batch: 3, seq: 50, heads: 12, headDim: 64 });
  await check({ batch: 1, seq: 257, heads: 4, headDim: 64, seed: 2 });
});

test('every workgroup size a tuner may pick matches the reference, causal or not', async () => {
  // 3 heads × 5 query blocks: workgroups of 4…64 all end partly empty. Causal and not alternate (each
  // pipeline is a compile, seconds on a software adapter).
  for (const [i, workgroupSize] of ATTENTION_WORKGROUP_SIZES.entries()) {
    await check({ batch: 1, seq: 19, heads: 3, headDim: 20, causal: i % 2 === 0, seed: 5 }, 1e-5, workgroupSize);
  }
  const gpu = await testGpu();
  assert.throws(() => attention(gpu.upload(new Float32Array(2 * 3 * 8), [1, 2, 24]), 2, { workgroupSize: 12 }),
    (e: Error) => e instanceof ShapeError && /workgroupSize must be one of 4, 8, 16, 32, 64; got 12/.test(e.message));
});

test('attention causal (CLIP text, S 77) masks keys after the query', async () => {
  await check({ batch: 2, seq: 77, heads: 8, headDim: 64, causal: true, seed: 3 });
});

// Each (head dim, causal) pair is its own pipeline and costs a second to compile on SwiftShader, so the
// cases below share a few: (64), (64, causal), (5), (5, causal), (1), (128).
test('attention handles head dims that are not a multiple of 4, head dim 1, and 128', async () => {
  await check({ batch: 2, seq: 19, heads: 3, headDim: 5, seed: 4 });
  await check({ batch: 1, seq: 21, heads: 2, headDim: 5, causal: true, seed: 6 });
  await check({ batch: 1, seq: 33, heads: 2, headDim: 1, seed: 5 });
  await check({ batch: 1, seq: 40, heads: 2, headDim: 128, seed: 7 });
});

test('attention edge cases: S 1 returns v, S 2 causal, a custom scale, large scores', async () => {
  const gpu = await testGpu();
  const qkv = randomArray(3 * 64, 8);
  const out = await attention(gpu.upload(qkv, [1, 1, 3 * 64]), 1).read();
  assertClose(out, qkv.slice(128), 0, 0, 'S 1 is v');
  await check({ batch: 3, seq: 2, heads: 1, headDim: 64, causal: true, seed: 11 });
  await check({ batch: 2, seq: 9, heads: 1, headDim: 64, scale: 0.37, seed: 9 });
  // scale 20 makes the scores span hundreds: the running max has to move and rescale correctly. Scores
  // near 300 carry f32 rounding of ~1e-5..1e-4 in the exponent whatever the kernel does, hence 1e-4.
  await check({ batch: 1, seq: 45, heads: 2, headDim: 64, scale: 20, seed: 10 }, 1e-4);
});

// The kernels at head dim 64 besides the blocks kernel (which every other test runs): subgroup64 where the
// adapter has 8-lane subgroups (lavapipe), subgroup64w4 where it has 4 (lavapipe and SwiftShader).
const gpuForKernels = await testGpu();
const otherKernels = attentionKernels(gpuForKernels, 64).filter((k) => !k.startsWith('blocks'));

test('every kernel at head dim 64 matches the reference: ViT shapes, partial query groups, causal, edges', async () => {
  for (const kernel of ['blocks16' as const, ...otherKernels]) {
    await check({ batch: 3, seq: 50, heads: 12, headDim: 64 }, 1e-5, undefined, kernel);
    await check({ batch: 1, seq: 257, heads: 4, headDim: 64, seed: 2 }, 1e-5, undefined, kernel);
    await check({ batch: 2, seq: 77, heads: 8, headDim: 64, causal: true, seed: 3 }, 1e-5, undefined, kernel);
    await check({ batch: 3, seq: 2, heads: 1, headDim: 64, causal: true, seed: 11 }, 1e-5, undefined, kernel);
    await check({ batch: 1, seq: 1, heads: 2, headDim: 64, seed: 12 }, 1e-5, undefined, kernel);
    await check({ batch: 1, seq: 45, heads: 2, headDim: 64, scale: 20, seed: 10 }, 1e-4, undefined, kernel);
    await nanCheck(64, kernel);
  }
  const gpu = await testGpu();
  assert.throws(() => attention(gpu.upload(new Float32Array(2 * 3 * 40), [1, 2, 120]), 2, { kernel: 'subgroup64' }),
    (e: Error) => e instanceof ShapeError && /kernel "subgroup64" does not run on .* at head dim 20/.test(e.message));
});

async function nanCheck(headDim: number, kernel?: AttentionKernel): Promise<void> {
  const gpu = await testGpu();
  const [seq, heads] = [6, 2];
  const width = heads * headDim;
  const qkv = randomArray(seq * 3 * width, 11);
  qkv[2 * 3 * width + 1] = NaN; // q of token 2, head 0
  let out = await attention(gpu.upload(qkv, [1, seq, 3 * width]), heads, { kernel }).read();
  for (let t = 0; t < seq; t++) {
    const head0 = out.slice(t * width, t * width + headDim);
    const head1 = out.slice(t * width + headDim, (t + 1) * width);
    assert.ok(head0.every((v) => Number.isNaN(v) === (t === 2)), `head 0, token ${t}`);
    assert.ok(head1.every(Number.isFinite), `head 1, token ${t}`);
  }
  const keyed = randomArray(seq * 3 * width, 12);
  keyed[4 * 3 * width + width + headDim] = NaN; // k of token 4, head 1
  out = await attention(gpu.upload(keyed, [1, seq, 3 * width]), heads, { causal: true, kernel }).read();
  for (let t = 0; t < seq; t++) {
    const head1 = out.slice(t * width + headDim, (t + 1) * width);
    // Causal: only queries that see key 4 turn NaN.
    assert.ok(head1.every((v) => Number.isNaN(v) === t >= 4), `causal head 1, token ${t}${kernel ? ` ${kernel}` : ''}`);
  }
}

test('attention propagates NaN like torch: a NaN query poisons its own row, a NaN key every row', async () => {
  await nanCheck(5);
});

test('attention rejects shapes that do not split into heads, naming the shape', async () => {
  const gpu = await testGpu();
  const qkv = gpu.upload(new Float32Array(2 * 30), [1, 2, 30]);
  assert.throws(() => attention(qkv, 4), (e: Error) => e instanceof ShapeError && /\[1, 2, 30\]/.test(e.message) && /4 heads/.test(e.message));
  const notThree = gpu.upload(new Float32Array(2 * 32), [1, 2, 32]);
  assert.throws(() => attention(notThree, 1), (e: Error) => e instanceof ShapeError && /\[1, 2, 32\]/.test(e.message));
  const flat = gpu.upload(new Float32Array(96), [32, 3]);
  assert.throws(() => attention(flat, 1), (e: Error) => e instanceof ShapeError && /\[32, 3\]/.test(e.message));
  const wide = gpu.upload(new Float32Array(3 * 130), [1, 1, 3 * 130]);
  assert.throws(() => attention(wide, 1), (e: Error) => e instanceof ShapeError && /head dim 130/.test(e.message));
});

test.run();

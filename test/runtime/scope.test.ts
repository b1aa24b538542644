import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu, Tensor } from '../../src/runtime/index.js';
import { add } from '../../src/kernels/add.js';
import { testGpu } from '../support/gpu.js';

// gpu.scope frees what its work made and did not return. Each test uses its own byte sizes, so the pool's
// counters show exactly which buffers went back (bytesPooled) and which stay live.
let gpu: Gpu;
const live = () => gpu.pool.bytesAllocated - gpu.pool.bytesPooled;

test.before(async () => {
  gpu = await testGpu();
});

test('temporaries go back to the pool, the returned tensor stays and holds the result', async () => {
  const a = gpu.upload(new Float32Array([1, 2, 3]), [3]);
  const b = gpu.upload(new Float32Array([10, 20, 30]), [3]);
  const before = live();
  const out = gpu.scope(() => add(add(a, b), add(b, b))); // (a + b) + 2b
  assert.is(live() - before, 3 * 4, 'only the result is live');
  assert.equal([...(await out.read())], [31, 62, 93]);
  for (const t of [a, b, out]) t.release();
});

test('a reshape of a tensor made inside, and tensors inside an array or object, are kept', async () => {
  const before = live();
  const { pair, view } = gpu.scope(() => {
    const made = gpu.upload(new Float32Array(6).fill(2), [6]);
    gpu.empty([5], 'f32', 'scope-test.temporary');
    return { pair: [gpu.upload(new Float32Array([7]), [1])], view: made.reshape([2, 3]) };
  });
  assert.is(live() - before, 7 * 4, 'the six-element buffer (seen as [2, 3]) and the one-element tensor stay');
  assert.equal([...(await view.read())], [2, 2, 2, 2, 2, 2]);
  view.release();
  pair[0]!.release();
  assert.is(live(), before);
});

test('scopes nest: what an inner scope returns is the outer scope\'s to free', () => {
  const before = live();
  const kept = gpu.scope(() => {
    const inner = gpu.scope(() => {
      gpu.empty([11], 'f32', 'scope-test.inner-temporary');
      return gpu.empty([13], 'f32', 'scope-test.inner-result');
    });
    assert.is(live() - before, 13 * 4, 'inner temporary freed at the inner end');
    void inner;
    return gpu.empty([17], 'f32', 'scope-test.outer-result');
  });
  assert.is(live() - before, 17 * 4, 'the inner result was freed by the outer scope');
  kept.release();
});

test('a throw frees everything made, an async work is refused, and lasting() escapes the scope', async () => {
  const before = live();
  assert.throws(() => gpu.scope(() => {
    gpu.empty([19], 'f32', 'scope-test.thrown');
    throw new Error('inside');
  }), /inside/);
  assert.is(live(), before);
  assert.throws(() => gpu.scope(() => Promise.resolve(gpu.empty([23]))), /must be synchronous/);
  assert.is(live(), before);
  let cached: Tensor | null = null;
  gpu.scope(() => {
    cached = gpu.lasting(() => gpu.empty([29], 'f32', 'scope-test.cached'));
    return null;
  });
  assert.is(live() - before, 29 * 4, 'a tensor made inside lasting() outlives the scope');
  cached!.release();
});


test("a kernel's cached constant made inside a scope outlives it: linear()'s no-bias stand-in stays live", async () => {
  const { linear, linearReference } = await import('../../src/kernels/gemm.js');
  // A device of its own, so the stand-in (one f32) is first made inside the scope below.
  const { createDevice } = await import('../../src/runtime/index.js');
  const own = await createDevice({ log: () => {} });
  const ownLive = () => own.pool.bytesAllocated - own.pool.bytesPooled;
  const xs = Float32Array.from({ length: 2 * 3 }, (_, i) => i - 2);
  const ws = Float32Array.from({ length: 4 * 3 }, (_, i) => (i % 5) - 1);
  const x = own.upload(xs, [2, 3]);
  const w = own.upload(ws, [4, 3]);
  const want = [...linearReference(xs, [2, 3], ws, [4, 3])];
  const before = ownLive();
  const inside = own.scope(() => linear(x, w));
  assert.is(ownLive() - before, 2 * 4 * 4 + 4, 'the result and the cached stand-in are live; nothing else');
  assert.equal([...(await inside.read())], want);
  const after = linear(x, w);
  assert.equal([...(await after.read())], want);
  for (const t of [x, w, inside, after]) t.release();
  own.destroy();
});

test.run();

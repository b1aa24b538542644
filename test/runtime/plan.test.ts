import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceError, type Gpu, type Tensor } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';

// y = x · FACTOR, FACTOR an override constant: each factor is its own pipeline.
const SCALE = /* wgsl */ `
override FACTOR: f32 = 1.0;
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&x)) { y[id.x] = x[id.x] * FACTOR; }
}`;

function scale(gpu: Gpu, x: Tensor, factor: number): Tensor {
  const y = gpu.empty(x.shape, 'f32', 'plan-test.y');
  gpu.dispatch({ label: 'plan-test.scale', code: SCALE, constants: { FACTOR: factor }, buffers: [x, y], workgroups: [Math.ceil(x.size / 64)] });
  return y;
}

test('plan() lists the pipelines work would dispatch, allocating and running nothing', async () => {
  const gpu = await testGpu();
  const x = gpu.upload(new Float32Array([1, 2, 3]), [3]);
  const { bytesAllocated, bytesPooled } = gpu.pool;
  const dispatches = gpu.dispatchCount;
  const compiles = gpu.pipelines.compiles;
  const requests = gpu.plan(() => {
    const planned = gpu.empty([1 << 20], 'f32', 'big');
    scale(gpu, planned, 2).release();
    scale(gpu, x, 3).release();
    gpu.upload(new Float32Array(4), [4]).release();
    planned.release();
  });
  assert.equal(requests.map((r) => [r.label, r.constants]), [['plan-test.scale', { FACTOR: 2 }], ['plan-test.scale', { FACTOR: 3 }]]);
  assert.is(gpu.dispatchCount, dispatches);
  assert.is(gpu.pipelines.compiles, compiles);
  assert.equal([gpu.pool.bytesAllocated, gpu.pool.bytesPooled], [bytesAllocated, bytesPooled], 'no buffer allocated or pooled');
  assert.throws(() => gpu.plan(() => void gpu.plan(() => {})), /does not nest/);
  x.release();
});

test('prepare() compiles what was planned, at once or one by one; the dispatches then compile nothing', async () => {
  const gpu = await testGpu();
  const x = gpu.upload(new Float32Array([1, 2, 3]), [3]);
  const requests = gpu.plan(() => {
    scale(gpu, x, 5).release();
    scale(gpu, x, 7).release();
  });
  const before = gpu.pipelines.compiles;
  const seen: [number, number][] = [];
  assert.is(await gpu.pipelines.prepare(requests.slice(0, 1), (done, total) => seen.push([done, total])), 1);
  assert.is(await gpu.pipelines.prepare(requests, undefined, { concurrent: false }), 1, 'the first is cached already');
  assert.equal(seen, [[0, 1], [1, 1]]);
  assert.is(gpu.pipelines.compiles - before, 2);
  const five = scale(gpu, x, 5);
  const seven = scale(gpu, x, 7);
  assert.equal(Array.from(await five.read()), [5, 10, 15]);
  assert.equal(Array.from(await seven.read()), [7, 14, 21]);
  assert.is(gpu.pipelines.compiles - before, 2, 'no compile at dispatch');
  const plannedRead = gpu.plan(() => {
    gpu.readBytes(x.buffer, 0, 4).catch((e: Error) => assert.instance(e, DeviceError));
  });
  assert.equal(plannedRead, []);
  for (const t of [x, five, seven]) t.release();
});

test.run();

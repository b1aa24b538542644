import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import addSource from '../../shaders/add.wgsl';
import { add } from '../../src/kernels/add.js';
import { createDevice, DeviceError, NoAdapterError, ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';

test('getDevice picks an adapter by itself and reports its features', async () => {
  const gpu = await testGpu();
  assert.type(gpu.adapterName, 'string');
  assert.ok(gpu.adapterName.length > 0);
  if (gpu.isSoftware) assert.match(gpu.adapterName, /SwiftShader/);
  // Features we asked for are enabled on the device exactly when the adapter has them.
  assert.is(gpu.features.timestamps, gpu.device.features.has('timestamp-query'));
  assert.is(gpu.features.subgroups, gpu.device.features.has('subgroups'));
  assert.is(gpu.features.f16, gpu.device.features.has('shader-f16'));
  assert.is(gpu.features.timestamps, gpu.adapter.features.has('timestamp-query'));
});

test('pipeline cache compiles one pipeline per shader and constants', async () => {
  const gpu = await testGpu();
  const before = gpu.pipelines.compiles;
  const a = gpu.upload(new Float32Array([1, 2, 3]), [3]);
  add(a, a);
  add(a, a);
  gpu.pipelines.get('add', addSource, { WORKGROUP_SIZE: 256 });
  assert.ok(gpu.pipelines.compiles - before <= 1, `compiled ${gpu.pipelines.compiles - before} times`);
  gpu.pipelines.get('add', addSource, { WORKGROUP_SIZE: 64 });
  assert.ok(gpu.pipelines.compiles - before >= 1);
  assert.equal(Array.from(await add(a, a).read()), [2, 4, 6]);
});

test('buffer pool reuses released buffers of the same size', async () => {
  const gpu = await testGpu();
  const t = gpu.empty([1000]);
  const buffer = t.buffer;
  t.release();
  const again = gpu.empty([250, 4]);
  assert.is(again.buffer, buffer);
  again.release();
});

test('timestamp timing measures GPU work', async () => {
  const gpu = await testGpu();
  const a = gpu.upload(new Float32Array(1 << 16).fill(1), [1 << 16]);
  const { ns, source } = await gpu.time(() => add(a, a));
  assert.is(source, gpu.features.timestamps ? 'timestamp' : 'wall');
  assert.ok(ns > 0 && ns < 10e9, `measured ${ns} ns`);
});

test('a shader error rejects the next read with the compiler message', async () => {
  const gpu = await createDevice({ log: () => {} });
  const a = gpu.upload(new Float32Array([1]), [1]);
  gpu.dispatch({ label: 'broken', code: '@compute @workgroup_size(1) fn main() { let x: f32 = undefined_thing; }', buffers: [], workgroups: [1] });
  await gpu.read(a).then(
    () => assert.unreachable('read should reject'),
    (error: Error) => {
      assert.instance(error, DeviceError);
      assert.match(error.message, /undefined_thing|unresolved/);
    },
  );
  gpu.destroy();
});

test('a lost device rejects pending and later work with the reason', async () => {
  const gpu = await createDevice({ log: () => {} });
  const a = gpu.upload(new Float32Array([1, 2]), [2]);
  gpu.device.destroy();
  await gpu.read(a).then(
    () => assert.unreachable('read on a destroyed device should reject'),
    (error: Error) => assert.match(error.message, /lost|destroy/i),
  );
  assert.throws(() => add(a, a), (e: Error) => e instanceof DeviceError && /lost/i.test(e.message));
});

test('empty tensors and tensors past the binding limit are refused with their shapes', async () => {
  const gpu = await testGpu();
  assert.throws(() => gpu.empty([0, 5]), (e: Error) => e instanceof ShapeError && /\[0, 5\]/.test(e.message));
  const tooMany = Math.ceil(gpu.limits.maxStorageBufferBindingSize / 4) + 1;
  assert.throws(() => gpu.empty([tooMany]), (e: Error) => e instanceof ShapeError && /bytes/.test(e.message) && String(tooMany).length > 0);
  assert.throws(() => gpu.upload(new Float32Array(5), [2, 3]), (e: Error) => e instanceof ShapeError && /\[2, 3\]/.test(e.message));
});

test('with no usable adapter the error names the fix', async () => {
  // A fresh process whose Vulkan loader is pointed at nothing: no hardware, and no fallback, since the
  // user chose the ICD themselves.
  mkdirSync('.build/tmp', { recursive: true });
  const script = '.build/tmp/no-adapter.mjs';
  const result = await build({
    stdin: {
      contents: `import { getDevice } from './src/runtime/index.ts';
        getDevice().then(() => { console.log('ADAPTER'); process.exit(0); }, (e) => { console.log(e.name + ': ' + e.message); process.exit(0); });`,
      resolveDir: '.',
      loader: 'ts',
    },
    bundle: true, platform: 'node', format: 'esm', packages: 'external', write: false, loader: { '.wgsl': 'text' },
  });
  writeFileSync(script, result.outputFiles[0]!.text);
  const child = spawnSync(process.execPath, [script], {
    env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', GEOLENS_QUIET: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(child.stdout, new RegExp(NoAdapterError.name));
  assert.match(child.stdout, /apt-get install -y chromium libvulkan1/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import addSource from '../../shaders/add.wgsl';
import { add } from '../../src/kernels/add.js';
import { createDevice, DeviceError, getDevice, listAdapters, NoAdapterError, pickAdapter, ShapeError, type AdapterKind } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';

test('getDevice takes the adapter GEOLENS_ADAPTER names, else the first listed, and reports its features', async () => {
  const gpu = await testGpu();
  assert.type(gpu.adapterName, 'string');
  assert.ok(gpu.adapterName.length > 0);
  const { adapters } = await listAdapters({ icds: !process.env.VK_ICD_FILENAMES || !!process.env.GEOLENS_ADAPTER });
  const expected = process.env.GEOLENS_ADAPTER ? pickAdapter(adapters, process.env.GEOLENS_ADAPTER) : adapters[0];
  assert.is(gpu.adapterName, expected?.name);
  assert.is(gpu.isSoftware, expected?.kind !== 'hardware');
  // Features we asked for are enabled on the device exactly when the adapter has them.
  assert.is(gpu.features.timestamps, gpu.device.features.has('timestamp-query'));
  assert.is(gpu.features.subgroups, gpu.device.features.has('subgroups'));
  assert.is(gpu.features.f16, gpu.device.features.has('shader-f16'));
  assert.is(gpu.features.timestamps, gpu.adapter.features.has('timestamp-query'));
});

test('pickAdapter: kinds pick the first of their kind, anything else part of a name (any case); no match is null', () => {
  const list: { kind: AdapterKind; name: string }[] = [
    { kind: 'hardware', name: 'nvidia ampere NVIDIA A10G' },
    { kind: 'lavapipe', name: 'lavapipe (Mesa 25.0.7, LLVM 15.0.6)' },
    { kind: 'swiftshader', name: 'SwiftShader Device (Subzero)' },
  ];
  assert.is(pickAdapter(list, 'swiftshader'), list[2]);
  assert.is(pickAdapter(list, ' LAVAPIPE '), list[1]);
  assert.is(pickAdapter(list, 'hardware'), list[0]);
  assert.is(pickAdapter(list, 'a10g'), list[0]);
  assert.is(pickAdapter(list, 'subzero'), list[2]);
  assert.is(pickAdapter(list, 'mesa 25'), list[1]);
  assert.is(pickAdapter(list, 'software'), null);
  assert.is(pickAdapter(list, 'radeon'), null);
});

test('listAdapters: hardware first, then lavapipe, then SwiftShader, each once; both software devices where their ICDs are', async () => {
  const { adapters, refused } = await listAdapters();
  const order: AdapterKind[] = ['hardware', 'lavapipe', 'swiftshader', 'software'];
  const ranks = adapters.map((a) => order.indexOf(a.kind));
  assert.equal(ranks, [...ranks].sort((a, b) => a - b), adapters.map((a) => `${a.kind} ${a.name}`).join(', '));
  assert.is(new Set(adapters.map((a) => a.name)).size, adapters.length);
  const { existsSync } = await import('node:fs');
  const { LAVAPIPE_ICD_PATHS, SWIFTSHADER_ICD_PATHS } = await import('../../src/runtime/index.js');
  if (SWIFTSHADER_ICD_PATHS.some((p) => existsSync(p))) assert.ok(adapters.some((a) => a.kind === 'swiftshader'), 'SwiftShader ICD present but not listed');
  if (LAVAPIPE_ICD_PATHS.some((p) => existsSync(p))) {
    // Mesa before 24 ships an ICD Dawn refuses: then it must be named as refused, not silently missing.
    assert.ok(adapters.some((a) => a.kind === 'lavapipe') || refused.some((r) => /lvp/.test(r)), `lavapipe neither listed nor refused: ${refused.join('; ')}`);
  }
  // The variable that steers the Vulkan loader is left as this process was started with.
  assert.is(process.env.VK_ICD_FILENAMES, initialIcd);
});

const initialIcd = process.env.VK_ICD_FILENAMES;

test('the adapter option and GEOLENS_ADAPTER each pick a device, logged once; an unknown name lists what there is', async () => {
  const { adapters } = await listAdapters();
  const last = adapters[adapters.length - 1]!;
  const lines: string[] = [];
  const quiet = process.env.GEOLENS_QUIET;
  delete process.env.GEOLENS_QUIET;
  const byOption = await createDevice({ adapter: last.kind, log: (m) => lines.push(m) }).finally(() => (process.env.GEOLENS_QUIET = quiet));
  assert.is(byOption.adapterName, last.name);
  assert.equal(lines, [`geolens: using ${last.name}${last.kind === 'hardware' ? '' : ' (software)'}`]);
  byOption.destroy();
  const saved = process.env.GEOLENS_ADAPTER;
  process.env.GEOLENS_ADAPTER = adapters[0]!.name.slice(0, 12).toUpperCase();
  try {
    const byEnv = await createDevice({ log: () => {} });
    assert.is(byEnv.adapterName, adapters[0]!.name);
    byEnv.destroy();
    process.env.GEOLENS_ADAPTER = 'no-such-adapter';
    await createDevice({ log: () => {} }).then(
      () => assert.unreachable('an unknown adapter name must be refused'),
      (error: Error) => {
        assert.instance(error, NoAdapterError);
        assert.match(error.message, /'no-such-adapter' \(GEOLENS_ADAPTER\)/);
        assert.ok(error.message.includes(adapters[0]!.name), error.message);
      },
    );
  } finally {
    if (saved === undefined) delete process.env.GEOLENS_ADAPTER;
    else process.env.GEOLENS_ADAPTER = saved;
  }
});

test('getDevice refuses an adapter other than the process-wide one, and accepts the one it has', async () => {
  const gpu = await testGpu();
  const { adapters } = await listAdapters();
  const other = adapters.find((a) => a.name !== gpu.adapterName);
  assert.is(await getDevice({ adapter: gpu.adapterName }), gpu);
  if (!other) return; // one adapter only: nothing to refuse
  await getDevice({ adapter: other.name }).then(
    () => assert.unreachable('a second adapter for the shared device must be refused'),
    (error: Error) => assert.match(error.message, new RegExp(`already ${gpu.adapterName.replace(/[()]/g, '.')}, not '${other.name.replace(/[()]/g, '.')}'`)),
  );
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
    env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', GEOLENS_QUIET: '1', GEOLENS_ADAPTER: '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(child.stdout, new RegExp(NoAdapterError.name));
  assert.match(child.stdout, /apt-get install -y chromium libvulkan1/);
});

test.run();

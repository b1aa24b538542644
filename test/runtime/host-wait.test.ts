import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { promisify } from 'node:util';
import { linear } from '../../src/kernels/gemm.js';
import { hostWait, setHostWait, type Gpu } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';

// The main thread sleeps while the device works (src/runtime/host-wait.ts): Dawn's poll would otherwise
// spin it for the whole wait, taking a core from a CPU device's own threads.
let gpu: Gpu;

test.before(async () => {
  gpu = await testGpu();
});

/** Main-thread CPU ms (from /proc: only the main thread's own counters) and wall ms of one long wait. */
async function longWait(): Promise<{ mainCpuMs: number; wallMs: number }> {
  const { readFileSync } = await import('node:fs');
  const mainTicks = () => {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  const x = gpu.upload(new Float32Array(64 * 1024).fill(0.5), [64, 1024]);
  const w = gpu.upload(new Float32Array(1024 * 1024).fill(0.01), [1024, 1024]);
  const y = gpu.empty([64, 1024], 'f32', 'host-wait.out');
  linear(x, w, { out: y });
  await gpu.sync();
  // At least ~200 ms of device work in one wait, however fast the device.
  let calls = 2;
  for (;;) {
    const before = mainTicks();
    const started = performance.now();
    for (let i = 0; i < calls; i++) linear(x, w, { out: y });
    await gpu.sync();
    const wallMs = performance.now() - started;
    if (wallMs >= 200 || calls >= 4096) {
      for (const t of [x, w, y]) t.release();
      return { mainCpuMs: mainTicks() - before, wallMs };
    }
    calls *= 4;
  }
}

test('the main thread sleeps through a long wait, and spins when told to', async () => {
  if (process.platform !== 'linux') return;
  assert.is(hostWait(), 'sleep');
  // Best of up to three: other work left in the process (a compile finishing, a GC) only ever adds CPU.
  let sleeping = await longWait();
  for (let attempt = 1; attempt < 3 && sleeping.mainCpuMs >= 0.3 * sleeping.wallMs; attempt++) {
    const again = await longWait();
    if (again.mainCpuMs / again.wallMs < sleeping.mainCpuMs / sleeping.wallMs) sleeping = again;
  }
  const sleepingShare = sleeping.mainCpuMs / sleeping.wallMs;
  assert.ok(sleepingShare < 0.3, `main thread busy ${sleeping.mainCpuMs} ms of a ${sleeping.wallMs.toFixed(0)} ms wait`);
  // Earlier test files in this process are bundles of their own, each with its own copy of the runtime:
  // this copy's setHostWait must still steer the one wrapper the first device installed.
  setHostWait('spin');
  try {
    const spinning = await longWait();
    // Proves the measurement sees a spinning thread (the check above could not pass by accident); a
    // spinning thread shares the cores with the device's threads, so it gets a share, not all of one.
    const spinningShare = spinning.mainCpuMs / spinning.wallMs;
    assert.ok(spinningShare > sleepingShare + 0.2, `spinning main thread busy ${spinning.mainCpuMs} ms of ${spinning.wallMs.toFixed(0)} ms, sleeping ${sleeping.mainCpuMs} of ${sleeping.wallMs.toFixed(0)}`);
  } finally {
    setHostWait('sleep');
  }
});

test('other setImmediate callbacks run at once, in order, and util.promisify(setImmediate) still works', async () => {
  const order: string[] = [];
  await new Promise<void>((resolve) => {
    setImmediate(() => order.push('first'));
    setImmediate(function named() {
      order.push('second');
    });
    setImmediate((() => order.push('bound')).bind(null));
    setImmediate(() => resolve());
  });
  assert.equal(order, ['first', 'second', 'bound']);
  assert.is(await promisify(setImmediate)('value'), 'value');
  // Handed to Node's own setImmediate, not to a timer or a nap: what comes back is an Immediate.
  for (const callback of [() => {}, function named() {}, (() => {}).bind(null)]) {
    const handle = setImmediate(callback);
    assert.is(handle.constructor.name, 'Immediate', String(callback));
    clearImmediate(handle);
  }
  // A device wait still completes with short work: the first polls spin, later ones sleep.
  const x = gpu.upload(new Float32Array([1, 2, 3, 4]), [1, 4]);
  const w = gpu.upload(new Float32Array([1, 1, 1, 1]), [1, 4]);
  assert.equal([...(await linear(x, w).read())], [10]);
  x.release();
  w.release();
});

test.run();

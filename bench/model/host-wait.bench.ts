// How the way Node waits for the device changes the device's speed, side by side in one process:
//
//   node build.mjs --bench model/host-wait && node .build/bench/model/host-wait.bench.mjs
//
// Dawn's Node binding polls for finished work with setImmediate, spinning the main thread for the whole
// wait; geolens lets that poll spin for a quarter millisecond, then sleeps between checks
// (src/runtime/host-wait.ts).
// On a CPU device the spinning thread takes a core from the device's own threads. Each round runs the same
// 20 GEMMs (50×3072×768, ViT-B/32's fc2) in one wait under each mode, and prints the device time and the
// CPU time of the main thread against the rest of the process's threads (from /proc, Linux only).
import { readdirSync, readFileSync } from 'node:fs';
import { linear } from '../../src/kernels/gemm.js';
import { setHostWait, type HostWait } from '../../src/runtime/index.js';
import { adapterLine, benchGpu, formatGflops, formatMs } from '../support/bench.js';
import { fillRandom } from '../support/clip-weights.js';

/** CPU milliseconds per thread of this process, by thread id. */
function threadCpuMs(): Map<string, number> {
  const ticks = new Map<string, number>();
  let dir: string[] = [];
  try {
    dir = readdirSync('/proc/self/task');
  } catch {
    return ticks;
  }
  for (const thread of dir) {
    try {
      const stat = readFileSync(`/proc/self/task/${thread}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(thread, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return ticks;
}

const gpu = await benchGpu();
console.log(adapterLine(gpu));
const [m, k, n, calls] = [50, 3072, 768, 20];
const x = gpu.upload(fillRandom(new Float32Array(m * k), 1, 1), [m, k]);
const w = gpu.upload(fillRandom(new Float32Array(n * k), 2, 1 / Math.sqrt(k)), [n, k]);
const y = gpu.empty([m, n], 'f32', 'host-wait.out');
linear(x, w, { out: y });
await gpu.sync();
const main = String(process.pid);
const best: Record<HostWait, number> = { spin: Infinity, sleep: Infinity };
for (let round = 0; round < 3; round++) {
  for (const mode of ['spin', 'sleep'] as const) {
    setHostWait(mode);
    const before = threadCpuMs();
    const started = performance.now();
    const timed = await gpu.time(() => {
      for (let i = 0; i < calls; i++) linear(x, w, { out: y });
    });
    const wallMs = performance.now() - started;
    const after = threadCpuMs();
    let mainMs = 0;
    let othersMs = 0;
    for (const [thread, ms] of after) {
      const spent = ms - (before.get(thread) ?? 0);
      if (thread === main) mainMs += spent;
      else othersMs += spent;
    }
    const perCall = timed.ns / 1e6 / calls;
    best[mode] = Math.min(best[mode], perCall);
    console.log(`  ${mode.padEnd(5)} ${formatMs(perCall).padStart(9)} a call (${formatGflops(2 * m * k * n, perCall)}), wall ${formatMs(wallMs)}; CPU: main thread ${mainMs} ms, other threads ${othersMs} ms`);
  }
}
setHostWait('sleep');
console.log(`best per call: spin ${formatMs(best.spin)}, sleep ${formatMs(best.sleep)}: sleeping is ${(best.spin / best.sleep).toFixed(2)}× as fast`);
process.exit(0);

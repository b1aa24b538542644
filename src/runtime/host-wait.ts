// How the Node process waits for the device.
//
// Dawn's Node binding learns that GPU work finished (onSubmittedWorkDone, mapAsync, async pipeline
// compiles) by polling: while any such promise is pending it reschedules its poll with setImmediate, so the
// main thread spins at 100 % of a core for the whole wait. On a hardware GPU that only wastes the core; on
// a CPU device (lavapipe, SwiftShader) the core is one the device's own threads were going to run on. On
// this project's 2-core machine, lavapipe running 40 GEMMs of 50×3072×768 in one 450 ms wait: the main
// thread took 400 ms of CPU, each of lavapipe's two threads 220 ms; with the poll on a timer after the
// first fraction of a millisecond, the same work took 250 ms and the main thread 20 ms
// (bench/model/host-wait.bench.ts).
//
// So the poll spins for SPIN_MS at the start of a wait (a short wait returns as fast as before), then
// naps NAP_MS between checks (Atomics.wait: a real sleep, not a spin, and far finer than a timer) until
// the wait has lasted NAP_PHASE_MS, and from then on checks once per timer tick (about a millisecond,
// a fraction of a percent of a wait that long). Only Dawn's poll is touched: it is the one callback that
// is an anonymous native function (a bound function is named "bound …", a built-in has its name); every
// other setImmediate goes straight through. GEOLENS_HOST_WAIT=spin, or setHostWait('spin'), restores
// Dawn's own spinning.

export type HostWait = 'sleep' | 'spin';

/** Spin this long at the start of each wait before sleeping between polls. */
const SPIN_MS = 0.25;
/** Then sleep this long between polls… */
const NAP_MS = 0.1;
/** …until the wait is this old; later polls wait for a timer tick. */
const NAP_PHASE_MS = 20;
/** A poll later than this after the previous one belongs to a new wait. */
const NEW_WAIT_GAP_MS = 4;

/**
 * One state per process, not per copy of this module: a process may load geolens twice (two bundles, or
 * the test runner's one bundle per file), and every copy must steer the one wrapper that is installed.
 */
interface HostWaitState {
  mode: HostWait;
  installed: boolean;
}

const STATE_KEY = Symbol.for('geolens.hostWait');

function state(): HostWaitState {
  const holder = globalThis as typeof globalThis & { [STATE_KEY]?: HostWaitState };
  return (holder[STATE_KEY] ??= { mode: 'sleep', installed: false });
}

/** Whether `callback` is Dawn's poll: an anonymous native function. */
function isDawnPoll(callback: unknown): boolean {
  return typeof callback === 'function' && callback.name === '' && Function.prototype.toString.call(callback).includes('[native code]');
}

/**
 * Makes Dawn's poll sleep between checks after the first SPIN_MS of a wait (Node only; call before the
 * first device is created, and again is harmless). $GEOLENS_HOST_WAIT=spin leaves Dawn spinning.
 */
export function installHostWait(): void {
  const shared = state();
  if (shared.installed || typeof setImmediate !== 'function') return;
  shared.installed = true;
  if (process.env.GEOLENS_HOST_WAIT === 'spin') shared.mode = 'spin';
  const immediate = globalThis.setImmediate;
  const napCell = new Int32Array(new SharedArrayBuffer(4));
  let waitStarted = -Infinity;
  let lastPoll = -Infinity;
  const wrapped = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (shared.mode === 'sleep' && isDawnPoll(callback)) {
      const now = performance.now();
      if (now - lastPoll > NEW_WAIT_GAP_MS) waitStarted = now;
      lastPoll = now;
      const waited = now - waitStarted;
      if (waited > NAP_PHASE_MS) return setTimeout(callback, 0, ...args) as unknown as NodeJS.Immediate;
      // Nothing ever notifies the cell: this only sleeps the thread for NAP_MS.
      if (waited > SPIN_MS) Atomics.wait(napCell, 0, 0, NAP_MS);
    }
    return immediate.call(this, callback, ...args);
  };
  // util.promisify(setImmediate) and friends read properties off the function itself.
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(immediate));
  globalThis.setImmediate = wrapped as typeof setImmediate;
}

/** Whether Dawn's poll sleeps after its first fraction of a millisecond ('sleep', the default) or spins. */
export function setHostWait(wait: HostWait): void {
  state().mode = wait;
}

export function hostWait(): HostWait {
  return state().mode;
}

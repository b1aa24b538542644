// One Node device of `npm run bench:peers`: geolens-work.ts in a child process whose GEOLENS_ADAPTER
// names the adapter, so lavapipe and SwiftShader each get a process (and a Dawn instance) of their own
// and a call past its time limit can be stopped by ending the process. Calls arrive over IPC as
// { id, fn, args } and are answered { id, result } or { id, error }.
import * as work from './geolens-work.js';

type Call = { id: number; fn: string; args: unknown[] };
const functions = work as unknown as Record<string, (...args: unknown[]) => unknown>;

process.on('message', (message: Call) => {
  const { id, fn, args } = message;
  Promise.resolve()
    .then(() => {
      if (typeof functions[fn] !== 'function') throw new Error(`no function ${fn} in geolens-work`);
      return functions[fn]!(...args);
    })
    .then(
      (result) => process.send!({ id, result: result ?? null }),
      (error: Error) => process.send!({ id, error: error?.message ?? String(error) }),
    );
});
// Dawn keeps the event loop alive: the parent ends this process (disconnect or a signal).
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });

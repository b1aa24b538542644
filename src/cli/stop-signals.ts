// How the long-running commands (`locate` over many images, `worker`) end on Ctrl-C or a service
// manager's SIGTERM: the first signal asks the run to stop (it returns within a few seconds, with what it
// wrote kept whole); a second one, or a run that does not come back in time, ends the process at once.
// Either way the exit status is 128 + the signal's number and stderr gets one line saying so.

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;
export type StopSignal = keyof typeof SIGNAL_NUMBERS;

/** Seconds a stopped run has to come back before the process ends regardless. */
const STOP_GRACE_MS = 10_000;

export interface StopSignals {
  /** Aborted on the first SIGINT / SIGTERM. */
  readonly signal: AbortSignal;
  /** The signal that stopped the run, or null. */
  readonly received: StopSignal | null;
  /** Resolves on the first signal. */
  readonly stopped: Promise<StopSignal>;
  /** Prints `geolens: <line>` and ends the process with the signal's status. */
  exit(line: string): never;
  /** `work` (loading a model: nothing to save yet), or, on a signal before it settles, the end of the process with `line`. */
  unlessStopped<T>(work: Promise<T>, line: (signal: StopSignal) => string): Promise<T>;
  /** Removes the handlers (the run ended by itself). */
  release(): void;
}

export function exitStatusOf(signal: StopSignal): number {
  return 128 + SIGNAL_NUMBERS[signal];
}

/** Installs the handlers; `lastWords` is the line printed if the grace period runs out or a second signal comes. */
export function catchStopSignals(lastWords: (signal: StopSignal) => string): StopSignals {
  const controller = new AbortController();
  let received: StopSignal | null = null;
  let resolveStopped: (signal: StopSignal) => void = () => {};
  const stopped = new Promise<StopSignal>((resolve) => (resolveStopped = resolve));
  const handlers = (Object.keys(SIGNAL_NUMBERS) as StopSignal[]).map((name) => {
    const handler = () => {
      if (received) exitNow(received, `${lastWords(received)} (second ${name}: stopped at once)`);
      received = name;
      controller.abort(new Error(`stopped by ${name}`));
      setTimeout(() => exitNow(name, `${lastWords(name)} (did not stop within ${STOP_GRACE_MS / 1000} s)`), STOP_GRACE_MS).unref();
      resolveStopped(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  const exitNow = (signal: StopSignal, line: string): never => {
    process.stderr.write(`geolens: ${line}\n`);
    process.exit(exitStatusOf(signal));
  };
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    stopped,
    exit: (line) => exitNow(received ?? 'SIGTERM', line),
    unlessStopped: <T>(work: Promise<T>, line: (signal: StopSignal) => string) => {
      let settled = false;
      const tracked = work.finally(() => (settled = true));
      return Promise.race([tracked, stopped.then((signal) => (settled ? new Promise<never>(() => {}) : exitNow(signal, line(signal))))]);
    },
    release: () => {
      for (const [name, handler] of handlers) process.off(name, handler);
    },
  };
}

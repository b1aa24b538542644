import { GeolensError } from './errors.js';

/** The caller's AbortSignal fired; work stopped between two steps and nothing was half-written. */
export class AbortError extends GeolensError {
  override name = 'AbortError';
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason = signal.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : '';
  throw new AbortError(`${what} aborted${why && !/aborted/i.test(why) ? `: ${why}` : ''}`);
}

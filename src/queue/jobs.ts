// Names shared by everything that talks to one geolens queue: job ids, Redis keys, the connection.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { isUrl } from '../batch/inputs.js';
import { GeolensError } from '../runtime/errors.js';

export const DEFAULT_QUEUE = 'geolens';
export const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

export interface QueueConnection {
  /** `redis://[user:password@]host:port[/db]` or a connected ioredis client (default $GEOLENS_REDIS or redis://127.0.0.1:6379). */
  redis?: string | Redis;
  /** Queue name, so several collections can share one Redis (default 'geolens'). */
  queue?: string;
}

/** What a job carries: where the image is. Workers on other machines need the same path (shared storage) or a URL. */
export interface ImageJob {
  image: string;
}

/** How an image is named across machines: URLs as given, paths made absolute. */
export function imageLocation(input: string): string {
  return isUrl(input) ? input : resolve(input);
}

/** The same image always gets the same job id, so adding it again is a no-op. */
export function jobId(location: string): string {
  return 'img-' + createHash('sha256').update(location).digest('hex').slice(0, 40);
}

export function resultKeys(queue: string): { results: string; errors: string } {
  return { results: `geolens:${queue}:results`, errors: `geolens:${queue}:errors` };
}

/**
 * A client BullMQ can share (blocking commands need maxRetriesPerRequest: null), and whether we own it.
 * A Redis that does not answer within `timeoutMs` is an error naming the URL, not a hang; once connected,
 * the client reconnects by itself (a worker outlives a Redis restart).
 */
export async function connect(connection: QueueConnection, timeoutMs = 10_000): Promise<{ redis: Redis; owned: boolean; queue: string }> {
  const queue = connection.queue ?? DEFAULT_QUEUE;
  if (connection.redis instanceof Redis) return { redis: connection.redis, owned: false, queue };
  const url = connection.redis ?? process.env.GEOLENS_REDIS ?? DEFAULT_REDIS;
  if (!/^rediss?:\/\//.test(url)) throw new GeolensError(`--redis '${url}' is not a redis:// or rediss:// URL`);
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
  let lastError = 'no answer';
  const onError = (error: Error) => (lastError = error.message || (error as NodeJS.ErrnoException).code || String(error));
  redis.on('error', onError);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), timeoutMs))),
    ]);
  } catch {
    redis.disconnect();
    throw new GeolensError(`cannot reach Redis at ${url.replace(/\/\/[^@/]*@/, '//…@')} within ${timeoutMs / 1000} s (${lastError})`);
  } finally {
    clearTimeout(timer);
  }
  return { redis, owned: true, queue };
}

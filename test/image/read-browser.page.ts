// Browser side of read-browser.test.ts: readImage() on URL strings in Chromium, against the misbehaving
// server named in the page's query (?hostile=http://127.0.0.1:port).
import { readImage } from '../../src/image/read.js';

declare global {
  interface Window {
    readResult?: Record<string, { message?: string; ms: number; size?: number[] }> | { error: string };
  }
}

const hostile = new URLSearchParams(location.search).get('hostile')!;

async function attempt(path: string, options: Parameters<typeof readImage>[1] = {}): Promise<{ message?: string; ms: number; size?: number[] }> {
  const started = performance.now();
  try {
    const image = await readImage(`${hostile}${path}`, options);
    return { ms: performance.now() - started, size: [image.width, image.height] };
  } catch (error) {
    return { message: `${(error as Error).name}: ${(error as Error).message}`, ms: performance.now() - started };
  }
}

async function run() {
  return {
    good: await attempt('/good.png'),
    trickle: await attempt('/trickle.png', { idleTimeoutMs: 1000 }),
    huge: await attempt('/huge.png'),
    endless: await attempt('/endless.png', { maxUrlBytes: 4 << 20 }),
    silent: await attempt('/silent.png', { connectTimeoutMs: 500 }),
    missing: await attempt('/missing.png'),
  };
}

run().then(
  (result) => (window.readResult = result),
  (error: Error) => (window.readResult = { error: `${error.name}: ${error.message}` }),
);

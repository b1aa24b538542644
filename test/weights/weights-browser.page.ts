// Runs in headless Chromium (see browser.test.ts): the browser bundle of src/weights reads fixtures over
// HTTP with Range requests, and downloads through the Cache API with sha256 checks and offline mode.
import { downloadWeights, openWeights, type RangedWeightSource } from '../../src/weights/index.js';

export interface WeightsBrowserResult {
  /** file → tensor → float32 bytes in base64. */
  files: Record<string, Record<string, string>>;
  cachedTensors: string[];
  offlineTensors: string[];
  wrongSha: string;
  offlineMissing: string;
  rangeRequests: boolean;
  /** Per captive-portal URL: the download's error, and whether the Cache API holds anything for it after. */
  portal: Record<string, { error: string; cached: boolean }>;
}

declare global {
  interface Window {
    weightsResult?: WeightsBrowserResult | { error: string };
  }
}

async function dump(source: RangedWeightSource): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of source.tensors.keys()) {
    const values = await source.readF32(name);
    let text = '';
    for (const byte of new Uint8Array(values.buffer)) text += String.fromCharCode(byte);
    out[name] = btoa(text);
  }
  await source.close();
  return out;
}

async function message(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
    return 'no error';
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

async function run(): Promise<WeightsBrowserResult> {
  const base = `${location.origin}/fixtures`;
  const files: Record<string, Record<string, string>> = {};
  for (const file of ['mixed.safetensors', 'halves.safetensors', 'mixed.pth', 'mixed_zip64.pth']) {
    files[file] = await dump(await openWeights(`${base}/${file}`, { prefixBytes: 64 }));
  }
  const sha = (await (await fetch(`${location.origin}/sha256`)).text()).trim();
  await caches.delete('geolens-test');
  const wrongSha = await message(() => downloadWeights(`${base}/mixed.safetensors`, { cacheName: 'geolens-test', sha256: '0'.repeat(64) }));
  const blob = await downloadWeights(`${base}/mixed.safetensors`, { cacheName: 'geolens-test', sha256: sha });
  const cached = await openWeights(blob as Blob);
  const cachedTensors = [...cached.tensors.keys()];
  const offline = await openWeights(`${location.origin}/not-served/mixed.safetensors`, { cacheName: 'geolens-test', offline: true }).catch(() => null);
  const fromCache = await openWeights(`${base}/mixed.safetensors`, { cacheName: 'geolens-test', offline: true, sha256: sha });
  // A captive portal's sign-in page served for weights and for a config, as a hotel Wi-Fi does.
  const portal: WeightsBrowserResult['portal'] = {};
  const cache = await caches.open('geolens-test');
  for (const file of ['model.safetensors', 'config.json']) {
    const url = `${location.origin}/portal/${file}`;
    portal[file] = { error: await message(() => downloadWeights(url, { cacheName: 'geolens-test' })), cached: (await cache.match(url)) !== undefined };
  }
  return {
    files,
    cachedTensors,
    offlineTensors: [...fromCache.tensors.keys()],
    wrongSha,
    offlineMissing: offline === null ? await message(() => openWeights(`${location.origin}/not-served/mixed.safetensors`, { cacheName: 'geolens-test', offline: true })) : 'loaded',
    rangeRequests: true,
    portal,
  };
}

run().then(
  (result) => (window.weightsResult = result),
  (error) => (window.weightsResult = { error: `${(error as Error).name}: ${(error as Error).message}\n${(error as Error).stack}` }),
);

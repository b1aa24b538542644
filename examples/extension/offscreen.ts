// The offscreen document: one geolens worker (examples/browser/worker.ts) with the models loaded once and
// kept; every page's request is answered from it. New options reload the models; nothing else does.
import type { FromWorker, ToWorker } from '../browser/protocol.js';
import { toWeightSettings, type OffscreenStatus, type StoredSettings, type ToOffscreen, type ToPage, type WireResult } from './messages.js';

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (message: ToWorker) => worker.postMessage(message);
const tell = (message: ToPage) => void chrome.runtime.sendMessage(message).catch(() => {});

const status: OffscreenStatus = { loads: 0, ready: false, adapter: '', loadMs: 0, galleryFromCache: false, error: null, sizes: [], last: null };
const requests = new Map<number, { requestId: string; src: string }>();
let nextId = 0;
// Resolves once the worker has the load request: a locate sent after it is queued behind it.
let loadSent: Promise<void> = Promise.resolve();

async function load(): Promise<void> {
  status.ready = false;
  status.error = null;
  // Offscreen documents may use chrome.runtime only: the service worker reads the stored options for us.
  const settings = (await chrome.runtime.sendMessage({ target: 'background', type: 'settings' })) as StoredSettings;
  send({ type: 'load', settings: toWeightSettings(settings) });
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'sizes':
      status.sizes = message.files;
      tell({ target: 'page', type: 'sizes', files: message.files });
      break;
    case 'progress':
      tell({ target: 'page', type: 'progress', progress: message.progress });
      break;
    case 'ready':
      Object.assign(status, { ready: true, loads: status.loads + 1, adapter: message.adapter, loadMs: message.loadMs, galleryFromCache: message.galleryFromCache });
      break;
    case 'load-error':
      status.error = message.message;
      tell({ target: 'page', type: 'error', requestId: null, message: `could not load the models: ${message.message}` });
      break;
    case 'result': {
      const request = requests.get(message.id);
      requests.delete(message.id);
      const { heatmap, ...rest } = message.result;
      const result: WireResult = { ...rest, ...(heatmap ? { heatmap: { width: heatmap.width, height: heatmap.height, values: Array.from(heatmap.values) } } : {}) };
      status.last = { src: request?.src ?? '', result, ms: message.ms };
      tell({ target: 'page', type: 'result', requestId: request?.requestId ?? '', result, ms: message.ms, status });
      break;
    }
    case 'locate-error': {
      const request = requests.get(message.id);
      requests.delete(message.id);
      tell({ target: 'page', type: 'error', requestId: request?.requestId ?? null, message: message.message });
      break;
    }
  }
};

chrome.runtime.onMessage.addListener((message: ToOffscreen, _sender, reply) => {
  if (message.target !== 'offscreen') return undefined;
  if (message.type === 'reload') {
    loadSent = load();
    return undefined;
  }
  if (message.type === 'status') {
    reply(status);
    return undefined;
  }
  if (message.type === 'locate') {
    void (async () => {
      try {
        // Extension pages may read any origin (host permission), so the photo is fetched here, once.
        const response = await fetch(message.src);
        if (!response.ok) throw new Error(`could not fetch the image (HTTP ${response.status})`);
        await loadSent;
        const id = nextId++;
        requests.set(id, { requestId: message.requestId, src: message.src });
        send({ type: 'locate', id, image: await response.blob() });
      } catch (error) {
        tell({ target: 'page', type: 'error', requestId: message.requestId, message: (error as Error).message });
      }
    })();
    reply({ accepted: true });
  }
  return undefined;
});

loadSent = load();

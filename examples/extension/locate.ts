// The answer page (a tab after a right-click, or the toolbar popup showing the last answer): asks the
// offscreen document, which holds the loaded models, and draws the map, names and concepts it sends back.
import type { LocateResult } from '../../src/api/index.js';
import { DownloadBars, showResult, STYLES } from '../browser/view.js';
import type { OffscreenStatus, ToOffscreen, ToPage, WireResult } from './messages.js';

document.getElementById('shared-styles')!.textContent = STYLES;
const source = new URLSearchParams(location.search).get('src');
const status = document.getElementById('status')!;
const timings = document.getElementById('timings')!;
const bars = new DownloadBars(document.getElementById('downloads')!);
const requestId = `${Date.now()}-${Math.random().toString(36).slice(2)}`;

function show(result: WireResult, ms: number, state: OffscreenStatus): void {
  const full: LocateResult = { ...result, heatmap: result.heatmap && { ...result.heatmap, values: Float32Array.from(result.heatmap.values) } };
  showResult(full, { map: document.getElementById('map')!, places: document.getElementById('places')!, concepts: document.getElementById('concepts')! });
  const best = result.places[0]?.name;
  status.textContent = best ? `Most likely near ${best.city}, ${best.country}.` : 'Most likely places:';
  timings.textContent = `Adapter: ${state.adapter} · models loaded ${state.loads === 1 ? 'once' : `${state.loads} times`} (${(state.loadMs / 1000).toFixed(1)} s) · located in ${(ms / 1000).toFixed(2)} s`;
  document.body.dataset.loads = String(state.loads);
  document.body.dataset.done = 'true';
}

chrome.runtime.onMessage.addListener((message: ToPage) => {
  if (message.target !== 'page') return;
  if (message.type === 'sizes') bars.sizes(message.files);
  else if (message.type === 'progress') {
    bars.progress(message.progress);
    status.textContent = `${message.progress.stage}: ${message.progress.what}`;
  } else if (message.type === 'result' && message.requestId === requestId) {
    bars.finish();
    show(message.result, message.ms, message.status);
  } else if (message.type === 'error' && (message.requestId === requestId || message.requestId === null)) {
    status.textContent = `Error: ${message.message}`;
  }
});

async function main(): Promise<void> {
  await chrome.runtime.sendMessage({ target: 'background', type: 'ensure-offscreen' });
  const state = (await chrome.runtime.sendMessage({ target: 'offscreen', type: 'status' } satisfies ToOffscreen)) as OffscreenStatus;
  if (state.sizes.length > 0 && !state.ready) bars.sizes(state.sizes);
  if (!source) {
    if (state.last) {
      (document.getElementById('photo') as HTMLImageElement).src = state.last.src;
      show(state.last.result, state.last.ms, state);
    } else {
      status.textContent = 'Right-click an image and choose “Where was this photo taken?”.';
    }
    return;
  }
  (document.getElementById('photo') as HTMLImageElement).src = source;
  status.textContent = state.ready ? 'Locating…' : 'Loading the models (kept for the next photo)…';
  await chrome.runtime.sendMessage({ target: 'offscreen', type: 'locate', requestId, src: source } satisfies ToOffscreen);
}

main().catch((error: Error) => (status.textContent = `Error: ${error.message}`));

// Browser demo: geolens runs in a Web Worker (worker.ts); this page only shows what it reports. Weight
// locations come from the "Model files" panel (URLs, or files dropped onto a row), remembered in
// localStorage; query parameters fill the panel and load at once:
//   ?clip=<safetensors URL>&clipConfig=<config.json URL>&geoclip=<safetensors URL>&gallery=<CSV URL>&concepts=<bank URL>&f16=1
import type { LocateResult } from '../../src/api/index.js';
import type { FromWorker, LocateRequestOptions, ToWorker, WeightSettings } from './protocol.js';
import { DownloadBars, showResult, STYLES } from './view.js';

const FIELDS = ['clip', 'clipConfig', 'geoclip', 'gallery', 'concepts'] as const;
type Field = (typeof FIELDS)[number];

const element = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
document.getElementById('shared-styles')!.textContent = STYLES;
const status = element('status');
const timings = element('timings');
const photo = element<HTMLImageElement>('photo');
const bars = new DownloadBars(element('downloads'));
const dropped: Partial<Record<Field, File>> = {};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (message: ToWorker) => worker.postMessage(message);

let adapter = '';
let loadText = '';
let nextId = 0;
const pending = new Map<number, { resolve: (r: LocateResult) => void; reject: (e: Error) => void }>();
let ready: Promise<void> = Promise.reject(new Error('no models loaded yet: open “Model files” and press Load'));
ready.catch(() => {});
let markReady: { resolve: () => void; reject: (e: Error) => void } | null = null;

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'sizes':
      bars.sizes(message.files);
      break;
    case 'progress': {
      const p = message.progress;
      bars.progress(p);
      const share = p.total ? ` ${Math.round((100 * p.done) / p.total)}%` : '';
      status.textContent = `${p.stage}: ${p.what}${share}`;
      break;
    }
    case 'ready':
      bars.finish();
      adapter = message.adapter;
      loadText = `loaded in ${(message.loadMs / 1000).toFixed(1)} s${message.galleryFromCache ? ' (gallery from cache)' : ''}`;
      status.textContent = `Ready (${adapter}). Drop a photo.`;
      timings.textContent = `Adapter: ${adapter} · models ${loadText}${message.concepts ? ' · concepts loaded' : ''}`;
      markReady?.resolve();
      break;
    case 'load-error':
      status.textContent = `Could not load: ${message.message}`;
      markReady?.reject(new Error(message.message));
      break;
    case 'result':
    case 'locate-error': {
      const job = pending.get(message.id);
      pending.delete(message.id);
      if (message.type === 'result') {
        timings.textContent = `Adapter: ${adapter} · models ${loadText} · located in ${(message.ms / 1000).toFixed(2)} s`;
        job?.resolve(message.result);
      } else {
        job?.reject(new Error(message.message));
      }
      break;
    }
  }
};

function settings(): WeightSettings {
  const out: WeightSettings = { f16: element<HTMLInputElement>('f16').checked };
  for (const field of FIELDS) {
    const file = dropped[field];
    const url = element<HTMLInputElement>(field).value.trim();
    if (file) out[field] = file;
    else if (url) out[field] = new URL(url, location.href).href;
  }
  return out;
}

function load(): void {
  const chosen = settings();
  localStorage.setItem('geolens-settings', JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, element<HTMLInputElement>(f).value]))));
  status.textContent = 'Loading models…';
  ready = new Promise<void>((resolve, reject) => (markReady = { resolve, reject }));
  ready.catch(() => {});
  send({ type: 'load', settings: chosen });
}

async function locate(image: Blob, options?: LocateRequestOptions): Promise<LocateResult> {
  await ready;
  photo.src = URL.createObjectURL(image);
  status.textContent = 'Locating…';
  const id = nextId++;
  const result = await new Promise<LocateResult>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ type: 'locate', id, image, options });
  });
  status.textContent = `Done: ${result.places[0]?.name ? `most likely near ${result.places[0].name.city}, ${result.places[0].name.country}` : 'see the map'}.`;
  showResult(result, { map: element('map'), places: element('places'), concepts: element('concepts') });
  (window as unknown as { geolensLastResult: LocateResult }).geolensLastResult = result;
  return result;
}

const fail = (error: Error) => (status.textContent = `Error: ${error.message}`);

// Files dropped onto a settings row become that row's weights; elsewhere on the page, a photo to locate.
for (const field of FIELDS) {
  const row = element<HTMLInputElement>(field).parentElement!;
  row.addEventListener('dragover', (event) => {
    event.preventDefault();
    row.classList.add('dragover');
  });
  row.addEventListener('dragleave', () => row.classList.remove('dragover'));
  row.addEventListener('drop', (event) => {
    event.preventDefault();
    event.stopPropagation();
    row.classList.remove('dragover');
    const file = event.dataTransfer?.files[0];
    if (!file) return;
    dropped[field] = file;
    row.querySelector('.dropped')!.textContent = `${file.name} (local)`;
  });
}
const drop = element('drop');
document.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('dragover');
});
document.addEventListener('dragleave', () => drop.classList.remove('dragover'));
document.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('dragover');
  const file = event.dataTransfer?.files[0];
  if (file) locate(file).catch(fail);
});
element<HTMLInputElement>('file').addEventListener('change', (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) locate(file).catch(fail);
});
element('load').addEventListener('click', load);

const params = new URLSearchParams(location.search);
const saved = JSON.parse(localStorage.getItem('geolens-settings') ?? '{}') as Partial<Record<Field, string>>;
for (const field of FIELDS) element<HTMLInputElement>(field).value = params.get(field) ?? saved[field] ?? '';
if (params.get('f16')) element<HTMLInputElement>('f16').checked = true;
if (FIELDS.some((f) => params.has(f))) load();

// Lets tests (and other pages) drive the demo without a file dialog.
(window as unknown as { geolensLocate: (bytes: Uint8Array, options?: LocateRequestOptions) => Promise<LocateResult> }).geolensLocate = (bytes, options) =>
  locate(new Blob([bytes.slice()], { type: 'image/png' }), options);

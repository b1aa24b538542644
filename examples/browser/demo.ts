// Browser demo: pick a photo, see GeoCLIP's top places. Weights come from the hub by default (cached in
// the Cache API after the first visit); query parameters point it elsewhere:
//   ?clip=<safetensors URL>&clipConfig=<config.json URL>&geoclip=<safetensors URL>&gallery=<CSV URL>&concepts=<bank URL>
import { GeoLocator, type GeoLocatorOptions, type LocateResult } from '../../src/api/index.js';

const params = new URLSearchParams(location.search);
const status = document.getElementById('status')!;
const placesList = document.getElementById('places')!;
const conceptsLine = document.getElementById('concepts')!;
const photo = document.getElementById('photo') as HTMLImageElement;
const fileInput = document.getElementById('file') as HTMLInputElement;

function options(): GeoLocatorOptions {
  const absolute = (value: string | null) => (value ? new URL(value, location.href).href : undefined);
  const opts: GeoLocatorOptions = {
    clipWeights: absolute(params.get('clip')),
    clipConfig: absolute(params.get('clipConfig')),
    geoclipWeights: absolute(params.get('geoclip')),
    gallery: absolute(params.get('gallery')),
    dtype: params.get('f16') ? 'f16' : 'f32',
    onProgress: (p) => {
      const share = p.total ? ` ${Math.round((100 * p.done) / p.total)}%` : '';
      status.textContent = `${p.stage}: ${p.what}${share}`;
    },
  };
  const concepts = absolute(params.get('concepts'));
  if (concepts) opts.concepts = { bank: concepts };
  return opts;
}

function show(result: LocateResult): void {
  placesList.replaceChildren(
    ...result.places.map((place) => {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = `https://www.openstreetmap.org/?mlat=${place.lat}&mlon=${place.lon}#map=9/${place.lat}/${place.lon}`;
      link.textContent = `${place.lat.toFixed(4)}, ${place.lon.toFixed(4)}`;
      item.append(link, ` — ${(place.probability * 100).toFixed(2)}%`);
      if (place.concepts) item.append(` (because: ${place.concepts.agreement.slice(0, 3).map((a) => a.name).join(', ')})`);
      return item;
    }),
  );
  conceptsLine.textContent = result.imageConcepts ? `Looks like: ${result.imageConcepts.slice(0, 5).map((c) => c.name).join(', ')}` : '';
}

const ready = GeoLocator.create(options()).then(
  (locator) => {
    status.textContent = `Ready (${locator.gpu.adapterName}). Pick a photo.`;
    return locator;
  },
  (error: Error) => {
    status.textContent = `Could not load: ${error.message}`;
    throw error;
  },
);

async function locateFile(file: Blob): Promise<LocateResult> {
  const locator = await ready;
  photo.src = URL.createObjectURL(file);
  status.textContent = 'Locating…';
  const started = performance.now();
  const [result] = await locator.locate(file, { topK: Number(params.get('k') ?? 5) });
  status.textContent = `Done in ${((performance.now() - started) / 1000).toFixed(1)} s.`;
  show(result!);
  return result!;
}

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) locateFile(file).catch((error: Error) => (status.textContent = `Error: ${error.message}`));
});

// Lets tests (and other pages) drive the demo without a file dialog.
(window as unknown as { geolensLocate: (bytes: Uint8Array) => Promise<LocateResult> }).geolensLocate = (bytes) => locateFile(new Blob([bytes.slice()]));

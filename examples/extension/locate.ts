// The extension page: fetches the image the user right-clicked (host permission lets it read any
// origin), runs geolens on it, and lists the likely places with map links.
import { GeoLocator } from '../../src/api/index.js';

const source = new URLSearchParams(location.search).get('src');
const status = document.getElementById('status')!;
const list = document.getElementById('places')!;

async function main(): Promise<void> {
  if (!source) throw new Error('no image given');
  (document.getElementById('photo') as HTMLImageElement).src = source;
  const response = await fetch(source);
  if (!response.ok) throw new Error(`could not fetch the image (HTTP ${response.status})`);
  const image = await response.blob();
  const locator = await GeoLocator.create({
    onProgress: (p) => (status.textContent = `${p.stage}: ${p.what}${p.total ? ` ${Math.round((100 * p.done) / p.total)}%` : ''}`),
  });
  status.textContent = 'Locating…';
  const [result] = await locator.locate(image, { topK: 5 });
  status.textContent = `Most likely places (${locator.gpu.adapterName}):`;
  for (const place of result!.places) {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = `https://www.openstreetmap.org/?mlat=${place.lat}&mlon=${place.lon}#map=9/${place.lat}/${place.lon}`;
    link.target = '_blank';
    link.textContent = `${place.lat.toFixed(4)}, ${place.lon.toFixed(4)}`;
    item.append(link, ` — ${(place.probability * 100).toFixed(2)}%`);
    list.append(item);
  }
}

main().catch((error: Error) => (status.textContent = `Error: ${error.message}`));

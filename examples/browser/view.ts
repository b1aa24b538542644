// What the demo page and the extension's panel show: download bars, the world map with heat map and
// markers, the named places and the image's concept bars. DOM only; the numbers come from the worker.
import type { Topology } from 'topojson-specification';
import countries110m from 'world-atlas/countries-110m.json';
import type { LoadProgress, LocateResult } from '../../src/api/index.js';
import { placeLabel, renderMapSvg } from '../../src/geo/map-svg.js';
import type { FileSize } from './protocol.js';

export const COUNTRIES = countries110m as unknown as Topology;

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** One bar per file, created when its size is known (before any byte moves) and advanced by progress events. */
export class DownloadBars {
  private readonly rows = new Map<string, { bar: HTMLProgressElement; text: HTMLElement; total: number | null }>();

  constructor(private readonly container: HTMLElement) {}

  sizes(files: FileSize[]): void {
    this.container.replaceChildren();
    this.rows.clear();
    const known = files.reduce((sum, f) => sum + (f.bytes ?? 0), 0);
    const summary = document.createElement('div');
    summary.className = 'total';
    summary.textContent = `${files.length} files, ${formatBytes(known)}${files.some((f) => f.bytes === null) ? ' + unknown' : ''} in all`;
    this.container.append(summary);
    for (const file of files) this.row(absolute(file.what), file.bytes);
  }

  progress(p: LoadProgress): void {
    if (p.stage !== 'download' && p.stage !== 'gallery') return;
    const row = this.row(p.stage === 'download' ? absolute(p.what) : p.what, p.total);
    row.total = p.total ?? row.total;
    row.bar.max = row.total ?? 1;
    row.bar.value = Math.min(p.done, row.bar.max);
    row.text.textContent = p.stage === 'download' ? `${formatBytes(p.done)} / ${row.total === null ? '?' : formatBytes(row.total)}` : `${p.done} / ${p.total ?? '?'} points`;
  }

  /** A file that was served from the cache never reports progress: mark everything done. */
  finish(): void {
    for (const row of this.rows.values()) {
      if (row.total !== null && row.bar.value < row.total) {
        row.bar.value = row.bar.max;
        row.text.textContent = `${formatBytes(row.total)} (cached)`;
      }
    }
  }

  private row(what: string, total: number | null) {
    let row = this.rows.get(what);
    if (row) return row;
    const line = document.createElement('div');
    line.className = 'file';
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = what.split('/').pop() || what;
    label.title = what;
    const bar = document.createElement('progress');
    bar.max = total ?? 1;
    bar.value = 0;
    const text = document.createElement('span');
    text.className = 'bytes';
    text.textContent = total === null ? '?' : `0 B / ${formatBytes(total)}`;
    line.append(label, bar, text);
    this.container.append(line);
    row = { bar, text, total };
    this.rows.set(what, row);
    return row;
  }
}

function absolute(what: string): string {
  try {
    return new URL(what, location.href).href;
  } catch {
    return what;
  }
}

/** The map (inline SVG), the place list and, when a concept bank is loaded, the image's concept bars. */
export function showResult(result: LocateResult, target: { map: HTMLElement; places: HTMLElement; concepts: HTMLElement }): void {
  target.map.innerHTML = renderMapSvg({ heatmap: result.heatmap, places: result.places, countries: COUNTRIES, width: 960 });
  const svg = target.map.querySelector('svg');
  svg?.setAttribute('width', '100%');
  svg?.removeAttribute('height');
  target.places.replaceChildren(
    ...result.places.map((place) => {
      const item = document.createElement('li');
      const name = document.createElement('strong');
      name.textContent = place.name ? [place.name.city, place.name.region, place.name.country].filter(Boolean).join(', ') : placeLabel(undefined, place.lat, place.lon);
      const detail = document.createElement('span');
      detail.className = 'detail';
      const rows = place.members && place.members.length > 1 ? `, ${place.members.length} gallery points` : '';
      const distance = place.name ? `${place.name.cityDistanceKm.toFixed(1)} km from the town, ` : '';
      detail.textContent = ` ${(place.probability * 100).toFixed(1)}% — ${distance}${place.lat.toFixed(3)}, ${place.lon.toFixed(3)}${rows}`;
      item.append(name, detail);
      if (place.concepts) item.append(` (because: ${place.concepts.agreement.slice(0, 3).map((a) => a.name).join(', ')})`);
      return item;
    }),
  );
  const concepts = result.imageConcepts ?? [];
  const top = concepts.slice(0, 8);
  const max = Math.max(1e-9, ...top.map((c) => c.probability));
  const heading = document.createElement('h3');
  heading.textContent = 'Looks like';
  target.concepts.replaceChildren(
    ...(top.length > 0 ? [heading] : []),
    ...top.map((concept) => {
      const row = document.createElement('div');
      row.className = 'concept';
      const label = document.createElement('span');
      label.textContent = concept.name;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${(100 * concept.probability) / max}%`;
      const value = document.createElement('span');
      value.className = 'value';
      value.textContent = `${(concept.probability * 100).toFixed(1)}%`;
      const track = document.createElement('span');
      track.className = 'track';
      track.append(bar);
      row.append(label, track, value);
      return row;
    }),
  );
}

/** Page styles shared by the demo and the extension panel. */
export const STYLES = `
  .downloads .file { display: grid; grid-template-columns: 14rem 1fr 9rem; gap: .5rem; align-items: center; font-size: 85%; }
  .downloads .file .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .downloads progress { width: 100%; } .downloads .total { font-size: 85%; color: #555; margin-bottom: .2rem; }
  .map svg { display: block; border: 1px solid #ccc; border-radius: 4px; }
  ol.places li { margin: .25rem 0; } ol.places .detail { color: #555; }
  .concept { display: grid; grid-template-columns: minmax(5rem, 1fr) 5rem 3.2rem; gap: .5rem; align-items: center; font-size: 90%; }
  .concept .track { background: #eee; border-radius: 3px; height: .8rem; } .concept .bar { display: block; height: 100%; background: #3a7bd5; border-radius: 3px; }
`;

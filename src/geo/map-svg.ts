import { geoEquirectangular, geoPath } from 'd3-geo';
import { feature, mesh } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import type { Heatmap } from './heatmap.js';
import type { PlaceName } from './names.js';

/** What a map shows: the heat map (optional) and the places as numbered markers with their names. */
export interface MapContent {
  heatmap?: Heatmap;
  places: { lat: number; lon: number; probability: number; name?: PlaceName }[];
  /** world-atlas' countries topology (countries-110m.json or finer). */
  countries: Topology;
  /** Pixels; the height defaults to half the width (equirectangular). */
  width?: number;
  height?: number;
}

/** "Līhuʻe, Hawaii, US" — the short label a marker or a list line carries. */
export function placeLabel(name: PlaceName | undefined, lat: number, lon: number): string {
  if (!name) return `${Math.abs(lat).toFixed(2)}°${lat >= 0 ? 'N' : 'S'} ${Math.abs(lon).toFixed(2)}°${lon >= 0 ? 'E' : 'W'}`;
  return [name.city, name.region, name.countryCode].filter(Boolean).join(', ');
}

/** Heat colour for t in [0, 1]: transparent yellow through orange to opaque dark red. */
export function heatColor(t: number): { rgb: string; alpha: number } {
  const r = Math.round(255 - 90 * t);
  const g = Math.round(220 * (1 - t) ** 1.4);
  const b = Math.round(60 * (1 - t));
  return { rgb: `rgb(${r},${g},${b})`, alpha: 0.25 + 0.7 * t };
}

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * A standalone SVG world map (equirectangular, so heat-map cells are plain rectangles): country shapes and
 * borders from world-atlas, the heat map as cells coloured by √(mass / max) (cells under 0.1% of the
 * maximum left out), the places as numbered markers with name and probability. Works in Node and browsers.
 */
export function renderMapSvg(content: MapContent): string {
  const width = content.width ?? 1440;
  const height = content.height ?? Math.round(width / 2);
  const projection = geoEquirectangular().scale(width / (2 * Math.PI)).translate([width / 2, height / 2]);
  const path = geoPath(projection);
  const object = content.countries.objects.countries as GeometryCollection;
  const land = path(feature(content.countries, object)) ?? '';
  const borders = path(mesh(content.countries, object, (a, b) => a !== b)) ?? '';
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#dbe8f2"/>`,
    `<path d="${land}" fill="#f4f1ea" stroke="none"/>`,
  ];
  const map = content.heatmap;
  if (map) {
    let max = 0;
    for (const v of map.values) max = Math.max(max, v);
    const cellW = width / map.width;
    const cellH = height / map.height;
    parts.push('<g shape-rendering="crispEdges">');
    for (let row = 0; row < map.height; row++) {
      for (let col = 0; col < map.width; col++) {
        const v = map.values[row * map.width + col]!;
        if (max === 0 || v < max * 1e-3) continue;
        const { rgb, alpha } = heatColor(Math.sqrt(v / max));
        parts.push(`<rect x="${(col * cellW).toFixed(2)}" y="${(row * cellH).toFixed(2)}" width="${cellW.toFixed(2)}" height="${cellH.toFixed(2)}" fill="${rgb}" fill-opacity="${alpha.toFixed(3)}"/>`);
      }
    }
    parts.push('</g>');
  }
  parts.push(`<path d="${borders}" fill="none" stroke="#8b8b8b" stroke-width="0.6"/>`);
  // Markers carry their rank; the names sit in a legend, so clustered markers never hide each other's labels.
  const fontSize = Math.max(10, Math.round(width / 90));
  const radius = fontSize * 0.7;
  [...content.places].reverse().forEach((place, reversed) => {
    const rank = content.places.length - reversed;
    const [x, y] = projection([place.lon, place.lat])!;
    parts.push(
      `<g class="marker"><circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${radius.toFixed(1)}" fill="#1f5fbf" stroke="#fff" stroke-width="1.5"/>`,
      `<text x="${x.toFixed(1)}" y="${(y + fontSize * 0.35).toFixed(1)}" font-size="${fontSize}" text-anchor="middle" fill="#fff">${rank}</text></g>`,
    );
  });
  if (content.places.length > 0) {
    const lines = content.places.map((place, i) => `${i + 1}. ${placeLabel(place.name, place.lat, place.lon)} — ${(place.probability * 100).toFixed(1)}%`);
    const boxW = Math.max(...lines.map((l) => l.length)) * fontSize * 0.58 + fontSize;
    const boxH = lines.length * fontSize * 1.3 + fontSize * 0.6;
    parts.push(`<g class="legend"><rect x="${fontSize}" y="${height - boxH - fontSize}" width="${boxW.toFixed(1)}" height="${boxH.toFixed(1)}" rx="4" fill="#fff" fill-opacity="0.85" stroke="#999"/>`);
    lines.forEach((line, i) => {
      parts.push(`<text x="${fontSize * 1.5}" y="${(height - boxH - fontSize + fontSize * (1.3 * i + 1.3)).toFixed(1)}" font-size="${fontSize}" fill="#10213a">${escape(line)}</text>`);
    });
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('\n');
}

// What `geolens locate` adds on top of the raw search: merged, named places and a map file.
import { InvalidArgumentError, type Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { LocateOptions, LocateResult } from '../../api/geolocator.js';
import { DEFAULT_MERGE_KM } from '../../geo/merge.js';
import { placeLabel, renderMapSvg } from '../../geo/map-svg.js';
import { GeolensError } from '../../runtime/errors.js';

export interface PlaceFlags {
  mergeKm: number;
  merge: boolean;
  names: boolean;
  map?: string;
  mapGrid: { width: number; height: number };
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`'${value}' is not a distance in km (a number ≥ 0)`);
  return n;
}

function grid(value: string): { width: number; height: number } {
  const match = /^(\d+)x(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`'${value}' is not a grid size like 360x180`);
  return { width: Number(match[1]), height: Number(match[2]) };
}

/** How places are reported (merged, named): the same flags for `locate` and `worker`, so their lines match. */
export function mergeOptions(command: Command): Command {
  return command
    .option('--merge-km <km>', 'merge gallery hits within this great-circle radius into one place', nonNegative, DEFAULT_MERGE_KM)
    .option('--no-merge', 'list raw gallery rows, unmerged')
    .option('--no-names', 'skip place names (country, region, nearest town)');
}

/** The LocateOptions of mergeOptions' flags. */
export function mergeFromFlags(flags: Pick<PlaceFlags, 'merge' | 'mergeKm' | 'names'>): Pick<LocateOptions, 'mergeKm' | 'names'> {
  return { mergeKm: flags.merge ? flags.mergeKm : undefined, names: flags.names };
}

export function placeOptions(command: Command): Command {
  return mergeOptions(command)
    .option('--map <file>', 'draw the probability heat map and the places on a world map (.png or .svg)')
    .option('--map-grid <WxH>', 'heat-map cells (equirectangular)', grid, { width: 360, height: 180 });
}

export function locateOptionsFor(flags: PlaceFlags): Pick<LocateOptions, 'mergeKm' | 'names' | 'heatmap'> {
  if (flags.map && !/\.(png|svg)$/i.test(flags.map)) throw new GeolensError(`--map ${flags.map}: the file must end in .png or .svg`);
  return { ...mergeFromFlags(flags), heatmap: flags.map ? flags.mapGrid : undefined };
}

/** "Līhuʻe, Hawaii, United States of America (3.2 km away)" */
export function nameText(place: LocateResult['places'][number]): string {
  if (!place.name) return '';
  const { city, region, country, cityDistanceKm } = place.name;
  return `${[city, region, country].filter(Boolean).join(', ')} (${cityDistanceKm.toFixed(1)} km away)`;
}

/** Writes the map of the first image (one map per file: image i > 0 goes to name-i.ext). */
export async function writeMaps(path: string, results: LocateResult[]): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const countries = JSON.parse(await readFile(require.resolve('world-atlas/countries-110m.json'), 'utf8'));
  const written: string[] = [];
  for (let i = 0; i < results.length; i++) {
    const target = i === 0 ? path : path.replace(/(\.\w+)$/, `-${i}$1`);
    const svg = renderMapSvg({ heatmap: results[i]!.heatmap, places: results[i]!.places, countries });
    let bytes: Uint8Array | string = svg;
    if (!/\.svg$/i.test(target)) {
      const { default: sharp } = await import('sharp');
      bytes = await sharp(Buffer.from(svg)).png().toBuffer();
    }
    try {
      await writeFile(target, bytes);
    } catch (error) {
      throw new GeolensError(`--map: could not write ${target} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    written.push(target);
  }
  return written;
}

export { placeLabel };

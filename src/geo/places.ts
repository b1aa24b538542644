import type { Prediction } from '../model/geoclip/gallery.js';
import { GeolensError } from '../runtime/errors.js';
import { mergePlaces } from './merge.js';
import { loadPlaceNamer, type CitiesSource, type PlaceName } from './names.js';

export interface PlaceOptions {
  /** Fold rows within this many km into one place (see mergePlaces); undefined keeps every row. */
  mergeKm?: number;
  /** Attach a PlaceName to each place; an object names where the cities data comes from. */
  names?: boolean | { cities?: CitiesSource };
  /** Places kept per image after merging. */
  topK: number;
}

/** Gallery rows per image before merging, so that merging still leaves topK places. */
export function candidatesForMerging(topK: number, gallerySize: number, maxRows: number): number {
  return Math.min(gallerySize, maxRows, Math.max(8 * topK, 64));
}

/**
 * What locate() does after the search: per image, merge the rows (when mergeKm is set), keep topK, and name
 * them (when names is set). Works on any rows that carry lat/lon/probability, so callers may batch as they like.
 */
export async function finishPlaces<T extends Prediction>(
  perImage: readonly (readonly T[])[],
  options: PlaceOptions,
): Promise<(T & { members?: Prediction[]; name?: PlaceName })[][]> {
  const merged = perImage.map((rows) => (options.mergeKm === undefined ? rows.slice(0, options.topK) : mergePlaces(rows, options.mergeKm).slice(0, options.topK)));
  if (!options.names) return merged;
  const namer = await loadPlaceNamer(typeof options.names === 'object' ? options.names.cities : undefined);
  return merged.map((places) => places.map((place) => ({ ...place, name: namer.name(place.lat, place.lon) })));
}

export function checkPlaceOptions(options: { mergeKm?: number }): void {
  if (options.mergeKm !== undefined && !(Number.isFinite(options.mergeKm) && options.mergeKm >= 0)) {
    throw new GeolensError(`locate: mergeKm must be a finite number ≥ 0 (km), got ${options.mergeKm}`);
  }
}

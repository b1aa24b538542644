import type { Prediction } from '../model/geoclip/gallery.js';
import { haversineKm } from './distance.js';
import { GeolensError } from '../runtime/errors.js';

/** The merging radius of the CLI and the demo: the "city" scale (25 km) of GeoCLIP's accuracy tables. */
export const DEFAULT_MERGE_KM = 25;

export type MergedPlace<T extends Prediction> = T & {
  /** The gallery rows folded into this place, most probable first (the place's own row included). */
  members: Prediction[];
};

/**
 * Folds gallery hits that lie within `radiusKm` (great circle) of a more probable hit into it. Greedy, most
 * probable first: each row not yet taken starts a place and takes every remaining row within the radius of
 * it. A place keeps its best row's location (and its other fields) and sums its members' probabilities.
 *
 * The best row, not the probability-weighted centre: a centre can drift towards a neighbour, and the
 * best-row rule guarantees that no two returned places lie within the radius of each other.
 */
export function mergePlaces<T extends Prediction>(rows: readonly T[], radiusKm: number): MergedPlace<T>[] {
  if (!(radiusKm >= 0) || !Number.isFinite(radiusKm)) throw new GeolensError(`mergeKm must be a finite number ≥ 0, got ${radiusKm}`);
  const order = rows.map((_, i) => i).sort((a, b) => rows[b]!.probability - rows[a]!.probability || a - b);
  const taken = new Uint8Array(rows.length);
  const places: MergedPlace<T>[] = [];
  for (const seed of order) {
    if (taken[seed]) continue;
    taken[seed] = 1;
    const head = rows[seed]!;
    const members: Prediction[] = [pick(head)];
    let probability = head.probability;
    for (const other of order) {
      if (taken[other]) continue;
      const row = rows[other]!;
      if (haversineKm(head.lat, head.lon, row.lat, row.lon) <= radiusKm) {
        taken[other] = 1;
        members.push(pick(row));
        probability += row.probability;
      }
    }
    places.push({ ...head, probability, members });
  }
  // Many close rows can outweigh one strong row: rank by the summed probability.
  return places.sort((a, b) => b.probability - a.probability);
}

function pick({ lat, lon, probability, galleryIndex }: Prediction): Prediction {
  return { lat, lon, probability, galleryIndex };
}

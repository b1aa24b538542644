/**
 * The local grids refinement evaluates: a square of gridSize × gridSize points centred on a place, laid out
 * in km on the tangent plane (north-south rows, east-west columns), converted to degrees.
 *
 * Round r's spacing is radiusKm / half / half^r (half = (gridSize − 1) / 2): round 0 spans ±radiusKm, and
 * each later round spans ± one cell of the round before, around the best point found so far. The centre
 * (offset 0, 0) is always part of the grid, so a round never loses the point it started from.
 */
import { GeolensError } from '../runtime/errors.js';

/** km per degree of latitude on the mean-radius sphere (2π · 6371.0088 / 360). */
const KM_PER_DEGREE = 111.19507973436875;

export interface RefineGridOptions {
  /** Half-width of the first round's grid in km. */
  radiusKm: number;
  /** Coarse-to-fine rounds. */
  steps: number;
  /** Points per grid side (odd, ≥ 3). */
  gridSize: number;
}

/** Throws a GeolensError naming the bad field. */
export function validateRefineGrid(options: RefineGridOptions, what = 'refine'): void {
  const { radiusKm, steps, gridSize } = options;
  if (!Number.isFinite(radiusKm) || radiusKm <= 0 || radiusKm > 5000) throw new GeolensError(`${what}: radiusKm must be a number in (0, 5000], got ${radiusKm}`);
  if (!Number.isInteger(steps) || steps < 1 || steps > 10) throw new GeolensError(`${what}: steps must be an integer from 1 to 10, got ${steps}`);
  if (!Number.isInteger(gridSize) || gridSize < 3 || gridSize > 33 || gridSize % 2 === 0) {
    throw new GeolensError(`${what}: gridSize must be an odd integer from 3 to 33, got ${gridSize}`);
  }
}

/** Spacing in km between neighbouring points in round `round` (0-based). */
export function gridSpacingKm(options: RefineGridOptions, round: number): number {
  const half = (options.gridSize - 1) / 2;
  return options.radiusKm / half / half ** round;
}

/**
 * Writes the gridSize² points of one round around (lat, lon) into `out` at `offset` (pairs of lat, lon),
 * row-major from the south-west corner; the centre is point (gridSize² − 1) / 2. Latitudes are clamped to
 * the poles and longitudes wrapped into [−180, 180].
 */
export function writeGrid(lat: number, lon: number, spacingKm: number, gridSize: number, out: Float32Array, offset: number): void {
  const half = (gridSize - 1) / 2;
  const stepLat = spacingKm / KM_PER_DEGREE;
  // Near a pole a degree of longitude shrinks to nothing; cap the east-west step at a full turn.
  const cosLat = Math.max(Math.cos((lat * Math.PI) / 180), 1e-6);
  const stepLon = Math.min(spacingKm / (KM_PER_DEGREE * cosLat), 360 / gridSize);
  let i = offset;
  for (let row = -half; row <= half; row++) {
    for (let column = -half; column <= half; column++) {
      out[i++] = Math.min(90, Math.max(-90, lat + row * stepLat));
      out[i++] = wrapLongitude(lon + column * stepLon);
    }
  }
}

export function wrapLongitude(lon: number): number {
  if (lon >= -180 && lon <= 180) return lon;
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

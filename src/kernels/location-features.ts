import source from '../../shaders/location-features.wgsl';
import { formatShape, GeolensError, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';

const WORKGROUP_SIZE = 256;

/** Equal Earth constants exactly as GeoCLIP's location encoder uses them. */
export const EQUAL_EARTH = { A1: 1.340264, A2: -0.081106, A3: 0.000893, A4: 0.003796, SF: 66.50336 } as const;

/** Number of capsules (RFF scales 2^0, 2^4, 2^8) the kernel serves in one pass. */
export const CAPSULES = 3;

/**
 * Throws naming the first bad row: GPS must be finite, lat in [-90, 90], lon in [-180, 180] (degrees).
 * `gps` is [N, 2] row-major (lat, lon).
 */
export function validateGps(gps: ArrayLike<number>, what = 'gps'): void {
  if (gps.length % 2 !== 0) throw new ShapeError(`${what}: ${gps.length} values is not a whole number of (lat, lon) rows`);
  if (gps.length === 0) throw new ShapeError(`${what}: no coordinates given (shape [0, 2])`);
  for (let row = 0; row < gps.length / 2; row++) {
    const lat = gps[2 * row]!;
    const lon = gps[2 * row + 1]!;
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) {
      throw new GeolensError(`${what}: row ${row} is not a finite coordinate (lat ${lat}, lon ${lon})`);
    }
    if (lat < -90 || lat > 90) throw new GeolensError(`${what}: row ${row} has latitude ${lat}, outside [-90, 90]`);
    if (lon < -180 || lon > 180) throw new GeolensError(`${what}: row ${row} has longitude ${lon}, outside [-180, 180]`);
  }
}

/**
 * Random Fourier features of the Equal Earth projection for all three capsules.
 * gps [N, 2] (lat, lon degrees, already validated: see validateGps), b [3, E, 2] (the capsules' stored
 * `b` matrices stacked) → three tensors [N, 2E], each [cos(2π v·bᵀ), sin(2π v·bᵀ)].
 */
export function locationFeatures(gps: Tensor, b: Tensor): [Tensor, Tensor, Tensor] {
  if (gps.rank !== 2 || gps.shape[1] !== 2) throw new ShapeError(`locationFeatures: gps must be [N, 2], got ${formatShape(gps.shape)}`);
  if (b.rank !== 3 || b.shape[0] !== CAPSULES || b.shape[2] !== 2) {
    throw new ShapeError(`locationFeatures: b must be [${CAPSULES}, E, 2], got ${formatShape(b.shape)}`);
  }
  if (gps.dtype !== 'f32' || b.dtype !== 'f32') throw new ShapeError(`locationFeatures: expects f32 tensors, got ${gps} and ${b}`);
  const gpu = gps.gpu;
  const n = gps.shape[0]!;
  const encoded = b.shape[1]!;
  const outputs = [0, 1, 2].map((c) => gpu.empty([n, 2 * encoded], 'f32', `locationFeatures.out${c}`)) as [Tensor, Tensor, Tensor];
  gpu.dispatch({
    label: 'locationFeatures',
    code: source,
    constants: { WORKGROUP_SIZE },
    uniforms: new Uint32Array([n, encoded, 0, 0]),
    buffers: [gps, b, ...outputs],
    workgroups: linearWorkgroups(n * encoded, WORKGROUP_SIZE),
  });
  return outputs;
}

/** Validates host GPS [N, 2] and uploads it as a tensor. */
export function uploadGps(gpu: Gpu, gps: Float32Array, what = 'gps'): Tensor {
  validateGps(gps, what);
  return gpu.upload(gps, [gps.length / 2, 2], 'f32', what);
}

/** Equal Earth projection scaled by SF/180, in float64: [x, y]. */
export function equalEarthReference(latDeg: number, lonDeg: number): [number, number] {
  const { A1, A2, A3, A4, SF } = EQUAL_EARTH;
  const theta = Math.asin((Math.sqrt(3) / 2) * Math.sin((latDeg * Math.PI) / 180));
  const denominator = 3 * (9 * A4 * theta ** 8 + 7 * A3 * theta ** 6 + 3 * A2 * theta ** 2 + A1);
  const x = (2 * Math.sqrt(3) * ((lonDeg * Math.PI) / 180) * Math.cos(theta)) / denominator;
  const y = A4 * theta ** 9 + A3 * theta ** 7 + A2 * theta ** 3 + A1 * theta;
  return [(x * SF) / 180, (y * SF) / 180];
}

/** Plain-TS features for one capsule: gps [N, 2], b [E, 2] → [N, 2E] (float64 math, f32 result). */
export function locationFeaturesReference(gps: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const n = gps.length / 2;
  const encoded = b.length / 2;
  const out = new Float32Array(n * 2 * encoded);
  for (let row = 0; row < n; row++) {
    const [x, y] = equalEarthReference(gps[2 * row]!, gps[2 * row + 1]!);
    for (let j = 0; j < encoded; j++) {
      const phase = 2 * Math.PI * (x * b[2 * j]! + y * b[2 * j + 1]!);
      out[row * 2 * encoded + j] = Math.cos(phase);
      out[row * 2 * encoded + encoded + j] = Math.sin(phase);
    }
  }
  return out;
}

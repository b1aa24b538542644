/**
 * Continuous refinement of GeoCLIP's answer. The gallery holds 100k fixed points, but the location
 * encoder is a function of any (lat, lon): around each of the best gallery places this embeds a local
 * grid (src/geo/refine-grid.ts) with the encoder, scores it against the image with the model's logit
 * scale, moves to the best point and repeats on a finer grid.
 *
 * Probabilities stay on the gallery's softmax: a refined point's probability is exp(logit − LSE), LSE
 * the log-sum-exp of the image's logits over the whole gallery, i.e. the probability the point would
 * have as one more gallery row (leaving out its own share of the sum, below one part in N of the mass
 * for any point the gallery does not already concentrate on). Each round's grid holds its centre and
 * the best point only moves for a strictly higher logit, so a refined point never scores below the
 * gallery point it started from.
 *
 * Cost: candidates × steps × gridSize² location-encoder points per image (441 with the defaults), all
 * images and candidates of a round embedded in shared passes of at most `maxPointsPerPass` points.
 * Scoring is one GEMM per pass (images [n, D] × points [P, D]ᵀ), negligible beside the encoder.
 */
import { linear } from '../kernels/gemm.js';
import { haversineKm } from './distance.js';
import { gridSpacingKm, validateRefineGrid, writeGrid } from './refine-grid.js';
import { formatShape, GeolensError, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';

export interface RefineOptions {
  /** Top places refined per image (default 3). */
  candidates?: number;
  /** Half-width in km of the first, coarsest grid (default 25). */
  radiusKm?: number;
  /** Coarse-to-fine rounds; each shrinks the spacing by (gridSize − 1) / 2 (default 3). */
  steps?: number;
  /** Points per grid side, odd (default 7: 49 points per round). */
  gridSize?: number;
}

export const REFINE_DEFAULTS: Required<RefineOptions> = { candidates: 3, radiusKm: 25, steps: 3, gridSize: 7 };

export interface RefineStart {
  lat: number;
  lon: number;
  /** The start's probability under the gallery softmax (fixes the log-sum-exp). */
  probability: number;
}

export interface RefinedPoint {
  lat: number;
  lon: number;
  /** scale · cos(image, location embedding of this point). */
  logit: number;
  /** exp(logit − gallery log-sum-exp): consistent with the gallery places' probabilities. */
  probability: number;
  /** The start point's logit, from the same encoder pass as the grid. */
  startLogit: number;
  /** Great-circle km from the start point. */
  shiftKm: number;
}

/** One pass of the encoder, for tests and diagnostics: every point scored and whose it was. */
export interface RefinePass {
  round: number;
  /** [P, 2] (lat, lon) degrees. */
  gps: Float32Array;
  /** [P] image row each point was scored against. */
  image: Uint32Array;
  /** [P] scale · cos. */
  logits: Float32Array;
}

export interface RefineRunOptions extends RefineOptions {
  /** Encoder points per GPU pass (memory ~3 × points × 4 KB of activations at full width; default 4096). */
  maxPointsPerPass?: number;
  onPass?: (pass: RefinePass) => void;
}

/** What refinement needs of a model: its device and location encoder. */
export interface RefineModel {
  readonly gpu: Gpu;
  locationEmbeddings(gps: Float32Array): Tensor;
}

/** Location-encoder points embedded per image for these options. */
export function refineCost(options: RefineOptions = {}): number {
  const { candidates, steps, gridSize } = { ...REFINE_DEFAULTS, ...options };
  return candidates * steps * gridSize * gridSize;
}

/** Fills defaults and throws a GeolensError naming a bad field. */
export function resolveRefineOptions(options: RefineOptions, what = 'refine'): Required<RefineOptions> {
  const resolved = { ...REFINE_DEFAULTS, ...options };
  if (!Number.isInteger(resolved.candidates) || resolved.candidates < 1 || resolved.candidates > 256) {
    throw new GeolensError(`${what}: candidates must be an integer from 1 to 256, got ${resolved.candidates}`);
  }
  validateRefineGrid(resolved, what);
  return resolved;
}

/**
 * Refines the first `candidates` starts of each image. images: [B, D] L2-normalized image embeddings;
 * starts[b]: image b's places, best first (lat, lon, gallery probability); scale: exp(logit_scale).
 * Returns, per image, one refined point per refined start, in the starts' order.
 */
export async function refinePlaces(model: RefineModel, images: Tensor, starts: readonly (readonly RefineStart[])[], scale: number, options: RefineRunOptions = {}): Promise<RefinedPoint[][]> {
  const { candidates, radiusKm, steps, gridSize } = resolveRefineOptions(options);
  const maxPoints = options.maxPointsPerPass ?? 4096;
  if (images.rank !== 2 || images.dtype !== 'f32') throw new ShapeError(`refine: image embeddings must be [B, D] f32, got ${formatShape(images.shape)}`);
  const [batch, dim] = images.shape as [number, number];
  if (starts.length !== batch) throw new ShapeError(`refine: ${starts.length} lists of start places for ${batch} image embeddings`);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new GeolensError(`refine: the logit scale must be a positive number, got ${scale}`);

  const perImage = starts.map((list) => list.slice(0, candidates));
  const best = perImage.map((list) => list.map((start) => ({ lat: start.lat, lon: start.lon, logit: -Infinity })));
  const startLogits = perImage.map((list) => list.map(() => NaN));
  const points = gridSize * gridSize;
  const centre = (points - 1) / 2;
  const imagesPerPass = Math.max(1, Math.floor(maxPoints / (candidates * points)));

  for (let round = 0; round < steps; round++) {
    const spacing = gridSpacingKm({ radiusKm, steps, gridSize }, round);
    for (let first = 0; first < batch; first += imagesPerPass) {
      const last = Math.min(batch, first + imagesPerPass);
      const owners: [number, number][] = [];
      for (let b = first; b < last; b++) for (let c = 0; c < perImage[b]!.length; c++) owners.push([b, c]);
      if (owners.length === 0) continue;
      const gps = new Float32Array(owners.length * points * 2);
      owners.forEach(([b, c], slot) => {
        const from = best[b]![c]!;
        writeGrid(from.lat, from.lon, spacing, gridSize, gps, slot * points * 2);
      });
      const values = await scoreGrid(model, images, first, last, gps, dim);
      const width = owners.length * points;
      const image = options.onPass ? new Uint32Array(width) : null;
      const logits = options.onPass ? new Float32Array(width) : null;
      owners.forEach(([b, c], slot) => {
        const state = best[b]![c]!;
        const row = (b - first) * width;
        for (let j = 0; j < points; j++) {
          const point = slot * points + j;
          const logit = scale * values[row + point]!;
          if (image && logits) {
            image[point] = b;
            logits[point] = logit;
          }
          if (round === 0 && j === centre) startLogits[b]![c] = logit;
          if (logit > state.logit) {
            state.logit = logit;
            state.lat = gps[2 * point]!;
            state.lon = gps[2 * point + 1]!;
          }
        }
      });
      options.onPass?.({ round, gps, image: image!, logits: logits! });
    }
  }

  return perImage.map((list, b) => {
    // The log-sum-exp from the most probable start: its probability is the least rounded by f32.
    let anchor = -1;
    list.forEach((start, c) => {
      if (start.probability > 0 && (anchor < 0 || start.probability > list[anchor]!.probability)) anchor = c;
    });
    const logSumExp = anchor >= 0 ? startLogits[b]![anchor]! - Math.log(list[anchor]!.probability) : Infinity;
    return list.map((start, c) => {
      const point = best[b]![c]!;
      return {
        lat: point.lat,
        lon: point.lon,
        logit: point.logit,
        probability: Math.exp(point.logit - logSumExp),
        startLogit: startLogits[b]![c]!,
        shiftKm: haversineKm(start.lat, start.lon, point.lat, point.lon),
      };
    });
  });
}

/** cosines [last − first, P] of image rows first..last−1 against the embedded points, read back. */
async function scoreGrid(model: RefineModel, images: Tensor, first: number, last: number, gps: Float32Array, dim: number): Promise<Float32Array> {
  const gpu = model.gpu;
  const embedded = model.locationEmbeddings(gps);
  let queries = images;
  if (first !== 0 || last !== images.shape[0]) {
    queries = gpu.empty([last - first, dim], 'f32', 'refine.images');
    gpu.copy(images.buffer, first * dim * 4, queries.buffer, 0, (last - first) * dim * 4);
  }
  try {
    const scores = linear(queries, embedded);
    try {
      return await scores.read();
    } finally {
      scores.release();
    }
  } finally {
    embedded.release();
    if (queries !== images) queries.release();
  }
}

/** The refined point as a place carries it (`place.refined`). */
export type RefinedPlace = Omit<RefinedPoint, 'startLogit'>;

/**
 * Refines the first `candidates` places of each image's list and attaches the result as `place.refined`
 * (the places themselves, gallery points, stay as they were). images: [B, D] embeddings, one per list.
 */
export async function attachRefinement<P extends RefineStart & { refined?: RefinedPlace }>(
  model: RefineModel & { readonly scale: number },
  images: Tensor,
  lists: readonly P[][],
  options: RefineRunOptions | true,
): Promise<void> {
  const refined = await refinePlaces(model, images, lists, model.scale, options === true ? {} : options);
  refined.forEach((points, b) =>
    points.forEach(({ startLogit: _, ...point }, c) => {
      lists[b]![c]!.refined = point;
    }),
  );
}

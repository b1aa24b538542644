// The refinement known-answer case, shared by the Node test and its Chromium page: the "image" is the
// location embedding of a point P that is not in the gallery, so the best answer is P itself.
import { haversineKm } from '../../src/geo/distance.js';
import type { Gallery } from '../../src/model/geoclip/gallery.js';
import { predict } from '../../src/model/geoclip/gallery.js';
import type { GeoClip } from '../../src/model/geoclip/geoclip.js';
import { refinePlaces, type RefinePass, type RefineRunOptions } from '../../src/geo/refine.js';

export const REFINE_CASE: RefineRunOptions = { candidates: 3, radiusKm: 60, steps: 4, gridSize: 7 };

export interface RefineCaseResult {
  /** [n, 2] the hidden points P. */
  targets: number[];
  /** Per P: km from P to the nearest gallery row, to GeoCLIP's top place, to the refined point. */
  nearestKm: number[];
  plainKm: number[];
  refinedKm: number[];
  /** Per P: plain top-1 gallery index, the refined point (lat, lon) and its logit. */
  plainIndex: number[];
  refined: number[];
  refinedLogit: number[];
  /** Per P and candidate: refined logit minus the start's logit (never negative). */
  gains: number[];
  passes: RefinePass[];
}

/** Deterministic P near random gallery rows (mulberry32), 5–80 km off, in a random direction. */
export function hiddenPoints(gallery: Gallery, count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(2 * count);
  for (let i = 0; i < count; i++) {
    const row = Math.floor(next() * gallery.size);
    const km = 5 + 75 * next();
    const bearing = 2 * Math.PI * next();
    const lat = gallery.gps[2 * row]!;
    const lon = gallery.gps[2 * row + 1]!;
    out[2 * i] = Math.max(-89, Math.min(89, lat + (km * Math.cos(bearing)) / 111.195));
    out[2 * i + 1] = ((lon + (km * Math.sin(bearing)) / (111.195 * Math.max(0.05, Math.cos((lat * Math.PI) / 180))) + 540) % 360) - 180;
  }
  return out;
}

export async function runRefineCase(model: GeoClip, gallery: Gallery, count: number, seed: number): Promise<RefineCaseResult> {
  const targets = hiddenPoints(gallery, count, seed);
  const images = model.locationEmbeddings(targets);
  const passes: RefinePass[] = [];
  try {
    const plain = await predict(model, images, gallery, REFINE_CASE.candidates!);
    const refined = await refinePlaces(model, images, plain, model.scale, { ...REFINE_CASE, onPass: (pass) => passes.push(pass) });
    const result: RefineCaseResult = { targets: Array.from(targets), nearestKm: [], plainKm: [], refinedKm: [], plainIndex: [], refined: [], refinedLogit: [], gains: [], passes };
    for (let i = 0; i < count; i++) {
      const [lat, lon] = [targets[2 * i]!, targets[2 * i + 1]!];
      let nearest = Infinity;
      for (let j = 0; j < gallery.size; j++) nearest = Math.min(nearest, haversineKm(lat, lon, gallery.gps[2 * j]!, gallery.gps[2 * j + 1]!));
      const top = plain[i]![0]!;
      const best = refined[i]!.reduce((a, b) => (b.logit > a.logit ? b : a));
      result.nearestKm.push(nearest);
      result.plainKm.push(haversineKm(lat, lon, top.lat, top.lon));
      result.refinedKm.push(haversineKm(lat, lon, best.lat, best.lon));
      result.plainIndex.push(top.galleryIndex);
      result.refined.push(best.lat, best.lon);
      result.refinedLogit.push(best.logit);
      for (const point of refined[i]!) result.gains.push(point.logit - point.startLogit);
    }
    return result;
  } finally {
    images.release();
  }
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

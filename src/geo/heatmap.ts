import { accumulateHeatmap } from '../kernels/heatmap.js';
import { searchTopK } from '../kernels/search.js';
import type { Gallery } from '../model/geoclip/gallery.js';
import { ShapeError, type Tensor } from '../runtime/index.js';

/**
 * Probability over the globe on an equirectangular grid: `values[row * width + col]` is the softmax mass of
 * the gallery points in the cell spanning latitudes 90 − 180·row/height … 90 − 180·(row+1)/height (row 0 is
 * the north) and longitudes −180 + 360·col/width …; the values sum to 1.
 */
export interface Heatmap {
  width: number;
  height: number;
  values: Float32Array;
}

export interface HeatmapOptions {
  width: number;
  height: number;
}

/** Largest grid side: 4096 × 2048 cells is 0.1° and already finer than the 100k gallery. */
export const HEATMAP_MAX_WIDTH = 4096;

export function checkHeatmapOptions(options: HeatmapOptions): void {
  const { width, height } = options;
  for (const [name, value, max] of [['width', width, HEATMAP_MAX_WIDTH], ['height', height, HEATMAP_MAX_WIDTH / 2]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > max) throw new ShapeError(`heatmap: ${name} must be an integer from 1 to ${max}, got ${value}`);
  }
}

/** The grid cell of each [lat, lon] point (degrees): row from the north, column from 180° W; edges clamp inward. */
export function equirectangularCells(gps: Float32Array, width: number, height: number): Uint32Array {
  const cells = new Uint32Array(gps.length / 2);
  for (let i = 0; i < cells.length; i++) {
    const row = Math.min(height - 1, Math.max(0, Math.floor(((90 - gps[2 * i]!) / 180) * height)));
    const col = Math.min(width - 1, Math.max(0, Math.floor(((gps[2 * i + 1]! + 180) / 360) * width)));
    cells[i] = row * width + col;
  }
  return cells;
}

const cellTensors = new WeakMap<Gallery, Map<string, Tensor>>();

/**
 * Heat maps for image embeddings [B, D] over the gallery: one search pass for each image's log-sum-exp, then
 * the heat-map kernel over every row. The row → cell map is uploaded once per gallery and grid size.
 */
export async function galleryHeatmaps(embeddings: Tensor, gallery: Gallery, options: HeatmapOptions): Promise<Heatmap[]> {
  checkHeatmapOptions(options);
  const { width, height } = options;
  let perGrid = cellTensors.get(gallery);
  if (!perGrid) cellTensors.set(gallery, (perGrid = new Map()));
  const key = `${width}x${height}`;
  let rowCells = perGrid.get(key);
  if (!rowCells) {
    rowCells = embeddings.gpu.upload(equirectangularCells(gallery.gps, width, height), [gallery.size], 'u32', 'heatmap.cells');
    perGrid.set(key, rowCells);
  }
  const { logSumExp } = await searchTopK(embeddings, gallery.chunks, { k: 1, scale: gallery.scale });
  const masses = await accumulateHeatmap(embeddings, gallery.chunks, rowCells, logSumExp, { scale: gallery.scale, cells: width * height });
  return masses.map((mass) => ({ width, height, values: Float32Array.from(mass) }));
}

/** Frees the row → cell maps kept for a gallery (GeoLocator.release calls it). */
export function releaseHeatmapCells(gallery: Gallery): void {
  for (const tensor of cellTensors.get(gallery)?.values() ?? []) tensor.release();
  cellTensors.delete(gallery);
}

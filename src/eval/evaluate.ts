/**
 * Runs a labeled set through a GeoLocator and measures each method's error: plain GeoCLIP (the gallery's
 * top place), with concepts (the re-ranked top place, when the locator has a concept bank) and with
 * refinement (the highest-scoring refined point among the refined top places). Every image is embedded
 * once; the three methods share that embedding.
 */
import type { GeoLocator, LocateResult } from '../api/geolocator.js';
import { haversineKm } from '../geo/distance.js';
import { resolveRefineOptions, type RefineOptions } from '../geo/refine.js';
import { DeviceError, GeolensError, NoAdapterError, ShapeError } from '../runtime/errors.js';
import type { LabeledImage } from './labels.js';
import { summarizeErrors, type AccuracySummary } from './metrics.js';

export type EvalMethod = 'geoclip' | 'concepts' | 'refined';

export const METHOD_NAMES: Record<EvalMethod, string> = { geoclip: 'GeoCLIP', concepts: '+ concepts', refined: '+ refinement' };

export interface EvalGuess {
  lat: number;
  lon: number;
  /** Great-circle km to the label. */
  errorKm: number;
}

export interface EvalRow {
  image: string;
  lat: number;
  lon: number;
  labelSource: LabeledImage['source'];
  geoclip: EvalGuess;
  concepts?: EvalGuess;
  refined?: EvalGuess;
}

export interface EvalReport {
  rows: EvalRow[];
  /** One entry per method that ran, in table order. */
  methods: { method: EvalMethod; name: string; summary: AccuracySummary }[];
  /** Photos that could not be read or decoded, with the reason (never a device fault: that stops the run). */
  failed: { image: string; error: string }[];
}

export interface EvaluateOptions {
  /** Refinement options, or false/undefined for no refinement column. */
  refine?: RefineOptions | false;
  /** Concept column (default: when the locator has a concept bank). */
  concepts?: boolean;
  rerankCandidates?: number;
  /** Images embedded per batch (default 8). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function evaluate(locator: GeoLocator, images: readonly LabeledImage[], options: EvaluateOptions = {}): Promise<EvalReport> {
  if (images.length === 0) throw new GeolensError('eval: no labeled images to evaluate');
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new GeolensError(`eval: batchSize must be a positive integer, got ${batchSize}`);
  const refine = options.refine ? resolveRefineOptions(options.refine, 'eval refine') : null;
  const concepts = (options.concepts ?? true) && locator.concepts !== null;
  const rows: EvalRow[] = [];
  const failed: EvalReport['failed'] = [];
  options.onProgress?.(0, images.length);

  const run = async (batch: readonly LabeledImage[]) => {
    const embeddings = await locator.imageEmbeddings(batch.map((image) => image.path));
    try {
      const plain = await locator.locateEmbeddings(embeddings, { topK: refine ? refine.candidates : 1, explain: false, refine: refine ?? undefined });
      const reranked = concepts ? await locator.locateEmbeddings(embeddings, { topK: 1, explain: true, rerankCandidates: options.rerankCandidates }) : null;
      return batch.map((image, b) => row(image, plain[b]!, reranked?.[b], refine !== null));
    } finally {
      embeddings.release();
    }
  };

  for (let first = 0; first < images.length; first += batchSize) {
    const batch = images.slice(first, first + batchSize);
    try {
      rows.push(...(await run(batch)));
    } catch (error) {
      if (!isImageFault(error)) throw error;
      // One unreadable photo must not cost the batch: redo it image by image and name the bad ones.
      for (const image of batch) {
        try {
          rows.push(...(await run([image])));
        } catch (single) {
          if (!isImageFault(single)) throw single;
          failed.push({ image: image.path, error: single.message });
        }
      }
    }
    options.onProgress?.(Math.min(first + batchSize, images.length), images.length);
  }

  if (rows.length === 0) {
    const shown = failed.slice(0, 3).map(({ image, error }) => `${image}: ${error}`).join('; ');
    throw new GeolensError(`eval: none of the ${images.length} photos could be read (${shown}${failed.length > 3 ? `; and ${failed.length - 3} more` : ''})`);
  }
  const methods: EvalReport['methods'] = [];
  const add = (method: EvalMethod, errors: number[]) => methods.push({ method, name: METHOD_NAMES[method], summary: summarizeErrors(errors) });
  add('geoclip', rows.map((r) => r.geoclip.errorKm));
  if (concepts) add('concepts', rows.map((r) => r.concepts!.errorKm));
  if (refine) add('refined', rows.map((r) => r.refined!.errorKm));
  return { rows, methods, failed };
}

/**
 * A fault of one photo (unreadable, undecodable, refused by a limit), which costs that photo only. A lost
 * device or a GPU error (DeviceError), options that do not fit the model (ShapeError) and anything not
 * thrown on purpose are faults of the run: every later photo would fail the same way, and filing them as
 * unreadable photos would hide the cause.
 */
function isImageFault(error: unknown): error is GeolensError {
  return error instanceof GeolensError && !(error instanceof DeviceError || error instanceof ShapeError || error instanceof NoAdapterError);
}

function guess(image: LabeledImage, lat: number, lon: number): EvalGuess {
  return { lat, lon, errorKm: haversineKm(image.lat, image.lon, lat, lon) };
}

function row(image: LabeledImage, plain: LocateResult, reranked: LocateResult | undefined, refined: boolean): EvalRow {
  const top = plain.places[0]!;
  const out: EvalRow = { image: image.path, lat: image.lat, lon: image.lon, labelSource: image.source, geoclip: guess(image, top.lat, top.lon) };
  if (reranked) out.concepts = guess(image, reranked.places[0]!.lat, reranked.places[0]!.lon);
  if (refined) {
    let best = top.refined!;
    for (const place of plain.places) if (place.refined && place.refined.logit > best.logit) best = place.refined;
    out.refined = guess(image, best.lat, best.lon);
  }
  return out;
}

/** Per-image rows as CSV: label, then lat, lon, error for each method that ran. */
export function evalRowsToCsv(report: EvalReport): string {
  const methods = report.methods.map((m) => m.method);
  const header = ['image', 'lat', 'lon', 'label_source', ...methods.flatMap((m) => [`${m}_lat`, `${m}_lon`, `${m}_error_km`])];
  const quote = (text: string) => (/[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  const lines = report.rows.map((r) =>
    [quote(r.image), r.lat, r.lon, r.labelSource, ...methods.flatMap((m) => {
      const g = r[m]!;
      return [g.lat, g.lon, g.errorKm.toFixed(3)];
    })].join(','),
  );
  return [header.join(','), ...lines].join('\n') + '\n';
}

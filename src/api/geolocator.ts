// The public entry point. GeoLocator orchestrates and holds nothing else: create = resolve sources →
// load parts → compile; locate = read → embed → search → describe. Where the files come from is
// sources.ts, how each part loads is loaders.ts and parts.ts, what the options mean is options.ts.
import type { ClipVisionModel } from '../model/clip/vision.js';
import type { ConceptModule } from '../model/concepts/module.js';
import { predict, type Gallery } from '../model/geoclip/gallery.js';
import type { GeoClip } from '../model/geoclip/geoclip.js';
import { preprocessImage, type RawImage } from '../image/image.js';
import { plannedPipelines } from '../model/warmup.js';
import { candidatesForMerging, finishPlaces } from '../geo/places.js';
import { galleryHeatmaps, releaseHeatmapCells } from '../geo/heatmap.js';
import { attachExifGps } from '../geo/exif.js';
import { attachRefinement } from '../geo/refine.js';
import { SEARCH_MAX_K } from '../kernels/search.js';
import { deviceLostError, getDevice, GeolensError, isDeviceLost, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';
import { throwIfAborted } from '../runtime/abort.js';
import { locateWithConcepts } from './concept-places.js';
import { decodeMicroBatch, isFailure, warmDecoder } from './image-input.js';
import { checkLocateOptions, loggerOf, type EmbedOptions, type GeoLocatorOptions, type ImageInput, type LocateFailure, type LocateOptions, type LocateResult } from './options.js';
import { loadParts, type LocatorParts } from './parts.js';
import { downloadOptions } from './sources.js';
import { TextQueryEncoder } from './text-query.js';

export type { EmbedOptions, GeoLocatorOptions, ImageInput, LocateFailure, LocateOptions, LocateResult, Place, PlaceConcepts } from './options.js';
export { DEFAULT_LOCATIONS, type GeoClipWeights, type LoadProgress, type WeightLocation } from './sources.js';

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
  private readonly text: TextQueryEncoder;

  private constructor(
    /** The device the models live on (shared when given to create; `gpu.destroy()` ends a process's own). */
    readonly gpu: Gpu,
    /** The loaded parts, for embeddings outside locate (the search, a model's own features). */
    readonly clip: ClipVisionModel,
    readonly geoclip: GeoClip,
    readonly gallery: Gallery,
    readonly concepts: ConceptModule | null,
    /** Images per micro-batch. */
    readonly microBatch: number,
    options: GeoLocatorOptions,
  ) {
    this.text = new TextQueryEncoder(gpu, { ...options, gpu });
  }

  /**
   * Loads a locator: CLIP's vision tower, GeoCLIP's heads, the gallery (embedded, cached or shipped) and,
   * when given, a concept bank; then compiles every pipeline locate() can need. Defaults are the released
   * ViT-L/14 and GeoCLIP files, downloaded once into the cache and checked against their known digests.
   */
  static async create(options: GeoLocatorOptions = {}): Promise<GeoLocator> {
    const { signal } = options;
    const log = loggerOf(options);
    const microBatch = options.microBatch ?? 8;
    if (!Number.isInteger(microBatch) || microBatch < 1) throw new ShapeError(`GeoLocator.create: microBatch must be a positive integer, got ${microBatch}`);
    const aborted = (step: string) => throwIfAborted(signal, `GeoLocator.create (${step})`);
    aborted('start');
    const gpu = options.gpu ?? (await getDevice({ ...(log ? { log } : {}), ...(options.adapter ? { adapter: options.adapter } : {}) }));
    if (isDeviceLost(gpu)) throw deviceLostError(gpu, 'GeoLocator.create with options.gpu');
    const progress = options.onProgress ?? (() => {});
    let parts: LocatorParts | null = null;
    try {
      parts = await loadParts(gpu, options, { download: downloadOptions(options), progress, log, aborted });
      const locator = new GeoLocator(gpu, parts.clip, parts.geoclip, parts.gallery, parts.concepts, microBatch, options);
      if (options.precompile !== false) await locator.compile(progress, aborted);
      return locator;
    } catch (error) {
      if (parts) for (const part of [parts.clip, parts.geoclip, parts.gallery, parts.concepts]) part?.release();
      // Steps below the API (the gallery) stop on the signal too; they are reported as this create's abort.
      if (signal?.aborted) throwIfAborted(signal, 'GeoLocator.create');
      throw error;
    }
  }

  /**
   * Compiles now what the first locate would otherwise compile one by one: every micro-batch size's
   * pipelines, all at once, then runs one gray image through the whole path, since drivers finish some
   * work on a pipeline's first run (SwiftShader: ~0.5 s on the tiny model).
   */
  private async compile(progress: NonNullable<GeoLocatorOptions['onProgress']>, aborted: (step: string) => void): Promise<void> {
    aborted('compile');
    const requests = plannedPipelines({ clip: this.clip, geoclip: this.geoclip, gallery: this.gallery, concepts: this.concepts, maxBatch: this.microBatch });
    await Promise.all([
      this.gpu.pipelines.prepare(requests, (done, total) => progress({ stage: 'compile', what: 'GPU pipelines', done, total }), { concurrent: !this.gpu.isSoftware }),
      warmDecoder(),
    ]);
    aborted('compile');
    const size = this.clip.config.image_size;
    await this.locateMicroBatch([{ data: new Uint8Array(size * size * 3).fill(128), width: size, height: size, channels: 3 }], 1, {});
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
    // Refused before CLIP runs, not by the search after it.
    const topK = checkLocateOptions(options, this.gallery.size);
    if (isDeviceLost(this.gpu)) throw deviceLostError(this.gpu, 'locate');
    const results: (LocateResult | LocateFailure)[] = [];
    for (let first = 0; first < list.length; first += this.microBatch) {
      throwIfAborted(options.signal, 'locate');
      const decoded = await decodeMicroBatch(list.slice(first, first + this.microBatch), first, options);
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
      const decoded = (await decodeMicroBatch(list.slice(first, end), first, {})) as RawImage[];
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
      return await this.locateChecked(embeddings, topK, options);
    } finally {
      embeddings.release();
    }
  }

  /**
   * Places for text prompts ("a sandy beach with palm trees"): CLIP's text tower → GeoCLIP's image MLP →
   * the same search, re-ranking and refinement as photos. The text tower loads on the first call.
   */
  async locateText(prompts: string | string[], options: LocateOptions = {}): Promise<LocateResult[]> {
    const topK = checkLocateOptions(options, this.gallery.size);
    const embeddings = await this.text.embed(this.geoclip, typeof prompts === 'string' ? [prompts] : prompts);
    try {
      return await this.locateChecked(embeddings, topK, options);
    } finally {
      embeddings.release();
    }
  }

  /** Places for GeoCLIP embeddings [B, 512] (L2-normalized, from imageEmbeddings or text): search, concepts, refinement. */
  async locateEmbeddings(embeddings: Tensor, options: LocateOptions = {}): Promise<LocateResult[]> {
    return this.locateChecked(embeddings, checkLocateOptions(options, this.gallery.size), options);
  }

  /** search → (concepts) → merge and name → refine → heat map, for options already checked. */
  private async locateChecked(embeddings: Tensor, topK: number, options: LocateOptions): Promise<LocateResult[]> {
    const explain = this.concepts !== null && options.explain !== false;
    let results: LocateResult[];
    if (!explain) {
      // Merging folds neighbouring rows together, so it needs more rows than it returns.
      const rows = options.mergeKm === undefined ? topK : candidatesForMerging(topK, this.gallery.size, SEARCH_MAX_K);
      results = (await predict(this.geoclip, embeddings, this.gallery, rows)).map((places) => ({ places }));
    } else {
      results = await locateWithConcepts(this.geoclip, this.gallery, this.concepts!, embeddings, topK, options.rerankCandidates ?? 100);
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
    void this.text.release();
  }
}

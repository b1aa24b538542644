import { ClipVisionModel, CLIP_VISION_PRESETS, type ClipVisionConfig } from '../model/clip-vision.js';
import { ConceptModule, type PlaceExplanation, type ConceptWeight } from '../model/concepts.js';
import { loadConceptBank, type ConceptBank } from '../model/concept-bank.js';
import { buildGallery, fileGalleryCache, readGalleryCsv, predict, type Gallery, type GalleryCache, type Prediction } from '../model/gallery.js';
import { GeoClip, type GeoClipSources } from '../model/geoclip.js';
import { ImageError, preprocessImage, type RawImage } from '../model/image.js';
import { CLIP_VOCAB_URL } from '../model/tokenizer.js';
import { getDevice, GeolensError, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';
import { embeddedClipConfig } from '../weights/convert.js';
import { loadJson, openWeights, parseClipConfig, parseClipVisionConfig, type DownloadProgress, type OpenOptions, type WeightSource } from '../weights/index.js';

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
  stage: 'download' | 'weights' | 'gallery';
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
  /** GPS gallery: CSV (`LAT,LON`) location, or [N, 2] degrees. Default: GeoCLIP's 100k points. */
  gallery?: string | URL | Float32Array;
  /**
   * Storage of the large matrices: f16 halves memory and bandwidth, q8 / q4 quantize them block-wise
   * (default: the scheme a converted file was written in, else f32).
   */
  dtype?: 'f32' | 'f16' | 'q8' | 'q4';
  /** Concept explanations: a concept bank file (names + vectors, see docs/CONCEPTS.md), with optional fitted parameters. */
  concepts?: { bank: string | URL | Uint8Array | ConceptBank; params?: string | URL | Uint8Array };
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
}

export interface LocateResult {
  places: Place[];
  /** The image's own top concepts, when concepts are loaded. */
  imageConcepts?: ConceptWeight[];
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
  private constructor(
    readonly gpu: Gpu,
    readonly clip: ClipVisionModel,
    readonly geoclip: GeoClip,
    readonly gallery: Gallery,
    readonly concepts: ConceptModule | null,
  ) {}

  static async create(options: GeoLocatorOptions = {}): Promise<GeoLocator> {
    const gpu = options.gpu ?? (await getDevice());
    const progress = options.onProgress ?? (() => {});
    const download = downloadOptions(options);
    const open = (location: WeightLocation) => openLocation(location, download);

    progress({ stage: 'weights', what: 'CLIP vision tower', done: 0, total: 1 });
    const clipSource = await open(options.clipWeights ?? DEFAULT_LOCATIONS.clipWeights);
    let clip: ClipVisionModel;
    try {
      // A file from `geolens convert` carries its config.
      const configLocation = options.clipConfig ?? embeddedClipConfig(clipSource) ?? (options.clipWeights ? CLIP_VISION_PRESETS['ViT-L/14'] : DEFAULT_LOCATIONS.clipConfig);
      const config = await resolveVisionConfig(configLocation, download);
      clip = await ClipVisionModel.load(gpu, clipSource, config, { dtype: options.dtype });
    } finally {
      await closeOwned(clipSource, options.clipWeights);
    }
    progress({ stage: 'weights', what: 'CLIP vision tower', done: 1, total: 1 });

    progress({ stage: 'weights', what: 'GeoCLIP heads', done: 0, total: 1 });
    const geoclip = await loadGeoClip(gpu, options.geoclipWeights ?? DEFAULT_LOCATIONS.geoclip, download);
    progress({ stage: 'weights', what: 'GeoCLIP heads', done: 1, total: 1 });

    const shipped = options.galleryEmbeddings ? await (await import('./gallery-embeddings.js')).shippedGallery(gpu, geoclip, options.galleryEmbeddings, options.gallery, download) : null;
    const galleryInput = options.gallery ?? DEFAULT_LOCATIONS.gallery;
    const gps = shipped ? shipped.gps : galleryInput instanceof Float32Array ? galleryInput : await readGallery(galleryInput, download);
    const gallery = shipped ?? await buildGallery(geoclip, gps, {
      cache: options.galleryCache ?? (options.cacheDir ? fileGalleryCache(options.cacheDir) : undefined),
      onProgress: (done, total) => progress({ stage: 'gallery', what: 'gallery embeddings', done, total }),
    });
    if (gallery.fromCache) progress({ stage: 'gallery', what: 'gallery embeddings (from cache)', done: gallery.size, total: gallery.size });

    let concepts: ConceptModule | null = null;
    if (options.concepts) {
      const bankInput = options.concepts.bank;
      const bank: ConceptBank = isConceptBank(bankInput) ? bankInput : await loadConceptBank(bankInput);
      if (bank.dim !== gallery.dim) throw new ShapeError(`concept bank vectors are ${bank.dim}-d, GeoCLIP embeddings are ${gallery.dim}-d`);
      concepts = options.concepts.params ? await ConceptModule.load(gpu, bank, options.concepts.params) : new ConceptModule(gpu, bank);
    }
    return new GeoLocator(gpu, clip, geoclip, gallery, concepts);
  }

  /** Where each image was taken: for each input, its top places, best first. */
  async locate(images: ImageInput | ImageInput[], options: LocateOptions = {}): Promise<LocateResult[]> {
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 0) throw new GeolensError('locate: no images given');
    const topK = options.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1) throw new ShapeError(`locate: topK must be a positive integer, got ${topK}`);
    if (topK > this.gallery.size) throw new ShapeError(`locate: topK = ${topK} is more than the gallery's ${this.gallery.size} points`);

    const embeddings = await this.imageEmbeddings(list);
    try {
      const explain = this.concepts !== null && options.explain !== false;
      if (!explain) {
        const predictions = await predict(this.geoclip, embeddings, this.gallery, topK);
        return predictions.map((places) => ({ places }));
      }
      return await this.locateWithConcepts(embeddings, topK, options.rerankCandidates ?? 100);
    } finally {
      embeddings.release();
    }
  }

  /** GeoCLIP image embeddings [B, 512] (L2-normalized) for the images, e.g. to cache pairs for fit-concepts. */
  async imageEmbeddings(images: ImageInput[]): Promise<Tensor> {
    const size = this.clip.config.image_size;
    const pixels = new Float32Array(images.length * 3 * size * size);
    for (let i = 0; i < images.length; i++) {
      const raw = await decodeInput(images[i]!, i);
      pixels.set(preprocessImage(raw, { size, cropSize: size }), i * 3 * size * size);
    }
    const input = this.gpu.upload(pixels, [images.length, 3, size, size], 'f32', 'pixels');
    const features = this.clip.imageFeatures(input);
    input.release();
    const embeddings = this.geoclip.imageEmbeddings(features);
    features.release();
    return embeddings;
  }

  /** Frees the models' GPU memory. The device itself stays (it may be shared). */
  release(): void {
    this.clip.release();
    this.geoclip.release();
    this.gallery.release();
    this.concepts?.release();
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
export async function loadGeoClip(gpu: Gpu, location: WeightLocation | GeoClipWeights, download: OpenOptions = {}): Promise<GeoClip> {
  if (!isSplitGeoClip(location)) {
    const source = await openLocation(location, download);
    try {
      return await GeoClip.load(gpu, source);
    } finally {
      await closeOwned(source, location);
    }
  }
  const { imageMlp, locationEncoder, logitScale } = location;
  const opened: [WeightSource, WeightLocation][] = [];
  const open = async (where: WeightLocation) => {
    const source = await openLocation(where, download);
    opened.push([source, where]);
    return source;
  };
  try {
    const sources: GeoClipSources = {
      imageMlp: await open(imageMlp),
      locationEncoder: await open(locationEncoder),
      logitScale: typeof logitScale === 'number' ? logitScale : await open(logitScale),
    };
    return await GeoClip.load(gpu, sources);
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

export async function readGallery(location: string | URL, download: { offline?: boolean; cacheDir?: string }): Promise<Float32Array> {
  const text = typeof location === 'string' ? location : location.href;
  if (/^(https?:|hf:)/.test(text)) {
    const { downloadWeights } = await import('../weights/index.js');
    const cached = await downloadWeights(text, checkedDownload(text, download));
    return readGalleryCsv(typeof cached === 'string' ? cached : URL.createObjectURL(cached));
  }
  return readGalleryCsv(location);
}

async function decodeInput(input: ImageInput, index: number): Promise<RawImage> {
  if (typeof input === 'object' && input !== null && 'data' in input && 'width' in input && 'channels' in input) return input;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  try {
    if (isNode) {
      const { decodeImage } = await import('../model/decode-node.js');
      if (typeof input === 'string') return await decodeImage(await readImageFile(input));
      if (input instanceof ArrayBuffer) return await decodeImage(new Uint8Array(input));
      if (input instanceof Uint8Array) return await decodeImage(input);
      if (typeof Blob !== 'undefined' && input instanceof Blob) return await decodeImage(new Uint8Array(await input.arrayBuffer()));
      throw new ImageError('unsupported input in Node (give bytes, a Blob, decoded pixels or a path)');
    }
    const { decodeImage } = await import('../model/decode-browser.js');
    if (typeof input === 'string') {
      const response = await fetch(input);
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

async function readImageFile(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new ImageError(`cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

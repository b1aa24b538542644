// Where the API's files come from: the default locations, the known sizes and digests of those
// defaults, how a location becomes an opened source (through the download cache, checked), and the
// rule for closing it again (sources the caller opened stay open for them).
import { readGalleryDegrees } from '../model/geoclip/gallery.js';
import { CLIP_VOCAB_URL } from '../model/clip/tokenizer.js';
import { downloadBytes, downloadWeights, openWeights, type DownloadProgress, type OpenOptions, type WeightSource } from '../weights/index.js';

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

/** Download options for one file: the expected size and digest of a default file are added. */
export function checkedDownload<T extends OpenOptions>(location: string, download: T): T {
  return { ...download, ...KNOWN_FILES[location] };
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

/** True for a source the caller opened and passed in: the API reads it but never closes it. */
export function isOpenedSource(value: unknown): value is WeightSource {
  return typeof value === 'object' && value !== null && 'tensors' in value;
}

export function openLocation(location: WeightLocation, download: OpenOptions): Promise<WeightSource> {
  if (isOpenedSource(location)) return Promise.resolve(location);
  return openWeights(location, typeof location === 'string' ? checkedDownload(location, download) : download);
}

/** Opens `location`, runs `use` on it, and closes it again unless the caller opened it. */
export async function withSource<T>(location: WeightLocation, download: OpenOptions, use: (source: WeightSource) => Promise<T>): Promise<T> {
  const source = await openLocation(location, download);
  try {
    return await use(source);
  } finally {
    if (!isOpenedSource(location)) await source.close();
  }
}

/** CLIP's BPE vocabulary as the tokenizer takes it: http(s) and hf: through the checked cache, paths and bytes as given. */
export async function vocabularyFile(vocabulary: string | URL | Uint8Array | undefined, download: OpenOptions): Promise<string | URL | Uint8Array> {
  const location = vocabulary ?? CLIP_VOCAB_URL;
  if (typeof location === 'string' && /^(https?|hf):/.test(location)) return downloadBytes(location, checkedDownload(location, download));
  return location;
}

/** A GPS gallery: CSV (`LAT,LON`) location or [N, 2] degrees. */
export async function readGallery(location: string | URL | Float32Array | Float64Array, download: { offline?: boolean; cacheDir?: string }): Promise<Float32Array | Float64Array> {
  if (location instanceof Float32Array || location instanceof Float64Array) return location;
  const text = typeof location === 'string' ? location : location.href;
  if (/^(https?:|hf:)/.test(text)) {
    const cached = await downloadWeights(text, checkedDownload(text, download));
    return readGalleryDegrees(typeof cached === 'string' ? cached : URL.createObjectURL(cached));
  }
  return readGalleryDegrees(location);
}

/** A weight location as a short name for messages and progress bars. */
export function describeLocation(location: WeightLocation): string {
  if (typeof location === 'string') return location;
  if (location instanceof URL) return location.href;
  if (location instanceof Uint8Array) return `${location.byteLength} bytes`;
  return 'an opened source';
}

import { validateGps } from '../../kernels/location-features.js';
import { searchTopK, uploadGalleryChunks } from '../../kernels/search.js';
import { formatShape, GeolensError, isNode, ShapeError, type Tensor } from '../../runtime/index.js';
import type { GeoClip } from './geoclip.js';
import { sha256Hex } from '../../io/sha256.js';
import { defaultCacheDir, GALLERY_CACHE_FOLDER, GALLERY_CACHE_NAME, resolveAgainstPage } from '../../weights/index.js';

/**
 * The GPS gallery: candidate coordinates, their GeoCLIP location embeddings on the GPU (as chunks for
 * searchTopK), and the cache that spares recomputing them (100k points is ~1.9 TFLOP of MLPs).
 */
export class Gallery {
  constructor(
    /** [size, 2] (lat, lon) in degrees, gallery order. */
    readonly gps: Float32Array,
    /** L2-normalized location embeddings, rows in gallery order across chunks. */
    readonly chunks: Tensor[],
    readonly dim: number,
    /** exp(logit_scale) of the model that embedded it: multiplies cosines into logits. */
    readonly scale: number,
    /** Whether the embeddings came from the cache rather than the GPU. */
    readonly fromCache: boolean,
    readonly cacheKey: string,
    /** [size, 2] as the gallery file gave them (f64), when known: predictions report these exactly. */
    readonly degrees: Float64Array | null = null,
  ) {}

  get size(): number {
    return this.gps.length / 2;
  }

  /**
   * Rows `indices` (gallery order) gathered into one [indices.length, dim] f32 tensor the caller
   * releases: kernels that read candidate rows from one binding then work on galleries of any size.
   */
  gatherRows(indices: ArrayLike<number>, label = 'gallery.rows'): Tensor {
    const starts: number[] = [];
    let start = 0;
    for (const chunk of this.chunks) {
      if (chunk.dtype !== 'f32') throw new GeolensError('gathering gallery rows needs an f32 gallery');
      starts.push(start);
      start += chunk.shape[0]!;
    }
    const gpu = this.chunks[0]!.gpu;
    const rowBytes = this.dim * 4;
    const gathered = gpu.empty([indices.length, this.dim], 'f32', label);
    for (let slot = 0; slot < indices.length; slot++) {
      const index = indices[slot]!;
      let c = starts.length - 1;
      while (starts[c]! > index) c--;
      gpu.copy(this.chunks[c]!.buffer, (index - starts[c]!) * rowBytes, gathered.buffer, slot * rowBytes, rowBytes);
    }
    return gathered;
  }

  release(): void {
    for (const chunk of this.chunks) chunk.release();
  }
}

/** Where embeddings are cached by key: a miss is null; a failing get counts as a miss, a failing put is only warned about. */
export interface GalleryCache {
  get(key: string): Promise<Float32Array | null>;
  put(key: string, embeddings: Float32Array): Promise<void>;
}

export interface GalleryOptions {
  /** Points embedded per GPU pass (memory: ~3 × rows × 4 KB of activations). Default 2048. */
  chunkRows?: number;
  /** Called with done = 0 and after each embedded chunk, or once with done = total when loaded from cache. */
  onProgress?: (done: number, total: number) => void;
  /** false: no cache; a GalleryCache; default: a file under the download cache's folder in Node (defaultCacheDir: $GEOLENS_CACHE or ~/.cache/geolens), Cache API in browsers. */
  cache?: GalleryCache | false;
  /** Storage of the search chunks: f16 halves the memory search reads. Default f32. */
  dtype?: 'f32' | 'f16';
  /** At most this many rows per search chunk (default: as many as one binding holds). */
  maxRowsPerChunk?: number;
  /** Checked between embedded chunks: an abort stops with an AbortError-named GeolensError. */
  signal?: AbortSignal;
  /** Where a note such as "cache not written" goes (default console.warn). */
  log?: (message: string) => void;
}

export interface Prediction {
  lat: number;
  lon: number;
  /** Softmax over the whole gallery of scale · cosine. */
  probability: number;
  galleryIndex: number;
}

/**
 * Parses a gallery CSV as GeoCLIP ships it (`LAT,LON` header, one point per line; other columns and
 * column order are allowed). Returns [N, 2] (lat, lon). Throws naming the line for a bad number or a
 * coordinate out of range, and when no point is given.
 */
export function parseGalleryCsv(text: string, what = 'gallery CSV'): Float32Array {
  return new Float32Array(parseGalleryDegrees(text, what));
}

/** parseGalleryCsv's values as parsed, in f64, so results can give the file's own numbers back. */
export function parseGalleryDegrees(text: string, what = 'gallery CSV'): Float64Array {
  const lines = text.split(/\r?\n/);
  let first = 0;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (first === lines.length) throw new GeolensError(`${what}: the gallery is empty (no lines)`);
  const header = lines[first]!.split(',').map((h) => h.trim().replace(/^"|"$/g, '').toUpperCase());
  let latColumn = header.indexOf('LAT');
  let lonColumn = header.indexOf('LON');
  if (latColumn < 0 || lonColumn < 0) {
    const looksNumeric = header.length >= 2 && header.slice(0, 2).every((cell) => Number.isFinite(parseDecimal(cell)));
    if (!looksNumeric) throw new GeolensError(`${what}: line ${first + 1} must be a header naming LAT and LON columns, got '${lines[first]!.slice(0, 80)}'`);
    // No header: plain "lat,lon" rows.
    latColumn = 0;
    lonColumn = 1;
    first--;
  }
  const values: number[] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const lat = parseCell(cells[latColumn], 'LAT', i + 1, what);
    const lon = parseCell(cells[lonColumn], 'LON', i + 1, what);
    if (lat < -90 || lat > 90) throw new GeolensError(`${what}: line ${i + 1} has latitude ${lat}, outside [-90, 90]`);
    if (lon < -180 || lon > 180) throw new GeolensError(`${what}: line ${i + 1} has longitude ${lon}, outside [-180, 180]`);
    values.push(lat, lon);
  }
  if (values.length === 0) throw new GeolensError(`${what}: the gallery is empty (a header but no points)`);
  return new Float64Array(values);
}

/** Plain decimal numbers only: Number() would also read '0x10' as 16, '0b1' as 1 and '1_0'… as NaN. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** `text` as a number when it is a plain decimal (the labels CSV of `geolens eval` reads its cells so too), else NaN. */
export function parseDecimal(text: string): number {
  return DECIMAL.test(text) ? Number(text) : NaN;
}

function parseCell(cell: string | undefined, column: string, line: number, what: string): number {
  const text = cell?.trim().replace(/^"|"$/g, '') ?? '';
  const value = parseDecimal(text);
  if (!Number.isFinite(value)) throw new GeolensError(`${what}: line ${line} has ${cell === undefined ? 'no' : `'${text.slice(0, 40)}' as`} ${column} value, not a finite number (plain decimals only)`);
  return value;
}

/** Reads a gallery CSV from a Node path, a file: URL, or anything fetch reads (http(s), blob:, data:). */
export async function readGalleryCsv(location: string | URL): Promise<Float32Array> {
  return new Float32Array(await readGalleryDegrees(location));
}

/** readGalleryCsv's values as parsed, in f64. */
export async function readGalleryDegrees(location: string | URL): Promise<Float64Array> {
  const text = resolveAgainstPage(location instanceof URL ? location.href : location);
  if (/^(https?|blob|data):/i.test(text)) {
    const response = await fetch(text);
    if (!response.ok) throw new GeolensError(`gallery ${text}: HTTP ${response.status} ${response.statusText}`);
    const { responseText, READ_LIMITS } = await import('../../io/read-file.js');
    return parseGalleryDegrees(await responseText(response, READ_LIMITS.csvBytes, `gallery ${text.slice(0, 100)}`, GeolensError), `gallery ${text}`);
  }
  const { readRegularFile, READ_LIMITS } = await import('../../io/read-file.js');
  const path = text.startsWith('file://') ? decodeURIComponent(new URL(text).pathname) : text;
  // FIFOs and devices are refused before they are opened; the size is capped before it is read.
  const bytes = await readRegularFile(path, READ_LIMITS.csvBytes, 'gallery', GeolensError);
  let csv: string;
  try {
    csv = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new GeolensError(`gallery ${path}: not UTF-8 text, so not a CSV file`);
  }
  return parseGalleryDegrees(csv, `gallery ${path}`);
}

/** The cache key: the location encoder's weight digest plus the gallery's coordinates. */
export async function galleryCacheKey(model: GeoClip, gps: Float32Array): Promise<string> {
  const tag = new TextEncoder().encode(`geolens-gallery-v1|${model.locationDigest}|`);
  return sha256Hex([tag, new Uint8Array(gps.buffer, gps.byteOffset, gps.byteLength)]);
}

/**
 * Embeds every gallery point with the model's location encoder (on the GPU, `chunkRows` at a time, with
 * progress), or takes the embeddings from the cache when this model and gallery were seen before, and
 * uploads them as search chunks.
 */
export async function buildGallery(model: GeoClip, coordinates: Float32Array | Float64Array, options: GalleryOptions = {}): Promise<Gallery> {
  const gps = coordinates instanceof Float64Array ? new Float32Array(coordinates) : coordinates;
  if (gps.length === 0) throw new GeolensError('gallery: the gallery is empty (0 points)');
  validateGps(gps, 'gallery');
  const chunkRows = options.chunkRows ?? 2048;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new ShapeError(`gallery: chunkRows must be a positive integer, got ${chunkRows}`);
  const size = gps.length / 2;
  const dim = model.locationEncoder.embeddingSize;
  const cache = options.cache === false ? null : (options.cache ?? (await defaultGalleryCache()));
  const key = await galleryCacheKey(model, gps);

  let embeddings = cache ? await cache.get(key).catch(() => null) : null;
  if (embeddings && embeddings.length !== size * dim) embeddings = null;
  const fromCache = embeddings !== null;
  if (embeddings) {
    options.onProgress?.(size, size);
  } else {
    options.onProgress?.(0, size);
    embeddings = new Float32Array(size * dim);
    for (let first = 0; first < size; first += chunkRows) {
      if (options.signal?.aborted) throw abortError('gallery embedding');
      const rows = Math.min(chunkRows, size - first);
      const chunk = model.locationEmbeddings(gps.subarray(2 * first, 2 * (first + rows)));
      embeddings.set(await chunk.read(), first * dim);
      chunk.release();
      options.onProgress?.(first + rows, size);
    }
    // A cache that cannot be written (read-only home, full disk) costs the next run time, not this answer.
    if (cache) await cache.put(key, embeddings).catch((error: Error) => (options.log ?? console.warn)(`geolens: gallery cache not written: ${error.message}`));
  }
  const chunks = uploadGalleryChunks(model.gpu, embeddings, size, dim, options.maxRowsPerChunk, options.dtype ?? 'f32');
  return new Gallery(gps, chunks, dim, model.scale, fromCache, key, coordinates instanceof Float64Array ? coordinates : null);
}

/**
 * Top-k gallery points per image: imageEmbedding [B, D] (L2-normalized, from GeoClip.imageEmbeddings)
 * → B lists of k predictions, best first, probabilities as softmax over the whole gallery of
 * scale · cosine (GeoCLIP's logits). The scale is the gallery's (its model's) unless a model is passed first.
 */
export function predict(imageEmbedding: Tensor, gallery: Gallery, k: number): Promise<Prediction[][]>;
export function predict(model: Pick<GeoClip, 'scale'>, imageEmbedding: Tensor, gallery: Gallery, k: number): Promise<Prediction[][]>;
export async function predict(...args: [Tensor, Gallery, number] | [Pick<GeoClip, 'scale'>, Tensor, Gallery, number]): Promise<Prediction[][]> {
  const [scale, imageEmbedding, gallery, k] = args.length === 3 ? [args[1].scale, ...args] : [args[0].scale, args[1], args[2], args[3]];
  if (!Number.isInteger(k) || k < 1) throw new ShapeError(`predict: k must be a positive integer, got ${k}`);
  if (k > gallery.size) throw new ShapeError(`predict: k = ${k} is more than the gallery's ${gallery.size} points`);
  if (imageEmbedding.rank !== 2 || imageEmbedding.shape[1] !== gallery.dim) {
    throw new ShapeError(`predict: image embeddings must be [B, ${gallery.dim}], got ${formatShape(imageEmbedding.shape)}`);
  }
  const result = await searchTopK(imageEmbedding, gallery.chunks, { k, scale });
  const out: Prediction[][] = [];
  for (let q = 0; q < result.queries; q++) {
    const row: Prediction[] = [];
    for (let j = 0; j < k; j++) {
      const galleryIndex = result.indices[q * k + j]!;
      const [lat, lon] = gallery.degrees
        ? [gallery.degrees[2 * galleryIndex]!, gallery.degrees[2 * galleryIndex + 1]!]
        : [shortestFloat32(gallery.gps[2 * galleryIndex]!), shortestFloat32(gallery.gps[2 * galleryIndex + 1]!)];
      row.push({ lat, lon, probability: result.probabilities[q * k + j]!, galleryIndex });
    }
    out.push(row);
  }
  return out;
}

/**
 * The shortest decimal that is the same float32: `38.417856` comes back as 38.417856, not as the
 * float32's exact 38.41785430908203. For galleries given as f32 only; parsed files keep their own f64.
 */
export function shortestFloat32(value: number): number {
  const single = Math.fround(value);
  for (let digits = 1; digits < 10; digits++) {
    const candidate = Number(single.toPrecision(digits));
    if (Math.fround(candidate) === single) return candidate;
  }
  return single;
}

function abortError(what: string): GeolensError {
  const error = new GeolensError(`${what} aborted`);
  error.name = 'AbortError';
  return error;
}

const MAGIC = 0x4c41474c; // "LGAL" little-endian
/** 2: the header carries the sha256 of the rows (1 had none and is read as a miss). */
const VERSION = 2;
const HEADER_BYTES = 48;

/**
 * The cache record: a 48-byte header (magic, version, value count, 0, then the sha256 of the f32 rows)
 * and the rows. The key names what was embedded; the checksum proves these rows are what was written, so
 * a flipped bit or an altered row costs a rebuild instead of a wrong answer.
 */
export async function encodeGalleryRecord(embeddings: Float32Array): Promise<Uint8Array> {
  const rows = new Uint8Array(embeddings.buffer, embeddings.byteOffset, embeddings.byteLength);
  const out = new Uint8Array(HEADER_BYTES + rows.byteLength);
  new Uint32Array(out.buffer, 0, 4).set([MAGIC, VERSION, embeddings.length, 0]);
  out.set(await digest(rows), 16);
  out.set(rows, HEADER_BYTES);
  return out;
}

/** The rows of a record, or null when its header, length or checksum is wrong. */
export async function decodeGalleryRecord(bytes: Uint8Array): Promise<Float32Array | null> {
  if (bytes.byteLength < HEADER_BYTES || bytes.byteLength % 4 !== 0) return null;
  const header = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 16));
  if (header[0] !== MAGIC || header[1] !== VERSION || header[2] !== (bytes.byteLength - HEADER_BYTES) / 4) return null;
  const rows = bytes.subarray(HEADER_BYTES);
  const expected = bytes.subarray(16, 48);
  const actual = await digest(rows);
  if (actual.some((byte, i) => byte !== expected[i])) return null;
  return new Float32Array(rows.buffer.slice(rows.byteOffset, rows.byteOffset + rows.byteLength));
}

async function digest(bytes: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) return new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  const hex = await sha256Hex([bytes]);
  return new Uint8Array(hex.match(/../g)!.map((pair) => parseInt(pair, 16)));
}

/**
 * Files `<dir>/galleries/<key>.bin` holding one record (encodeGalleryRecord). Written to a temporary name
 * and renamed, so a crash never leaves a half file under the real name; a file that does not parse or
 * fails its checksum counts as a miss, and the rebuilt gallery replaces it.
 */
export function fileGalleryCache(dir: string): GalleryCache {
  const paths = async () => {
    const path = await import('node:path');
    return { folder: path.join(dir, GALLERY_CACHE_FOLDER), file: (key: string) => path.join(dir, GALLERY_CACHE_FOLDER, `${key}.bin`) };
  };
  return {
    async get(key) {
      const { readRegularFile } = await import('../../io/read-file.js');
      const { file } = await paths();
      let bytes: Uint8Array;
      try {
        // 4 GiB: more than a 1M-point gallery of 512-d f32 rows needs.
        bytes = await readRegularFile(file(key), 2 ** 32, 'gallery cache', GeolensError);
      } catch {
        return null;
      }
      return decodeGalleryRecord(bytes);
    },
    async put(key, embeddings) {
      const fs = await import('node:fs/promises');
      const { removeOrphans } = await import('../../weights/hub/cache-files.js');
      const { folder, file } = await paths();
      await fs.mkdir(folder, { recursive: true });
      await removeOrphans(folder).catch(() => {});
      const temporary = `${file(key)}.${process.pid}.tmp`;
      await fs.writeFile(temporary, await encodeGalleryRecord(embeddings));
      await fs.rename(temporary, file(key));
    },
  };
}

/** Browsers: the Cache API under `geolens-galleries`; a cache the page may not use acts as always empty. */
export function browserGalleryCache(): GalleryCache {
  const url = (key: string) => `https://geolens.invalid/galleries/v${VERSION}/${key}`;
  const open = async () => (typeof caches === 'undefined' ? null : caches.open(GALLERY_CACHE_NAME).catch(() => null));
  return {
    async get(key) {
      const cache = await open();
      const response = await cache?.match(url(key));
      if (!response) return null;
      return decodeGalleryRecord(new Uint8Array(await response.arrayBuffer()));
    },
    async put(key, embeddings) {
      const cache = await open();
      const record = await encodeGalleryRecord(embeddings);
      await cache?.put(url(key), new Response(record.buffer as ArrayBuffer, { headers: { 'content-type': 'application/octet-stream' } })).catch(() => {});
    },
  };
}

async function defaultGalleryCache(): Promise<GalleryCache> {
  return isNode() ? fileGalleryCache(await defaultCacheDir()) : browserGalleryCache();
}

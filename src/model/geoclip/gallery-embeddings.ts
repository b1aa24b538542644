/**
 * Shipped gallery embeddings: the gallery's GeoCLIP location embeddings computed once and stored as a
 * safetensors file, so a first run searches at once instead of embedding 100k points (~1.9 TFLOP).
 *
 * File: `gps` F32 [N, 2] (lat, lon) and the embeddings [N, D], L2-normalized, either `embeddings` F16 or
 * q8 (`embeddings.q8` I8 + `embeddings.scales` F16 per 32 values, read through src/weights/quantized.ts);
 * metadata `geolens.gallery_embeddings` JSON {version, dtype, locationDigest, galleryDigest, key}:
 * the digest of the location-encoder weights (GeoClip.locationDigest), of the coordinates, and the
 * gallery cache key they make. A file is used only with the very weights it was made from, and only for
 * the gallery it was made from when the caller names one. `geolens.tensor_digests` records the digest of
 * every stored tensor (src/weights/quantized.ts), checked as the rows are read: a swapped, edited or
 * damaged row is refused naming the file and the tensor. A file written before those digests existed
 * still loads, with a warning.
 */
import { uploadGalleryChunks } from '../../kernels/search.js';
import { GeolensError, QUANT_BLOCK, type Gpu } from '../../runtime/index.js';
import {
  encodeF16, isDigestChecked, isQuantizedSource, isRanged, QUANTIZATION_KEY, QuantizedWeightSource, TENSOR_DIGESTS_KEY, tensorDigestsFor,
  type SafetensorsWriteEntry, type WeightSource,
} from '../../weights/index.js';
import { quantizeMatrix } from '../../kernels/quantize.js';
import { Gallery, galleryCacheKey } from './gallery.js';
import type { GeoClip } from './geoclip.js';
import { sha256Hex } from '../../io/sha256.js';

export const GALLERY_EMBEDDINGS_KEY = 'geolens.gallery_embeddings';

/** A gallery embeddings file was made from other weights or another gallery, or is malformed. */
export class GalleryEmbeddingsError extends GeolensError {
  override name = 'GalleryEmbeddingsError';
}

interface Identity {
  version: 1;
  dtype: 'f16' | 'q8';
  locationDigest: string;
  galleryDigest: string;
  key: string;
}

export function galleryDigest(gps: Float32Array): Promise<string> {
  return sha256Hex([new TextEncoder().encode('geolens-gallery-gps|'), new Uint8Array(gps.buffer, gps.byteOffset, gps.byteLength)]);
}

/** The file's entries and metadata for normalized embeddings [N, D] of `gps` made by `model`. */
export async function galleryEmbeddingsEntries(model: GeoClip, gps: Float32Array, embeddings: Float32Array, dtype: 'f16' | 'q8'):
  Promise<{ entries: SafetensorsWriteEntry[]; metadata: Record<string, string> }> {
  if (dtype !== 'f16' && dtype !== 'q8') throw new GalleryEmbeddingsError(`gallery embeddings are stored f16 or q8, not '${dtype as string}'`);
  const size = gps.length / 2;
  const dim = embeddings.length / size;
  if (!Number.isInteger(dim) || dim < 1) throw new GalleryEmbeddingsError(`gallery embeddings: ${embeddings.length} values do not divide into ${size} points`);
  const identity: Identity = {
    version: 1, dtype, locationDigest: model.locationDigest, galleryDigest: await galleryDigest(gps), key: await galleryCacheKey(model, gps),
  };
  const metadata: Record<string, string> = { [GALLERY_EMBEDDINGS_KEY]: JSON.stringify(identity) };
  const entries: SafetensorsWriteEntry[] = [{ name: 'gps', dtype: 'F32', shape: [size, 2], data: () => new Uint8Array(gps.buffer, gps.byteOffset, gps.byteLength) }];
  if (dtype === 'f16') {
    const halves = new Uint16Array(embeddings.length);
    encodeF16(embeddings, halves);
    entries.push({ name: 'embeddings', dtype: 'F16', shape: [size, dim], data: () => new Uint8Array(halves.buffer) });
  } else {
    const q = quantizeMatrix(embeddings, [size, dim], 'q8', 'gallery embeddings');
    entries.push({ name: 'embeddings.q8', dtype: 'I8', shape: [size, dim], data: () => new Uint8Array(q.values.buffer, q.values.byteOffset, q.values.byteLength) });
    entries.push({ name: 'embeddings.scales', dtype: 'F16', shape: [size, Math.ceil(dim / QUANT_BLOCK)], data: () => new Uint8Array(q.scales.buffer) });
    metadata[QUANTIZATION_KEY] = JSON.stringify({ block: QUANT_BLOCK, tensors: { embeddings: { scheme: 'q8', shape: [size, dim] } } });
  }
  Object.assign(metadata, await tensorDigestsFor(entries));
  return { entries, metadata };
}

export interface LoadGalleryEmbeddingsOptions {
  /** The gallery the caller means; the file must hold exactly these points. Default: the file's own. */
  gps?: Float32Array;
  /** Where a file without tensor digests is reported (default console.warn). */
  warn?: (message: string) => void;
  dtype?: 'f32' | 'f16';
  maxRowsPerChunk?: number;
}

/**
 * A Gallery from an embeddings file, after checking it was made from `model`'s location-encoder weights
 * (and from `options.gps` when given). Rows are renormalized after f16 / q8 rounding.
 */
export async function loadGalleryEmbeddings(gpu: Gpu, model: GeoClip, given: WeightSource, options: LoadGalleryEmbeddingsOptions = {}): Promise<Gallery> {
  const metadata = (given as { metadata?: Readonly<Record<string, string>> }).metadata ?? {};
  let file = given;
  if (metadata[TENSOR_DIGESTS_KEY] === undefined) {
    // A quantized file was already reported when it was opened (QuantizedWeightSource.wrap).
    if (metadata[GALLERY_EMBEDDINGS_KEY] !== undefined && !isQuantizedSource(file)) {
      (options.warn ?? console.warn)('geolens: these gallery embeddings record no tensor digests (written before geolens recorded them), so a damaged row goes unnoticed; rebuild them with `geolens convert --gallery-embeddings`');
    }
  } else if (!isDigestChecked(file) && isRanged(file)) {
    // A source opened by the caller rather than by openWeights: checked here all the same.
    file = QuantizedWeightSource.wrap(file, 'gallery embeddings');
  }
  const text = metadata[GALLERY_EMBEDDINGS_KEY];
  if (text === undefined) throw new GalleryEmbeddingsError(`not a gallery embeddings file: no '${GALLERY_EMBEDDINGS_KEY}' metadata (write one with \`geolens convert --gallery-embeddings\`)`);
  let identity: Identity;
  try {
    identity = JSON.parse(text) as Identity;
  } catch {
    throw new GalleryEmbeddingsError(`gallery embeddings: metadata '${GALLERY_EMBEDDINGS_KEY}' is not valid JSON`);
  }
  if (identity.version !== 1 || typeof identity.locationDigest !== 'string' || typeof identity.galleryDigest !== 'string') {
    throw new GalleryEmbeddingsError(`gallery embeddings: unsupported metadata ${text.slice(0, 80)}`);
  }
  if (identity.locationDigest !== model.locationDigest) {
    throw new GalleryEmbeddingsError(`gallery embeddings were made from other location-encoder weights (file ${identity.locationDigest.slice(0, 12)}…, loaded weights ${model.locationDigest.slice(0, 12)}…); rebuild them with \`geolens convert --gallery-embeddings\` for these weights`);
  }
  const gpsInfo = file.tensors.get('gps');
  const embeddingInfo = file.tensors.get('embeddings');
  if (!gpsInfo || !embeddingInfo || gpsInfo.shape.length !== 2 || gpsInfo.shape[1] !== 2 || embeddingInfo.shape.length !== 2 || embeddingInfo.shape[0] !== gpsInfo.shape[0]) {
    throw new GalleryEmbeddingsError('gallery embeddings: the file needs gps [N, 2] and embeddings [N, D] with the same N');
  }
  const gps = await file.readF32('gps');
  if ((await galleryDigest(gps)) !== identity.galleryDigest) throw new GalleryEmbeddingsError('gallery embeddings: the stored coordinates do not match the digest in the metadata (damaged file)');
  if (options.gps && (await galleryDigest(options.gps)) !== identity.galleryDigest) {
    throw new GalleryEmbeddingsError(`gallery embeddings were made for another gallery (${gps.length / 2} points in the file, ${options.gps.length / 2} given)`);
  }
  const [size, dim] = embeddingInfo.shape as [number, number];
  if (dim !== model.locationEncoder.embeddingSize) {
    throw new GalleryEmbeddingsError(`gallery embeddings are ${dim}-d; the location encoder makes ${model.locationEncoder.embeddingSize}-d`);
  }
  const embeddings = await file.readF32('embeddings');
  for (let r = 0; r < size; r++) {
    let norm = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) norm += embeddings[i]! * embeddings[i]!;
    if (!(norm > 0) || !Number.isFinite(norm)) throw new GalleryEmbeddingsError(`gallery embeddings: row ${r} is zero or not finite`);
    const inverse = 1 / Math.sqrt(norm);
    for (let i = r * dim; i < (r + 1) * dim; i++) embeddings[i]! *= inverse;
  }
  const chunks = uploadGalleryChunks(gpu, embeddings, size, dim, options.maxRowsPerChunk, options.dtype ?? 'f32');
  return new Gallery(gps, chunks, dim, model.scale, true, identity.key);
}

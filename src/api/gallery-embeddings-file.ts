// Shipped gallery embeddings on the API side: GeoLocator.create({ galleryEmbeddings }) loads them, and
// `geolens convert --gallery-embeddings` writes them (format and checks in src/model/geoclip/gallery-embeddings.ts).
import { buildGallery, type Gallery, type GalleryCache } from '../model/geoclip/gallery.js';
import { galleryEmbeddingsEntries, loadGalleryEmbeddings } from '../model/geoclip/gallery-embeddings.js';
import type { GeoClip } from '../model/geoclip/geoclip.js';
import { getDevice, type Gpu } from '../runtime/index.js';
import { writeSafetensorsToPath, type OpenOptions } from '../weights/index.js';
import { loadGeoClip } from './loaders.js';
import { DEFAULT_LOCATIONS, readGallery, withSource, type GeoClipWeights, type WeightLocation } from './sources.js';

/** The gallery from an embeddings file made from `geoclip`'s weights (and from `gallery`'s points when given). */
export async function shippedGallery(gpu: Gpu, geoclip: GeoClip, location: WeightLocation, gallery: string | URL | Float32Array | Float64Array | undefined,
  download: OpenOptions): Promise<Gallery> {
  const gps = gallery === undefined ? undefined : new Float32Array(await readGallery(gallery, download));
  return withSource(location, download, (file) => loadGalleryEmbeddings(gpu, geoclip, file, { gps }));
}

export interface WriteGalleryEmbeddingsOptions {
  /** GeoCLIP heads (default: the release). */
  geoclipWeights?: WeightLocation | GeoClipWeights;
  /** Gallery CSV location or [N, 2] degrees (default: GeoCLIP's 100k points). */
  gallery?: string | URL | Float32Array;
  dtype: 'f16' | 'q8';
  /** Node path to write. */
  out: string;
  /** Points per GPU pass. */
  batch?: number;
  download?: OpenOptions;
  gpu?: Gpu;
}

/** Embeds the gallery with the heads' location encoder and writes the file; returns a one-line summary. */
export async function writeGalleryEmbeddings(options: WriteGalleryEmbeddingsOptions): Promise<string> {
  const gpu = options.gpu ?? (await getDevice());
  const download = options.download ?? {};
  const geoclip = await loadGeoClip(gpu, options.geoclipWeights ?? DEFAULT_LOCATIONS.geoclip, download);
  try {
    const galleryInput = options.gallery ?? DEFAULT_LOCATIONS.gallery;
    const degrees = await readGallery(galleryInput, download);
    const gps = degrees instanceof Float32Array ? degrees : new Float32Array(degrees);
    // buildGallery hands the normalized embeddings to its cache; this one keeps them for the file.
    let embeddings: Float32Array | null = null;
    const capture: GalleryCache = { get: async () => null, put: async (_key, values) => void (embeddings = values) };
    const gallery = await buildGallery(geoclip, gps, { cache: capture, chunkRows: options.batch });
    gallery.release();
    const { entries, metadata } = await galleryEmbeddingsEntries(geoclip, gps, embeddings!, options.dtype);
    const bytes = await writeSafetensorsToPath(options.out, entries, metadata);
    return `wrote ${options.out}: ${gps.length / 2} gallery embeddings (${gallery.dim}-d, ${options.dtype}), ${(bytes / 1e6).toFixed(1)} MB`;
  } finally {
    geoclip.release();
  }
}

// The published declarations name WebGPU's types (GPUDevice, GPUBuffer…). TypeScript 6 and later carry
// them in the DOM lib, so the declarations bring that lib along (most Node projects leave it out); before
// 6, the package's types entry for those versions (dist/types/ts5.d.ts, see build.mjs) adds @webgpu/types.
/// <reference lib="dom" preserve="true" />
/**
 * geolens public API. Everything a user needs is exported here; deeper modules may change.
 *
 * @packageDocumentation
 * @module geolens
 */
export {
  GeoLocator,
  DEFAULT_LOCATIONS,
  type GeoLocatorOptions,
  type GeoClipWeights,
  type WeightLocation,
  type ImageInput,
  type LocateOptions,
  type LocateResult,
  type Place,
  type PlaceConcepts,
  type LoadProgress,
  type LocateFailure,
  type EmbedOptions,
} from './geolocator.js';
export { AbortError } from '../runtime/abort.js';
export { buildConceptBankFromClip, conceptBankToSafetensors, loadConceptBank, DEFAULT_CONCEPT_PROMPTS, type ConceptBank, type ConceptPrompt, type ConceptBankBuildOptions } from './concept-bank-builder.js';
export { getDevice, createDevice, Gpu, Tensor, GeolensError, ShapeError, NoAdapterError, DeviceError, type DeviceOptions } from '../runtime/index.js';
export { ImageError, preprocessImage, type RawImage } from '../image/image.js';
export { ImageFetchError, imageReadLimits, readImage, type ReadImageOptions } from '../image/read.js';
export type { Prediction } from '../model/geoclip/gallery.js';
export type { ConceptWeight, PlaceExplanation } from '../model/concepts/module.js';
export { WeightsError, openWeights, downloadWeights } from '../weights/index.js';
export { clearCache, listCache, type CacheOptions, type CacheEntry, type ClearedCache } from '../weights/hub/cache-admin.js';
export { refineCost, REFINE_DEFAULTS, type RefineOptions, type RefinedPlace } from '../geo/refine.js';
export { readExifGps, type ExifGps, type ExifReport } from '../geo/exif.js';
export { haversineKm, EARTH_RADIUS_KM } from '../geo/distance.js';
export { mergePlaces, DEFAULT_MERGE_KM, type MergedPlace } from '../geo/merge.js';
export { loadPlaceNamer, type PlaceName, type PlaceNamer, type CitiesSource } from '../geo/names.js';
export type { Heatmap, HeatmapOptions } from '../geo/heatmap.js';
export { writeGalleryEmbeddings, type WriteGalleryEmbeddingsOptions } from './gallery-embeddings-file.js';
export { GalleryEmbeddingsError } from '../model/geoclip/gallery-embeddings.js';

/**
 * geolens public API. Everything a user needs is exported here; deeper modules may change.
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
} from './geolocator.js';
export { buildConceptBankFromClip, conceptBankToSafetensors, loadConceptBank, DEFAULT_CONCEPT_PROMPTS, type ConceptBank, type ConceptPrompt, type ConceptBankBuildOptions } from './concepts.js';
export { getDevice, createDevice, Gpu, Tensor, GeolensError, ShapeError, NoAdapterError, DeviceError, type DeviceOptions } from '../runtime/index.js';
export { ImageError, preprocessImage, type RawImage } from '../model/image.js';
export type { Prediction } from '../model/gallery.js';
export type { ConceptWeight, PlaceExplanation } from '../model/concepts.js';
export { WeightsError, openWeights, downloadWeights } from '../weights/index.js';
export { writeGalleryEmbeddings, type WriteGalleryEmbeddingsOptions } from './gallery-embeddings.js';
export { GalleryEmbeddingsError } from '../model/gallery-embeddings.js';

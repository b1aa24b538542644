export { WeightsError, MissingTensorError } from './errors.js';
export { type TensorInfo, type WeightDType, WEIGHT_DTYPE_BYTES, decodeToF32, encodeF16 } from './dtypes.js';
export { type ByteSource, MemoryByteSource, FileByteSource, BlobByteSource, HttpByteSource, type FetchLike } from './bytes.js';
export { type WeightSource, type RangedWeightSource, isRanged } from './source.js';
export { SafetensorsSource, parseHeader as parseSafetensorsHeader } from './safetensors.js';
export { openWeights, openBytes, type OpenOptions } from './open.js';
export { uploadWeight, type UploadOptions } from './upload.js';
export { PthSource } from './pth.js';
export { ZipArchive, crc32 } from './zip.js';
export { unpickle, PickleGlobal, PickleTuple, type PickleValue } from './pickle.js';
export {
  type ClipConfig, type ClipVisionConfig, type ClipTextConfig, parseClipConfig, parseClipVisionConfig, parseClipTextConfig,
  clipVisionShapes, clipTextShapes, clipShapes, checkTensors, renameTensors, type TensorReport, type CheckOptions,
} from './clip-config.js';
export { downloadWeights, resolveUrl, cachePath, defaultCacheDir, loadJson, type DownloadOptions, type DownloadProgress } from './hub.js';

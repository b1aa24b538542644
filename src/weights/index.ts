/**
 * Checkpoints in, GPU tensors out. `openWeights` opens safetensors or PyTorch `.pth` from a Node path, an
 * http(s) URL (HTTP Range reads), `hf:owner/repo/file` (through the download cache), bytes or a Blob, and
 * reads nothing but headers until a tensor is asked for; `uploadWeight` streams one tensor to the GPU as
 * f32 or packed f16. `parseClipConfig` / `clipShapes` / `checkTensors` match a checkpoint to a model.
 *
 *   const weights = await openWeights('hf:openai/clip-vit-large-patch14/model.safetensors');
 *   checkTensors(weights, clipVisionShapes(parseClipVisionConfig(await loadJson('hf:openai/clip-vit-large-patch14/config.json'))));
 *   const w = await uploadWeight(gpu, weights, 'visual_projection.weight', { shape: [768, 1024], dtype: 'f16' });
 */
export { WeightsError, MissingTensorError } from '../io/errors.js';
export { type TensorInfo, type WeightDType, WEIGHT_DTYPE_BYTES, decodeToF32, encodeF16 } from './dtypes.js';
export { type ByteSource, MemoryByteSource, FileByteSource, BlobByteSource, HttpByteSource, type FetchLike } from '../io/bytes.js';
export { type WeightSource, type RangedWeightSource, isRanged } from './source.js';
export { SafetensorsSource, parseHeader as parseSafetensorsHeader } from './formats/safetensors.js';
export { openWeights, openBytes, type OpenOptions } from './open.js';
export { uploadWeight, type UploadOptions } from './upload.js';
export { PthSource } from './formats/pth.js';
export { QuantizedWeightSource, QUANTIZATION_KEY, isQuantizedSource, storedScheme, isDigestChecked } from './formats/quantized.js';
export { DigestCheckedSource, TENSOR_DIGESTS_KEY, tensorDigest, tensorDigestsFor } from './formats/tensor-digests.js';
export { writeSafetensors, writeSafetensorsToPath, encodeSafetensorsFile, encodeSafetensors, safetensorsHeader, type SafetensorsEntry as SafetensorsWriteEntry } from './formats/safetensors-writer.js';
export { ZipArchive, crc32 } from './formats/zip.js';
export { unpickle, PickleGlobal, PickleTuple, type PickleValue } from './formats/pickle.js';
export {
  type ClipConfig, type ClipVisionConfig, type ClipTextConfig, parseClipConfig, parseClipVisionConfig, parseClipTextConfig,
  clipVisionShapes, clipTextShapes, clipShapes, checkTensors, renameTensors, type TensorReport, type CheckOptions,
} from './config/clip-config.js';
export { resolveAgainstPage } from '../io/page-url.js';
export { listCache, clearCache, GALLERY_CACHE_NAME, GALLERY_CACHE_FOLDER, type CacheOptions, type CacheEntry, type ClearedCache } from './hub/cache-admin.js';
export { downloadWeights, downloadBytes, resolveUrl, cachePath, defaultCacheDir, loadJson, type DownloadOptions, type DownloadProgress } from './hub/download.js';
export { identifyCheckpoint, expectCheckpoint, describeCheckpointKind, type CheckpointKind } from './identify.js';
export { inferClipVisionConfig, describeVisionConfig } from './config/infer-config.js';
export { withReadProgress } from './read-progress.js';

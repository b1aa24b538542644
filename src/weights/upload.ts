import { formatShape, isQuantized, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';
import { shapeElements, toHalves } from './dtypes.js';
import { isQuantizedSource, uploadQuantizedWeight } from './formats/quantized.js';
import { missingTensor, isRanged, type WeightSource } from './source.js';

export interface UploadOptions {
  /**
   * GPU storage: f32, f16 packed two per u32 word (half the memory; the model reads it with
   * unpack2x16float), or block-quantized q8 / q4 for matrices (src/weights/formats/quantized.ts).
   */
  dtype?: 'f32' | 'f16' | 'q8' | 'q4';
  /** The shape the model expects; a checkpoint tensor of any other shape is refused. */
  shape?: readonly number[];
  /** Largest piece streamed through JS memory at once (bytes of f32). */
  chunkBytes?: number;
}

const DEFAULT_CHUNK_BYTES = 16 << 20;

/**
 * Streams one checkpoint tensor into a new GPU tensor, a piece at a time: JS never holds a second full
 * copy (for ranged sources it holds one chunk). F16 checkpoints uploaded as f16 keep their exact bits.
 */
export async function uploadWeight(gpu: Gpu, source: WeightSource, name: string, options: UploadOptions = {}): Promise<Tensor> {
  const info = source.tensors.get(name);
  if (!info) throw missingTensor(name, source.tensors, 'the checkpoint');
  // A 0-d checkpoint scalar (torch.tensor(x)) also answers to [1], the shape it has on the GPU.
  const scalarAsOne = info.shape.length === 0 && options.shape?.length === 1 && options.shape[0] === 1;
  if (options.shape && !scalarAsOne && (options.shape.length !== info.shape.length || options.shape.some((d, i) => d !== info.shape[i]))) {
    throw new ShapeError(`tensor '${name}' has shape ${formatShape(info.shape)} in the checkpoint but the model expects ${formatShape(options.shape)}`);
  }
  const dtype = options.dtype ?? 'f32';
  if (isQuantized(dtype) || (isQuantizedSource(source) && source.schemeOf(name))) {
    return uploadQuantizedWeight(gpu, source, name, dtype, info.shape.length === 0 ? [1] : info.shape, options.chunkBytes);
  }
  const total = shapeElements(info.shape, `tensor '${name}'`);
  // A 0-d tensor (torch scalar such as logit_scale) lives on the GPU as one element.
  const shape = info.shape.length === 0 ? [1] : info.shape;
  const tensor = gpu.empty(shape, dtype, name);
  try {
    if (!isRanged(source)) {
      const values = await source.readF32(name);
      gpu.write(tensor.buffer, dtype === 'f32' ? values : toHalves(values));
      return tensor;
    }
    // Even element counts keep every f16 piece on whole u32 words.
    const perChunk = Math.max(2, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 8) * 2);
    for (let start = 0; start < total; start += perChunk) {
      const count = Math.min(perChunk, total - start);
      const byteOffset = start * (dtype === 'f32' ? 4 : 2);
      if (dtype === 'f16' && info.dtype === 'F16') {
        const raw = await source.readRaw(name, start, count);
        gpu.write(tensor.buffer, raw.byteOffset % 2 === 0 ? raw : raw.slice(), byteOffset);
      } else {
        const values = await source.readF32Range(name, start, count);
        gpu.write(tensor.buffer, dtype === 'f32' ? values : toHalves(values), byteOffset);
      }
    }
    return tensor;
  } catch (error) {
    tensor.release();
    throw error;
  }
}

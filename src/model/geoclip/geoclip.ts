import { linear } from '../../kernels/gemm.js';
import { l2Normalize } from '../../kernels/l2-normalize.js';
import { formatShape, GeolensError, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { storedScheme, uploadWeight, type WeightSource } from '../../weights/index.js';
import { LocationEncoder, type LocationEncoderOptions } from './location-encoder.js';

/** CLIP ViT-L/14 projected image features, the MLP's input. */
export const CLIP_FEATURES = 768;
/** GeoCLIP's shared image/location embedding width. */
export const EMBEDDING = 512;

/** Where the image MLP's `0.weight` … `2.bias` may sit: the .pth, the module, the Hugging Face release. */
const MLP_PREFIXES = ['', 'mlp.', 'image_encoder.mlp.', 'model.image_encoder.mlp.'];
const LOGIT_SCALE_NAMES = ['logit_scale', 'model.logit_scale'];

/**
 * Checkpoints for a GeoCLIP: either one source holding everything (the Hugging Face `model.safetensors`,
 * keys `image_encoder.mlp.*`, `location_encoder.*`, `logit_scale`) or the three original `.pth` files.
 * `logitScale` may also be given as a number (the raw parameter; the scale is its exp).
 */
export interface GeoClipSources {
  imageMlp: WeightSource;
  locationEncoder: WeightSource;
  logitScale: WeightSource | number;
}

/**
 * `dtype` q8 / q4 stores the image MLP and the location encoder's matrices block-quantized (default: the
 * scheme a quantized file was written in); f16 applies to the location encoder only.
 */
export interface GeoClipOptions extends LocationEncoderOptions {}

/**
 * GeoCLIP's heads: the image MLP (Linear 768→768, ReLU, Linear 768→512) on CLIP features, the location
 * encoder on GPS, and the learned temperature. Both embeddings come out L2-normalized, so
 * scale · image · locationᵀ are GeoCLIP's logits.
 */
export class GeoClip {
  private constructor(
    readonly gpu: Gpu,
    private readonly mlp: { w0: Tensor; b0: Tensor; w2: Tensor; b2: Tensor },
    readonly locationEncoder: LocationEncoder,
    /** The raw learned parameter (3.681034803390503 in the release). */
    readonly logitScale: number,
  ) {}

  /** exp(logit_scale): multiplies cosine similarities into logits (≈ 39.69 in the release). */
  get scale(): number {
    return Math.exp(this.logitScale);
  }

  /** Identifies the weights that shape location embeddings (gallery cache keys use it). */
  get locationDigest(): string {
    return this.locationEncoder.digest;
  }

  static async load(gpu: Gpu, sources: GeoClipSources | WeightSource, options: GeoClipOptions = {}): Promise<GeoClip> {
    const split: GeoClipSources = 'tensors' in sources ? { imageMlp: sources, locationEncoder: sources, logitScale: sources } : sources;
    const logitScale = typeof split.logitScale === 'number' ? split.logitScale : await readLogitScale(split.logitScale);
    if (!Number.isFinite(logitScale)) throw new GeolensError(`GeoCLIP: logit_scale is ${logitScale}; the checkpoint is damaged`);
    const dtype = options.dtype ?? storedScheme(split.imageMlp) ?? storedScheme(split.locationEncoder);
    const mlp = await loadImageMlp(gpu, split.imageMlp, dtype === 'q8' || dtype === 'q4' || dtype === 'f16' ? dtype : 'f32');
    try {
      const locationEncoder = await LocationEncoder.load(gpu, split.locationEncoder, { ...options, dtype });
      return new GeoClip(gpu, mlp, locationEncoder, logitScale);
    } catch (error) {
      for (const t of Object.values(mlp)) t.release();
      throw error;
    }
  }

  /**
   * CLIP image features [B, 768] → GeoCLIP image embeddings [B, 512], L2-normalized unless
   * `normalize: false` (the raw MLP output, as the reference's image_encoder returns it).
   */
  imageEmbeddings(clipFeatures: Tensor, options: { normalize?: boolean } = {}): Tensor {
    if (clipFeatures.rank !== 2 || clipFeatures.shape[1] !== CLIP_FEATURES) {
      throw new ShapeError(`GeoClip.imageEmbeddings: expects CLIP features [B, ${CLIP_FEATURES}], got ${formatShape(clipFeatures.shape)}`);
    }
    const hidden = linear(clipFeatures, this.mlp.w0, { bias: this.mlp.b0, activation: 'relu' });
    const raw = linear(hidden, this.mlp.w2, { bias: this.mlp.b2 });
    hidden.release();
    if (options.normalize === false) return raw;
    const normalized = l2Normalize(raw);
    raw.release();
    return normalized;
  }

  /** GPS [N, 2] (lat, lon degrees; validated, the bad row named) → L2-normalized embeddings [N, 512]. */
  locationEmbeddings(gps: Float32Array): Tensor {
    return this.locationEncoder.embed(gps);
  }

  release(): void {
    for (const t of Object.values(this.mlp)) t.release();
    this.locationEncoder.release();
  }
}

async function loadImageMlp(gpu: Gpu, source: WeightSource, matrixType: 'f32' | 'f16' | 'q8' | 'q4'): Promise<{ w0: Tensor; b0: Tensor; w2: Tensor; b2: Tensor }> {
  const prefix = MLP_PREFIXES.find((p) => source.tensors.has(`${p}0.weight`) && source.tensors.has(`${p}2.weight`));
  if (prefix === undefined) {
    const shown = [...source.tensors.keys()].slice(0, 5).map((k) => `'${k}'`).join(', ');
    throw new GeolensError(`GeoCLIP image MLP: no '0.weight'/'2.weight' under any of the prefixes ${MLP_PREFIXES.map((p) => `'${p}'`).join(', ')}; the checkpoint holds ${shown}`);
  }
  const expected: [string, number[]][] = [
    ['0.weight', [CLIP_FEATURES, CLIP_FEATURES]],
    ['0.bias', [CLIP_FEATURES]],
    ['2.weight', [EMBEDDING, CLIP_FEATURES]],
    ['2.bias', [EMBEDDING]],
  ];
  const tensors: Tensor[] = [];
  try {
    for (const [name, shape] of expected) {
      const info = source.tensors.get(prefix + name);
      if (!info) throw new GeolensError(`GeoCLIP image MLP: tensor '${prefix + name}' is missing from the checkpoint`);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new ShapeError(`GeoCLIP image MLP: tensor '${prefix + name}' has shape ${formatShape(info.shape)} in the checkpoint but the model expects ${formatShape(shape)}`);
      }
      // The matrices follow the dtype (biases stay f32); the output matrix stays q8 under q4, as for CLIP's projection.
      const dtype = name === '2.weight' && matrixType === 'q4' ? 'q8' : name.endsWith('weight') ? matrixType : 'f32';
      tensors.push(await uploadWeight(gpu, source, prefix + name, { shape, dtype }));
    }
  } catch (error) {
    for (const t of tensors) t.release();
    throw error;
  }
  const [w0, b0, w2, b2] = tensors as [Tensor, Tensor, Tensor, Tensor];
  return { w0, b0, w2, b2 };
}

/**
 * The learned temperature: `logit_scale` (any known prefix), or the only one-element tensor of a file
 * that holds a bare tensor (the original logit_scale_weights.pth).
 */
async function readLogitScale(source: WeightSource): Promise<number> {
  let name = LOGIT_SCALE_NAMES.find((n) => source.tensors.has(n));
  if (!name && source.tensors.size === 1) name = [...source.tensors.keys()][0];
  if (!name) throw new GeolensError(`GeoCLIP: no 'logit_scale' tensor in the checkpoint (${source.tensors.size} tensors)`);
  const values = await source.readF32(name);
  if (values.length !== 1) throw new ShapeError(`GeoCLIP: '${name}' should be a scalar but holds ${values.length} values`);
  return values[0]!;
}

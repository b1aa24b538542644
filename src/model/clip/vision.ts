/**
 * CLIP's vision tower, as transformers' CLIPVisionModelWithProjection.get_image_features, for any HF CLIP
 * vision config (ViT-B/32, B/16, L/14, tiny test models):
 *
 *   pixels [B, 3, S, S] → patch embedding (Conv2d, stride = kernel, no bias) → [class | patches] + positions
 *   → pre_layrnorm → N pre-norm encoder layers:
 *        x += out_proj(attention(layer_norm1(x)))        (q, k, v fused into one [3D, D] linear)
 *        x += fc2(act(fc1(layer_norm2(x))))              (act per hidden_act: quick_gelu, gelu or relu)
 *   → post_layernorm(class token) → visual_projection (no bias) → [B, projection_dim]
 *
 * Composition only: every step is a kernel from src/kernels. Each encoder layer runs in a gpu.scope, so
 * its intermediates go back to the buffer pool when the layer ends: a forward pass holds one layer's
 * activations at a time.
 */
import { visionEmbeddings } from '../../kernels/embeddings.js';
import type { Activation } from '../../kernels/gemm.js';
import { layerNorm } from '../../kernels/layernorm.js';
import { patchEmbed } from '../../kernels/patch-embed.js';
import { formatShape, GeolensError, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { checkTensors, clipVisionShapes, storedScheme, type ClipVisionConfig, type WeightSource } from '../../weights/index.js';
import { projectOutput, releaseTower, projectionType, tableType, runEncoder, TowerUploads, type EncoderLayer, type MatrixType } from './encoder.js';

export type { ClipVisionConfig };

/** Shapes of the common OpenAI checkpoints (HF's config.json values), for benchmarks and hand-made configs. */
export const CLIP_VISION_PRESETS = {
  'ViT-B/32': preset(768, 3072, 12, 12, 32, 512),
  'ViT-B/16': preset(768, 3072, 12, 12, 16, 512),
  'ViT-L/14': preset(1024, 4096, 24, 16, 14, 768),
} as const satisfies Record<string, ClipVisionConfig>;

function preset(hidden: number, inner: number, layers: number, heads: number, patch: number, projection: number): ClipVisionConfig {
  return {
    hidden_size: hidden, intermediate_size: inner, num_hidden_layers: layers, num_attention_heads: heads, num_channels: 3,
    image_size: 224, patch_size: patch, projection_dim: projection, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu',
  };
}

/** hidden_act values the GEMM epilogue computes exactly (gelu is the erf form, as torch's default). */
const ACTIVATIONS: Record<string, Activation> = { quick_gelu: 'quick_gelu', gelu: 'gelu', relu: 'relu' };

/** What this model needs of a config beyond what parseClipVisionConfig checks (configs may be made by hand). */
function checkConfig(config: ClipVisionConfig): Activation {
  const { hidden_size: d, num_attention_heads: heads, image_size: size, patch_size: patch } = config;
  if (d % heads !== 0) throw new GeolensError(`ClipVisionModel: hidden_size ${d} is not divisible by num_attention_heads ${heads}`);
  if (size % patch !== 0) throw new GeolensError(`ClipVisionModel: image_size ${size} is not a multiple of patch_size ${patch}`);
  const activation = ACTIVATIONS[config.hidden_act];
  if (!activation) {
    throw new GeolensError(`ClipVisionModel: hidden_act '${config.hidden_act}' is not supported (use ${Object.keys(ACTIVATIONS).join(', ')})`);
  }
  return activation;
}

/**
 * Floating-point operations of one image through the tower, counting a multiply-add as 2: every linear,
 * the patch embedding and attention's two products (layer norms, softmax and adds are left out: < 1%).
 */
export function clipVisionFlops(config: ClipVisionConfig, batch = 1): number {
  const { hidden_size: d, intermediate_size: inner, num_hidden_layers: layers, patch_size: p, image_size: s, projection_dim: proj } = config;
  const channels = config.num_channels;
  const patches = (s / p) ** 2;
  const seq = patches + 1;
  const patchEmbedding = 2 * patches * channels * p * p * d;
  const layer = 2 * seq * d * 3 * d + 2 * 2 * seq * seq * d + 2 * seq * d * d + 2 * 2 * seq * d * inner;
  return batch * (patchEmbedding + layers * layer + 2 * d * proj);
}

export interface ClipVisionLoadOptions {
  /**
   * Storage of the matrices (patch embedding, attention, MLP, projection): f32, packed f16 at half the
   * memory, or block-quantized q8 / q4 (the patch embedding, a Conv2d weight, stays f16 then). Default: the
   * scheme a quantized file was written in, else f32.
   */
  dtype?: MatrixType;
}

export class ClipVisionModel {
  readonly config: ClipVisionConfig;
  private readonly activation: Activation;
  private released = false;

  private constructor(
    readonly gpu: Gpu,
    config: ClipVisionConfig,
    private readonly patchWeight: Tensor,
    private readonly classEmbedding: Tensor,
    private readonly positions: Tensor,
    private readonly preNorm: [Tensor, Tensor],
    private readonly layers: EncoderLayer[],
    private readonly postNorm: [Tensor, Tensor],
    private readonly projection: Tensor,
  ) {
    this.config = config;
    this.activation = checkConfig(config);
  }

  /**
   * Uploads the vision tower from HF-named weights (`vision_model.*`, `visual_projection.weight`; a full
   * CLIPModel checkpoint works too). The checkpoint is checked against the config first, and every
   * missing or misshapen tensor is named in one error. Layer norms, biases and embeddings stay f32;
   * `dtype` applies to the matrices.
   */
  static async load(gpu: Gpu, weights: WeightSource, config: ClipVisionConfig, options: ClipVisionLoadOptions = {}): Promise<ClipVisionModel> {
    const c = { ...config };
    checkConfig(c);
    checkTensors(weights, clipVisionShapes(c), { what: 'CLIP vision checkpoint' });
    const matrixType = options.dtype ?? storedScheme(weights) ?? 'f32';
    if (!['f32', 'f16', 'q8', 'q4'].includes(matrixType)) throw new GeolensError(`ClipVisionModel.load: dtype must be 'f32', 'f16', 'q8' or 'q4', got '${matrixType}'`);
    const d = c.hidden_size;
    const positions = (c.image_size / c.patch_size) ** 2 + 1;
    const uploads = new TowerUploads(gpu, weights, d);
    try {
      const patchWeight = await uploads.get('vision_model.embeddings.patch_embedding.weight', [d, c.num_channels, c.patch_size, c.patch_size], tableType(matrixType));
      const classEmbedding = await uploads.get('vision_model.embeddings.class_embedding', [d]);
      const positionEmbedding = await uploads.get('vision_model.embeddings.position_embedding.weight', [positions, d]);
      const preNorm = await uploads.norm('vision_model.pre_layrnorm');
      const layers = await uploads.encoderLayers('vision_model.encoder.layers', c.num_hidden_layers, c.intermediate_size, matrixType);
      const postNorm = await uploads.norm('vision_model.post_layernorm');
      const projection = await uploads.get('visual_projection.weight', [c.projection_dim, d], projectionType(matrixType));
      await gpu.sync();
      return new ClipVisionModel(gpu, c, patchWeight, classEmbedding, positionEmbedding, preNorm, layers, postNorm, projection);
    } catch (error) {
      uploads.releaseAll();
      throw error;
    }
  }

  /** Pixels as preprocessImage makes them, [B, num_channels, image_size, image_size], → features [B, projection_dim]. */
  imageFeatures(pixels: Tensor): Tensor {
    if (this.released) throw new GeolensError('ClipVisionModel: used after release()');
    const { num_channels: channels, image_size: size, patch_size: patch, layer_norm_eps: eps, num_attention_heads: heads } = this.config;
    if (pixels.rank !== 4 || pixels.shape[1] !== channels || pixels.shape[2] !== size || pixels.shape[3] !== size) {
      throw new ShapeError(`ClipVisionModel.imageFeatures: pixels must be [B, ${channels}, ${size}, ${size}], got ${formatShape(pixels.shape)}`);
    }
    if (pixels.dtype !== 'f32') throw new ShapeError(`ClipVisionModel.imageFeatures: pixels must be f32, got ${pixels}`);
    const batch = pixels.shape[0]!;

    const patches = patchEmbed(pixels, this.patchWeight, patch);
    const embedded = visionEmbeddings(patches, this.classEmbedding, this.positions);
    patches.release();
    const hidden = layerNorm(embedded, this.preNorm[0], this.preNorm[1], eps);
    embedded.release();

    // Only the class token reaches the output, and everything after attention is per token: the last layer
    // finishes on the class rows alone.
    const classHidden = runEncoder(hidden, this.layers, { heads, eps, activation: this.activation, selectRows: classRows });
    return projectOutput(classHidden.reshape([batch, this.config.hidden_size]), this.postNorm, this.projection, eps);
  }

  /** Gives every weight back to the pool. */
  release(): void {
    if (this.released) return;
    this.released = true;
    releaseTower([this.patchWeight, this.classEmbedding, this.positions, ...this.preNorm, ...this.postNorm, this.projection], this.layers);
  }
}

/** Row 0 of each sequence: x [B, S, D] → [B, 1, D], by buffer copies (B of them, D floats each). */
function classRows(x: Tensor): Tensor {
  const [batch, seq, width] = x.shape as [number, number, number];
  const out = x.gpu.empty([batch, 1, width], 'f32', 'clipVision.classRows');
  for (let b = 0; b < batch; b++) x.gpu.copy(x.buffer, b * seq * width * 4, out.buffer, b * width * 4, width * 4);
  return out;
}


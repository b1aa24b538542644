/**
 * The pre-norm encoder layer both CLIP towers stack (HF's CLIPEncoderLayer), loaded and run the same way
 * by clip-vision.ts and clip-text.ts:
 *
 *   x += out_proj(attention(layer_norm1(x)))      (q, k, v fused into one [3D, D] linear; causal for text)
 *   x += fc2(act(fc1(layer_norm2(x))))
 *
 * The towers differ only in the mask and in which rows reach their output, so the last layer can finish on
 * those rows alone once its attention has run (everything after attention is per token).
 */
import { attention } from '../../kernels/attention.js';
import { linear, type Activation } from '../../kernels/gemm.js';
import { layerNorm } from '../../kernels/layernorm.js';
import { ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { uploadWeight, type WeightSource } from '../../weights/index.js';

/** Storage of a tower's matrices: f32, packed f16, or block-quantized q8 / q4 (src/kernels/quantize.ts). */
export type MatrixType = 'f32' | 'f16' | 'q8' | 'q4';

/**
 * A tower's output projection stays q8 under q4: the last matrix feeds the embedding directly, and at
 * projection_dim × hidden it is a fraction of a percent of the tower (tiny CLIP's q4 cosine to f32 rose
 * from 0.990 to 0.995 with it).
 */
export function projectionType(matrixType: MatrixType): MatrixType {
  return matrixType === 'q4' ? 'q8' : matrixType;
}

/** Tables and convolution kernels under q8 / q4 are stored f16 (their kernels read f32 or f16). */
export function tableType(matrixType: MatrixType): 'f32' | 'f16' {
  return matrixType === 'f32' ? 'f32' : 'f16';
}

export interface EncoderLayer {
  norm1: [Tensor, Tensor];
  qkvWeight: Tensor;
  qkvBias: Tensor;
  outWeight: Tensor;
  outBias: Tensor;
  norm2: [Tensor, Tensor];
  fc1Weight: Tensor;
  fc1Bias: Tensor;
  fc2Weight: Tensor;
  fc2Bias: Tensor;
}

/** Every tensor of a layer, for giving them back to the pool. */
export function encoderLayerTensors(layer: EncoderLayer): Tensor[] {
  const { norm1, qkvWeight, qkvBias, outWeight, outBias, norm2, fc1Weight, fc1Bias, fc2Weight, fc2Bias } = layer;
  return [...norm1, qkvWeight, qkvBias, outWeight, outBias, ...norm2, fc1Weight, fc1Bias, fc2Weight, fc2Bias];
}

/** Gives a tower's own tensors (embeddings, norms, projection) and all its layers' back to the pool. */
export function releaseTower(own: readonly Tensor[], layers: readonly EncoderLayer[]): void {
  for (const tensor of [...own, ...layers.flatMap(encoderLayerTensors)]) tensor.release();
}

/**
 * Uploads a tower's tensors by their HF names and keeps every one it still holds, so a load that fails
 * part-way gives all of them back with releaseAll().
 */
export class TowerUploads {
  private readonly held: Tensor[] = [];

  constructor(
    readonly gpu: Gpu,
    private readonly weights: WeightSource,
    /** The tower's hidden_size D: the width of layer norms and of q, k and v. */
    private readonly hidden: number,
  ) {}

  async get(name: string, shape: number[], dtype: MatrixType = 'f32'): Promise<Tensor> {
    const tensor = await uploadWeight(this.gpu, this.weights, name, { shape, dtype });
    this.held.push(tensor);
    return tensor;
  }

  /** A LayerNorm's weight and bias, [D] each. */
  async norm(prefix: string): Promise<[Tensor, Tensor]> {
    return [await this.get(`${prefix}.weight`, [this.hidden]), await this.get(`${prefix}.bias`, [this.hidden])];
  }

  /**
   * `${attn}.{q,k,v}_proj.${suffix}` stacked along the first dimension: one [3D, D] weight or [3D] bias, so
   * attention reads one linear's output. The three parts go back to the pool once copied.
   */
  async qkv(attn: string, suffix: 'weight' | 'bias', dtype: MatrixType): Promise<Tensor> {
    const d = this.hidden;
    const shape = suffix === 'weight' ? [d, d] : [d];
    const parts: Tensor[] = [];
    for (const name of ['q', 'k', 'v']) parts.push(await this.get(`${attn}.${name}_proj.${suffix}`, shape, dtype));
    const fused = this.gpu.empty([3 * d, ...shape.slice(1)], dtype, `${attn}.qkv_proj.${suffix}`);
    this.held.push(fused);
    let offset = 0;
    for (const part of parts) {
      // Packed f16 parts must end on a word boundary for the copies to line up.
      if (dtype === 'f16' && part.size % 2 !== 0) {
        throw new ShapeError(`${attn}.{q,k,v}_proj.${suffix}: cannot concatenate ${parts.join(', ')} word by word`);
      }
      this.gpu.copy(part.buffer, 0, fused.buffer, offset, part.byteLength);
      offset += part.byteLength;
    }
    // The copies are recorded ahead of any later use of these buffers, so they can go back to the pool now.
    for (const part of parts) {
      part.release();
      this.held.splice(this.held.indexOf(part), 1);
    }
    return fused;
  }

  /** Layer `prefix` (e.g. `text_model.encoder.layers.3`): norms, biases f32, matrices in `matrixType`. */
  async encoderLayer(prefix: string, intermediate: number, matrixType: MatrixType): Promise<EncoderLayer> {
    const d = this.hidden;
    const attn = `${prefix}.self_attn`;
    return {
      norm1: await this.norm(`${prefix}.layer_norm1`),
      qkvWeight: await this.qkv(attn, 'weight', matrixType),
      qkvBias: await this.qkv(attn, 'bias', 'f32'),
      outWeight: await this.get(`${attn}.out_proj.weight`, [d, d], matrixType),
      outBias: await this.get(`${attn}.out_proj.bias`, [d]),
      norm2: await this.norm(`${prefix}.layer_norm2`),
      fc1Weight: await this.get(`${prefix}.mlp.fc1.weight`, [intermediate, d], matrixType),
      fc1Bias: await this.get(`${prefix}.mlp.fc1.bias`, [intermediate]),
      fc2Weight: await this.get(`${prefix}.mlp.fc2.weight`, [d, intermediate], matrixType),
      fc2Bias: await this.get(`${prefix}.mlp.fc2.bias`, [d]),
    };
  }

  /** Layers `${prefix}.0` … `${prefix}.${count - 1}`, in order. */
  async encoderLayers(prefix: string, count: number, intermediate: number, matrixType: MatrixType): Promise<EncoderLayer[]> {
    const layers: EncoderLayer[] = [];
    for (let i = 0; i < count; i++) layers.push(await this.encoderLayer(`${prefix}.${i}`, intermediate, matrixType));
    return layers;
  }

  /** Gives back everything uploaded so far (after a failed load). */
  releaseAll(): void {
    for (const tensor of this.held) tensor.release();
    this.held.length = 0;
  }
}

export interface EncoderOptions {
  heads: number;
  eps: number;
  /** fc1's activation. */
  activation: Activation;
  /** Each position attends to itself and earlier ones only (the text tower). */
  causal?: boolean;
  /**
   * The rows that reach the tower's output: [B, S, D] → a new tensor of those rows (the argument is left
   * alone). The last layer applies it right after attention; with no layers it applies to the input.
   */
  selectRows?: (x: Tensor) => Tensor;
}

/**
 * One layer on x [B, S, D] (left alone) → the new hidden state; with `selectRows`, of those rows only.
 * Its temporaries go back to the pool when the layer ends (gpu.scope).
 */
export function encoderLayer(x: Tensor, layer: EncoderLayer, options: EncoderOptions, selectRows?: (x: Tensor) => Tensor): Tensor {
  const { eps, heads, activation, causal = false } = options;
  return x.gpu.scope(() => {
    const qkv = linear(layerNorm(x, ...layer.norm1, eps), layer.qkvWeight, { bias: layer.qkvBias });
    const attended = attention(qkv, heads, { causal });
    // Everything after attention is per token, so the last layer may go on with the output rows alone.
    const [a, residual] = selectRows ? [selectRows(attended), selectRows(x)] : [attended, x];
    // Both residual adds ride in the GEMM epilogues (y = x·Wᵀ + b + residual).
    const h = linear(a, layer.outWeight, { bias: layer.outBias, residual });
    const inner = linear(layerNorm(h, ...layer.norm2, eps), layer.fc1Weight, { bias: layer.fc1Bias, activation });
    return linear(inner, layer.fc2Weight, { bias: layer.fc2Bias, residual: h });
  });
}

/** Every layer in turn on hidden [B, S, D] (releases it); the last one finishes on options.selectRows' rows. */
export function runEncoder(hidden: Tensor, layers: readonly EncoderLayer[], options: EncoderOptions): Tensor {
  const { selectRows } = options;
  if (layers.length === 0) return selectRows ? replaceWith(hidden, selectRows) : hidden;
  const last = layers.length - 1;
  for (let i = 0; i <= last; i++) hidden = replaceWith(hidden, (x) => encoderLayer(x, layers[i]!, options, i === last ? selectRows : undefined));
  return hidden;
}

/** A tower's end: LayerNorm of its output rows, then the projection into the shared space (releases `hidden`). */
export function projectOutput(hidden: Tensor, norm: readonly [Tensor, Tensor], projection: Tensor, eps: number): Tensor {
  const normed = layerNorm(hidden, norm[0], norm[1], eps);
  hidden.release();
  const features = linear(normed, projection);
  normed.release();
  return features;
}

function replaceWith(x: Tensor, select: (x: Tensor) => Tensor): Tensor {
  const selected = select(x);
  x.release();
  return selected;
}

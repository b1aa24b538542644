/**
 * CLIP's text tower, as transformers' CLIPTextModelWithProjection (text_embeds = get_text_features), for any
 * HF CLIP text config (ViT-B/32, ViT-L/14, tiny test models):
 *
 *   ids [n, L] → token embedding + position embedding → N pre-norm encoder layers:
 *        x += out_proj(causal attention(layer_norm1(x)))     (q, k, v fused into one [3D, D] linear)
 *        x += fc2(act(fc1(layer_norm2(x))))                  (act = quick_gelu or gelu, per hidden_act)
 *   → final_layer_norm → the end token's row → text_projection (no bias) → [n, projection_dim]
 *
 * The features are not normalized (as HF); l2Normalize them before cosine similarities.
 *
 * Two shortcuts that leave the result unchanged, both because attention is causal and everything after it
 * is per token: rows after the latest end token in the batch never reach a pooled row, so the sequence is
 * cut there (a 10-token prompt runs 10 positions, not 77); and the last layer finishes on the pooled rows
 * alone once its attention has run.
 */
import type { Activation } from '../../kernels/gemm.js';
import { gatherRows, tokenEmbedding } from '../../kernels/token-embedding.js';
import { GeolensError, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { checkTensors, clipTextShapes, storedScheme, type ClipTextConfig, type WeightSource } from '../../weights/index.js';
import { projectOutput, releaseTower, projectionType, runEncoder, tableType, TowerUploads, type EncoderLayer, type MatrixType } from './encoder.js';
import type { ClipTokenizer, TokenBatch } from './tokenizer.js';

export type { ClipTextConfig };

/** The fields load() must be given; the rest take HF's CLIPTextConfig defaults (see parseClipTextConfig). */
export type ClipTextConfigInput = Pick<ClipTextConfig, 'vocab_size' | 'hidden_size' | 'intermediate_size' | 'num_hidden_layers' | 'num_attention_heads' | 'projection_dim'> &
  Partial<ClipTextConfig>;

/** Shapes of the common OpenAI checkpoints' text towers. */
export const CLIP_TEXT_PRESETS = {
  'ViT-B/32': { vocab_size: 49408, hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 8, projection_dim: 512 },
  'ViT-B/16': { vocab_size: 49408, hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 8, projection_dim: 512 },
  'ViT-L/14': { vocab_size: 49408, hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, projection_dim: 768 },
} as const satisfies Record<string, ClipTextConfigInput>;

const ACTIVATIONS: Record<string, Activation> = { quick_gelu: 'quick_gelu', gelu: 'gelu' };
/** OpenAI checkpoints' eos_token_id: HF then pools the row of the largest id (the end token, 49407). */
const LEGACY_EOS = 2;

function resolveConfig(config: ClipTextConfigInput): ClipTextConfig {
  const full: ClipTextConfig = {
    max_position_embeddings: 77, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, eos_token_id: 49407, bos_token_id: 49406, pad_token_id: 1, ...config,
  };
  const positive = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_attention_heads', 'projection_dim', 'max_position_embeddings'] as const;
  for (const name of positive) {
    if (!Number.isInteger(full[name]) || full[name] < 1) throw new GeolensError(`CLIP text config: ${name} must be a positive integer, got ${full[name]}`);
  }
  if (!Number.isInteger(full.num_hidden_layers) || full.num_hidden_layers < 0) {
    throw new GeolensError(`CLIP text config: num_hidden_layers must be a non-negative integer, got ${full.num_hidden_layers}`);
  }
  if (full.hidden_size % full.num_attention_heads !== 0) {
    throw new GeolensError(`CLIP text config: hidden_size ${full.hidden_size} is not divisible by num_attention_heads ${full.num_attention_heads}`);
  }
  if (!(full.hidden_act in ACTIVATIONS)) {
    throw new GeolensError(`CLIP text config: hidden_act '${full.hidden_act}' is not supported (use ${Object.keys(ACTIVATIONS).join(' or ')})`);
  }
  if (!(full.layer_norm_eps >= 0)) throw new GeolensError(`CLIP text config: layer_norm_eps must be ≥ 0, got ${full.layer_norm_eps}`);
  return full;
}

/**
 * Floating-point operations for n texts of `length` positions, a multiply-add counted as 2: every linear
 * and attention's two products (a causal kernel may skip half of those; norms and adds left out).
 */
export function clipTextFlops(config: ClipTextConfigInput, n = 1, length = config.max_position_embeddings ?? 77): number {
  const { hidden_size: d, intermediate_size: inner, num_hidden_layers: layers, projection_dim: proj } = config;
  const layer = 2 * length * d * 3 * d + 2 * 2 * length * length * d + 2 * length * d * d + 2 * 2 * length * d * inner;
  return n * (layers * layer + 2 * d * proj);
}

/**
 * Per row of ids [n, length], the row HF pools: the first largest id when eosTokenId is 2 (legacy), else
 * the first position holding eosTokenId (0 when there is none, as torch's argmax of all zeros).
 */
export function pooledPositions(ids: Int32Array, length: number, eosTokenId: number): Int32Array {
  const rows = ids.length / length;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = ids.subarray(r * length, (r + 1) * length);
    let best = 0;
    if (eosTokenId === LEGACY_EOS) {
      for (let i = 1; i < length; i++) if (row[i]! > row[best]!) best = i;
    } else {
      const found = row.indexOf(eosTokenId);
      best = found < 0 ? 0 : found;
    }
    out[r] = best;
  }
  return out;
}

export interface ClipTextLoadOptions {
  /**
   * Storage of the token embedding and the matrices (attention, MLP, projection): f32, or packed f16 at half
   * the memory (ViT-L/14's text tower: 246 MB instead of 492 MB), or block-quantized q8 / q4 matrices (the
   * token table stays f16 then). Default: the scheme a quantized file was written in, else f32.
   */
  dtype?: MatrixType;
  /** Lets textFeatures take strings (concept prompts, place names). */
  tokenizer?: ClipTokenizer;
}

export class ClipTextModel {
  readonly config: ClipTextConfig;
  /** Used when textFeatures is given strings. */
  tokenizer: ClipTokenizer | null = null;
  private readonly activation: Activation;
  private released = false;

  private constructor(
    readonly gpu: Gpu,
    config: ClipTextConfig,
    private readonly tokenTable: Tensor,
    private readonly positions: Tensor,
    private readonly layers: EncoderLayer[],
    private readonly finalNorm: [Tensor, Tensor],
    private readonly projection: Tensor,
  ) {
    this.config = config;
    this.activation = ACTIVATIONS[config.hidden_act]!;
  }

  /**
   * Uploads the text tower from HF-named weights (`text_model.*`, `text_projection.weight`; a full CLIPModel
   * checkpoint has the same names). The whole tensor table is checked against the config before anything
   * is uploaded; the error lists every missing or misshapen tensor. Layer norms, biases and position
   * embeddings stay f32.
   */
  static async load(gpu: Gpu, weights: WeightSource, config: ClipTextConfigInput, options: ClipTextLoadOptions = {}): Promise<ClipTextModel> {
    const c = resolveConfig(config);
    checkTensors(weights, clipTextShapes(c), { what: 'CLIP text checkpoint' });
    const matrixType = options.dtype ?? storedScheme(weights) ?? 'f32';
    if (!['f32', 'f16', 'q8', 'q4'].includes(matrixType)) throw new GeolensError(`ClipTextModel.load: dtype must be 'f32', 'f16', 'q8' or 'q4', got '${matrixType}'`);
    if (matrixType !== 'f32' && c.hidden_size % 2 !== 0) {
      throw new GeolensError(`ClipTextModel.load: f16 storage needs an even hidden_size, got ${c.hidden_size}`);
    }
    const d = c.hidden_size;
    const uploads = new TowerUploads(gpu, weights, d);
    try {
      const tokenTable = await uploads.get('text_model.embeddings.token_embedding.weight', [c.vocab_size, d], tableType(matrixType));
      const positions = await uploads.get('text_model.embeddings.position_embedding.weight', [c.max_position_embeddings, d]);
      const layers = await uploads.encoderLayers('text_model.encoder.layers', c.num_hidden_layers, c.intermediate_size, matrixType);
      const finalNorm = await uploads.norm('text_model.final_layer_norm');
      const projection = await uploads.get('text_projection.weight', [c.projection_dim, d], projectionType(matrixType));
      await gpu.sync();
      const model = new ClipTextModel(gpu, c, tokenTable, positions, layers, finalNorm, projection);
      model.tokenizer = options.tokenizer ?? null;
      return model;
    } catch (error) {
      uploads.releaseAll();
      throw error;
    }
  }

  /**
   * Texts → features [n, projection_dim]. `input` is ids [n, max_position_embeddings] row-major
   * (ClipTokenizer.tokenize), a ClipTokenizer.tokenizeBatch result, or strings when a tokenizer is attached.
   * Ids are checked on the host.
   */
  textFeatures(input: Int32Array | TokenBatch | readonly string[]): Tensor {
    if (this.released) throw new GeolensError('ClipTextModel: used after release()');
    const c = this.config;
    let tokens: Int32Array | TokenBatch;
    if (input instanceof Int32Array || !Array.isArray(input)) {
      tokens = input as Int32Array | TokenBatch;
    } else {
      if (!this.tokenizer) throw new GeolensError('ClipTextModel.textFeatures: given strings but no tokenizer; pass { tokenizer } to load() or give token ids');
      tokens = this.tokenizer.tokenizeBatch(input, c.max_position_embeddings);
    }
    const ids = tokens instanceof Int32Array ? tokens : tokens.ids;
    const length = tokens instanceof Int32Array ? c.max_position_embeddings : tokens.contextLength;
    if (length > c.max_position_embeddings) {
      throw new ShapeError(`ClipTextModel.textFeatures: rows of ${length} tokens exceed max_position_embeddings ${c.max_position_embeddings}`);
    }
    if (ids.length === 0 || ids.length % length !== 0) {
      throw new ShapeError(`ClipTextModel.textFeatures: ${ids.length} ids is not a whole, non-zero number of rows of ${length}`);
    }
    const n = ids.length / length;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < c.vocab_size)) {
        throw new ShapeError(`ClipTextModel.textFeatures: id ${id} at row ${Math.floor(i / length)}, position ${i % length} is outside the vocabulary [0, ${c.vocab_size})`);
      }
    }

    const pooled = pooledPositions(ids, length, c.eos_token_id);
    const used = pooled.reduce((a, b) => Math.max(a, b), 0) + 1;
    const trimmed = new Int32Array(n * used);
    for (let r = 0; r < n; r++) trimmed.set(ids.subarray(r * length, r * length + used), r * used);
    const pooledRows = Int32Array.from(pooled, (p, r) => r * used + p);
    // Uploads first: a host write flushes, and everything below is then recorded into one submit.
    const idTensor = this.gpu.upload(trimmed, [n, used], 'i32', 'clipText.ids');
    const rowTensor = this.gpu.upload(pooledRows, [n], 'i32', 'clipText.pooledRows');
    const d = c.hidden_size;
    const eps = c.layer_norm_eps;
    const pooledRowsOf = (x: Tensor) => gatherRows(x.reshape([n * used, d]), rowTensor);

    const embedded = tokenEmbedding(idTensor, this.tokenTable, this.positions);
    idTensor.release();
    const hidden = runEncoder(embedded, this.layers, {
      heads: c.num_attention_heads, eps, activation: this.activation, causal: true, selectRows: pooledRowsOf,
    });
    rowTensor.release();
    return projectOutput(hidden, this.finalNorm, this.projection, eps);
  }

  /** Gives every weight back to the pool. */
  release(): void {
    if (this.released) return;
    this.released = true;
    releaseTower([this.tokenTable, this.positions, ...this.finalNorm, this.projection], this.layers);
  }
}

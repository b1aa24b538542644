import { formatShape } from '../../runtime/index.js';
import { WeightsError } from '../../io/errors.js';
import type { TensorInfo } from '../dtypes.js';
import { isRanged, type RangedWeightSource, type WeightSource } from '../source.js';

/**
 * Hugging Face CLIP configs (`config.json` of e.g. openai/clip-vit-large-patch14) as typed objects with
 * HF's names and HF's defaults for fields a file leaves out, plus the tensor table a CLIP checkpoint must
 * hold for them, and a checker that reports every missing, unexpected and wrongly shaped tensor at once.
 */

export interface ClipVisionConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_channels: number;
  image_size: number;
  patch_size: number;
  projection_dim: number;
  layer_norm_eps: number;
  hidden_act: string;
}

export interface ClipTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  projection_dim: number;
  layer_norm_eps: number;
  hidden_act: string;
  /**
   * As the file says. OpenAI's checkpoints carry the legacy value 2, for which HF pools the row of the
   * largest token id (the end token 49407 is the largest id); other values name the end token itself.
   */
  eos_token_id: number;
  bos_token_id: number;
  pad_token_id: number;
}

export interface ClipConfig {
  projection_dim: number;
  /** ln(1/0.07) unless the file says otherwise; the trained value is the `logit_scale` tensor. */
  logit_scale_init_value: number;
  vision: ClipVisionConfig;
  text: ClipTextConfig;
}

const VISION_DEFAULTS: ClipVisionConfig = {
  hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, num_channels: 3,
  image_size: 224, patch_size: 32, projection_dim: 512, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu',
};

const TEXT_DEFAULTS: ClipTextConfig = {
  vocab_size: 49408, hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 8,
  max_position_embeddings: 77, projection_dim: 512, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu',
  eos_token_id: 49407, bos_token_id: 49406, pad_token_id: 1,
};

const ACTIVATIONS = new Set(['quick_gelu', 'gelu', 'relu', 'gelu_new', 'gelu_pytorch_tanh']);

type Json = Record<string, unknown>;

/** A full CLIPConfig: `vision_config` and `text_config` inside, projection_dim at the top. */
export function parseClipConfig(json: unknown, what = 'CLIP config'): ClipConfig {
  const top = object(json, what);
  const projection = top.projection_dim === undefined ? 512 : integer(top, 'projection_dim', 512, what);
  // CLIPConfig gives projection_dim once, at the top; each tower inherits it unless it says otherwise.
  const vision = parseTower(top.vision_config ?? {}, VISION_DEFAULTS, projection, `${what}.vision_config`);
  const text = parseTower(top.text_config ?? {}, TEXT_DEFAULTS, projection, `${what}.text_config`);
  return {
    projection_dim: projection,
    logit_scale_init_value: number(top, 'logit_scale_init_value', 2.6592, what),
    vision: validateVision(vision, `${what}.vision_config`),
    text: validateText(text, `${what}.text_config`),
  };
}

/** A CLIPVisionConfig on its own, or the vision part of a CLIPConfig. */
export function parseClipVisionConfig(json: unknown, what = 'CLIP vision config'): ClipVisionConfig {
  const top = object(json, what);
  if (top.vision_config !== undefined) return parseClipConfig(top, what).vision;
  return validateVision(parseTower(top, VISION_DEFAULTS, VISION_DEFAULTS.projection_dim, what), what);
}

/** A CLIPTextConfig on its own, or the text part of a CLIPConfig. */
export function parseClipTextConfig(json: unknown, what = 'CLIP text config'): ClipTextConfig {
  const top = object(json, what);
  if (top.text_config !== undefined) return parseClipConfig(top, what).text;
  return validateText(parseTower(top, TEXT_DEFAULTS, TEXT_DEFAULTS.projection_dim, what), what);
}

function parseTower<T extends object>(json: unknown, defaults: T, projection: number, what: string): T {
  const source = object(json, what);
  const out: Record<string, unknown> = {};
  for (const [key, fallback] of Object.entries(defaults)) {
    const given = key === 'projection_dim' && source[key] === undefined ? projection : fallback;
    if (typeof fallback === 'string') out[key] = string(source, key, given as string, what);
    else if (key === 'layer_norm_eps') out[key] = number(source, key, given as number, what);
    else out[key] = integer(source, key, given as number, what);
  }
  return out as T;
}

function validateVision(config: ClipVisionConfig, what: string): ClipVisionConfig {
  validateCommon(config, what);
  if (config.image_size % config.patch_size !== 0) {
    throw new WeightsError(`${what}: image_size ${config.image_size} is not a multiple of patch_size ${config.patch_size}`);
  }
  return config;
}

function validateText(config: ClipTextConfig, what: string): ClipTextConfig {
  validateCommon(config, what);
  return config;
}

function validateCommon(config: ClipVisionConfig | ClipTextConfig, what: string): void {
  if (config.hidden_size % config.num_attention_heads !== 0) {
    throw new WeightsError(`${what}: hidden_size ${config.hidden_size} is not divisible by num_attention_heads ${config.num_attention_heads}`);
  }
  if (!ACTIVATIONS.has(config.hidden_act)) throw new WeightsError(`${what}: unknown hidden_act '${config.hidden_act}' (known: ${[...ACTIVATIONS].join(', ')})`);
  if (!(config.layer_norm_eps > 0)) throw new WeightsError(`${what}: layer_norm_eps must be positive, got ${config.layer_norm_eps}`);
}

function object(json: unknown, what: string): Json {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new WeightsError(`${what}: expected a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  return json as Json;
}

function number(json: Json, key: string, fallback: number, what: string): number {
  const value = json[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new WeightsError(`${what}: '${key}' must be a number, got ${JSON.stringify(value)}`);
  return value;
}

function integer(json: Json, key: string, fallback: number, what: string): number {
  const value = number(json, key, fallback, what);
  if (!Number.isInteger(value) || value < 0 || (value === 0 && key !== 'pad_token_id' && key !== 'eos_token_id' && key !== 'bos_token_id')) {
    throw new WeightsError(`${what}: '${key}' must be a positive integer, got ${value}`);
  }
  return value;
}

function string(json: Json, key: string, fallback: string, what: string): string {
  const value = json[key] ?? fallback;
  if (typeof value !== 'string') throw new WeightsError(`${what}: '${key}' must be a string, got ${JSON.stringify(value)}`);
  return value;
}

/** Tensor names and shapes of HF's CLIPVisionModelWithProjection part of a CLIPModel checkpoint. */
export function clipVisionShapes(config: ClipVisionConfig, prefix = 'vision_model.', projection = 'visual_projection.weight'): Map<string, number[]> {
  const d = config.hidden_size;
  const p = config.patch_size;
  const positions = (config.image_size / p) ** 2 + 1;
  const shapes = new Map<string, number[]>([
    [`${prefix}embeddings.class_embedding`, [d]],
    [`${prefix}embeddings.patch_embedding.weight`, [d, config.num_channels, p, p]],
    [`${prefix}embeddings.position_embedding.weight`, [positions, d]],
    // HF's spelling.
    [`${prefix}pre_layrnorm.weight`, [d]],
    [`${prefix}pre_layrnorm.bias`, [d]],
  ]);
  addEncoder(shapes, `${prefix}encoder.layers`, config);
  shapes.set(`${prefix}post_layernorm.weight`, [d]);
  shapes.set(`${prefix}post_layernorm.bias`, [d]);
  if (projection) shapes.set(projection, [config.projection_dim, d]);
  return shapes;
}

/** Tensor names and shapes of HF's CLIPTextModelWithProjection part of a CLIPModel checkpoint. */
export function clipTextShapes(config: ClipTextConfig, prefix = 'text_model.', projection = 'text_projection.weight'): Map<string, number[]> {
  const d = config.hidden_size;
  const shapes = new Map<string, number[]>([
    [`${prefix}embeddings.token_embedding.weight`, [config.vocab_size, d]],
    [`${prefix}embeddings.position_embedding.weight`, [config.max_position_embeddings, d]],
  ]);
  addEncoder(shapes, `${prefix}encoder.layers`, config);
  shapes.set(`${prefix}final_layer_norm.weight`, [d]);
  shapes.set(`${prefix}final_layer_norm.bias`, [d]);
  if (projection) shapes.set(projection, [config.projection_dim, d]);
  return shapes;
}

/** Everything a CLIPModel checkpoint holds: both towers and logit_scale (a 0-d tensor). */
export function clipShapes(config: ClipConfig): Map<string, number[]> {
  return new Map([...clipVisionShapes(config.vision), ...clipTextShapes(config.text), ['logit_scale', []]]);
}

function addEncoder(shapes: Map<string, number[]>, prefix: string, config: { hidden_size: number; intermediate_size: number; num_hidden_layers: number }): void {
  const d = config.hidden_size;
  const m = config.intermediate_size;
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = `${prefix}.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      shapes.set(`${layer}.self_attn.${proj}.weight`, [d, d]);
      shapes.set(`${layer}.self_attn.${proj}.bias`, [d]);
    }
    for (const norm of ['layer_norm1', 'layer_norm2']) {
      shapes.set(`${layer}.${norm}.weight`, [d]);
      shapes.set(`${layer}.${norm}.bias`, [d]);
    }
    shapes.set(`${layer}.mlp.fc1.weight`, [m, d]);
    shapes.set(`${layer}.mlp.fc1.bias`, [m]);
    shapes.set(`${layer}.mlp.fc2.weight`, [d, m]);
    shapes.set(`${layer}.mlp.fc2.bias`, [d]);
  }
}

export interface TensorReport {
  /** Expected but absent. */
  missing: string[];
  /** Present but not expected (and not ignored). */
  unexpected: string[];
  /**
   * The unexpected tensors inside the model's own modules (the same first name component as an expected
   * tensor, e.g. `vision_model.encoder.layers.24.*` for a 24-layer config): a config that does not match
   * the checkpoint, an error unless `allowUnused`. Tensors of other modules (the other tower of a full
   * CLIPModel file, `logit_scale`) and ignored names are not in this list.
   */
  unused: string[];
  wrongShape: { name: string; expected: number[]; actual: number[] }[];
  ok: boolean;
}

export interface CheckOptions {
  /** Throw a WeightsError listing every problem (default true). */
  throwOnError?: boolean;
  /** Count unexpected tensors as errors (default false: a CLIPModel file holds both towers). */
  strict?: boolean;
  /** Names never reported as unexpected; default: HF's `position_ids` buffers. */
  ignore?: RegExp;
  /** For messages. */
  what?: string;
  /** Accept tensors of the model's own modules that it does not use (default false). */
  allowUnused?: boolean;
}

/** Compares a checkpoint's tensor table with what a model expects; reports every problem at once. */
export function checkTensors(source: Pick<WeightSource, 'tensors'>, expected: ReadonlyMap<string, readonly number[]>, options: CheckOptions = {}): TensorReport {
  const ignore = options.ignore ?? /(^|\.)position_ids$/;
  const missing: string[] = [];
  const wrongShape: TensorReport['wrongShape'] = [];
  for (const [name, shape] of expected) {
    const info = source.tensors.get(name);
    if (!info) missing.push(name);
    else if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) wrongShape.push({ name, expected: [...shape], actual: [...info.shape] });
  }
  const unexpected = [...source.tensors.keys()].filter((name) => !expected.has(name) && !ignore.test(name));
  const modules = new Set([...expected.keys()].map((name) => name.split('.')[0]!));
  const unused = unexpected.filter((name) => name.includes('.') && modules.has(name.split('.')[0]!));
  const ok = missing.length === 0 && wrongShape.length === 0 && (!options.strict || unexpected.length === 0) && (options.allowUnused === true || unused.length === 0);
  const report: TensorReport = { missing, unexpected, unused, wrongShape, ok };
  if (!ok && (options.throwOnError ?? true)) throw new WeightsError(describeReport(report, options.what ?? 'checkpoint', options.strict ?? false, options.allowUnused ?? false));
  return report;
}

function describeReport(report: TensorReport, what: string, strict: boolean, allowUnused: boolean): string {
  const list = (names: string[]): string => (names.length > 12 ? `${names.slice(0, 12).join(', ')}, … (${names.length} in all)` : names.join(', '));
  const parts: string[] = [];
  if (report.missing.length) parts.push(`missing ${report.missing.length}: ${list(report.missing)}`);
  if (report.wrongShape.length) {
    parts.push(`wrong shape ${report.wrongShape.length}: ${list(report.wrongShape.map((w) => `${w.name} is ${formatShape(w.actual)}, expected ${formatShape(w.expected)}`))}`);
  }
  if (strict && report.unexpected.length) parts.push(`unexpected ${report.unexpected.length}: ${list(report.unexpected)}`);
  else if (!allowUnused && report.unused.length) {
    parts.push(`${report.unused.length} tensors the config does not use (more layers than num_hidden_layers, or another layout): ${list(report.unused)}`);
  }
  return `${what} does not match the model: ${parts.join('; ')}`;
}

/**
 * The same checkpoint under other names: `rename` maps a stored name to the model's name, or null to hide
 * it. Two stored names mapping to one model name is an error.
 */
export function renameTensors(source: WeightSource, rename: (stored: string) => string | null): RangedWeightSource {
  const toStored = new Map<string, string>();
  const tensors = new Map<string, TensorInfo>();
  for (const [stored, info] of source.tensors) {
    const name = rename(stored);
    if (name === null) continue;
    const clash = toStored.get(name);
    if (clash !== undefined) throw new WeightsError(`renaming maps both '${clash}' and '${stored}' to '${name}'`);
    toStored.set(name, stored);
    tensors.set(name, info);
  }
  const stored = (name: string): string => {
    const found = toStored.get(name);
    if (found === undefined) throw new WeightsError(`tensor '${name}' is not in the renamed checkpoint`);
    return found;
  };
  const ranged = isRanged(source) ? source : null;
  const need = (): RangedWeightSource => {
    if (!ranged) throw new WeightsError('the underlying source cannot read tensor pieces');
    return ranged;
  };
  return {
    format: ranged?.format ?? 'safetensors',
    metadata: ranged?.metadata ?? {},
    tensors,
    readF32: (name) => source.readF32(stored(name)),
    readRaw: (name, start, count, into) => need().readRaw(stored(name), start, count, into),
    readF32Range: (name, start, count) => need().readF32Range(stored(name), start, count),
    close: () => source.close(),
  };
}

/**
 * Rewrites checkpoints for small downloads: only the tensors a model reads, matrices stored as f16 or
 * block-quantized q8 / q4 (src/weights/quantized.ts), and what is needed to load the result recorded in
 * its metadata (`geolens.clip_config`, `geolens.quantization`), so the file alone is enough; every file
 * written records its tensors' digests (`geolens.tensor_digests`, checked at load: src/weights/quantized.ts).
 */
import { quantizeMatrix } from '../kernels/quantize.js';
import { QUANT_BLOCK, type QuantizedDType } from '../runtime/index.js';
import { encodeF16, type TensorInfo, type WeightDType } from './dtypes.js';
import { WeightsError } from '../io/errors.js';
import { checkTensors, clipTextShapes, clipVisionShapes, parseClipConfig, parseClipVisionConfig } from './config/clip-config.js';
import { loadJson, type DownloadOptions } from './hub/download.js';
import { describeCheckpointKind, identifyCheckpoint, type CheckpointKind } from './identify.js';
import { QUANTIZATION_KEY } from './formats/quantized.js';
import { TENSOR_DIGESTS_KEY, tensorDigest, tensorDigestsMetadata } from './formats/tensor-digests.js';
import { safetensorsHeader, writeSafetensorsToPath, type SafetensorsEntry } from './formats/safetensors-writer.js';
import type { WeightSource } from './source.js';

export type ConvertDType = 'f32' | 'f16' | QuantizedDType;

/** Metadata key holding the CLIP config (HF config.json, or a vision config) a converted file was made with. */
export const CLIP_CONFIG_KEY = 'geolens.clip_config';

export interface ConvertOptions {
  dtype: ConvertDType;
  /** Which tensors to keep (default: all). */
  include?: (name: string) => boolean;
  /**
   * The scheme of each kept matrix, or null to keep it as a plain tensor; default quantizedScheme: rank-2
   * `*.weight` that are not embeddings get `dtype`, except `*_projection.weight`, q8 under q4.
   */
  scheme?: (name: string, shape: readonly number[], dtype: QuantizedDType) => QuantizedDType | null;
  /** Extra metadata (strings). */
  metadata?: Record<string, string>;
}

/** The CLIP vision tower's tensors (HF names); `text` adds the text tower and logit scale. */
export function clipTensorFilter(text: boolean): (name: string) => boolean {
  return (name) => /^(vision_model\.|visual_projection\.)/.test(name) || (text && /^(text_model\.|text_projection\.|logit_scale$)/.test(name));
}

/** Matrices a model multiplies by (linear weights): rank 2, `.weight`, not an embedding table. */
export function isLinearWeight(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && name.endsWith('.weight') && !/embedding/.test(name);
}

/**
 * How a checkpoint is quantized: linear weights in `dtype`, except the output matrices (CLIP's
 * `*_projection.weight`, GeoCLIP's image MLP `2.weight` and location heads `head.0.weight`), which stay q8
 * under q4, as the models load them.
 */
export function quantizedScheme(name: string, shape: readonly number[], dtype: QuantizedDType): QuantizedDType | null {
  if (!isLinearWeight(name, shape)) return null;
  return dtype === 'q4' && OUTPUT_MATRIX.test(name) ? 'q8' : dtype;
}

const OUTPUT_MATRIX = /(_projection|(^|\.)2|head\.0)\.weight$/;

/**
 * The entries and metadata of the converted file: with f16 every floating tensor becomes F16; with q8 / q4
 * the linear weights are quantized, convolution kernels become F16 and the rest stays F32; integer
 * tensors are kept as they are.
 */
export function convertEntries(source: WeightSource, options: ConvertOptions): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  const { dtype } = options;
  if (!['f32', 'f16', 'q8', 'q4'].includes(dtype)) throw new WeightsError(`convert: dtype must be f32, f16, q8 or q4; got '${dtype}'`);
  const include = options.include ?? (() => true);
  const schemeOf = options.scheme ?? quantizedScheme;
  const entries: SafetensorsEntry[] = [];
  const quantized: Record<string, { scheme: QuantizedDType; shape: number[] }> = {};
  const names = [...source.tensors.keys()].filter(include).sort();
  if (names.length === 0) throw new WeightsError('convert: the checkpoint holds none of the tensors to convert');
  for (const name of names) {
    const info = source.tensors.get(name)!;
    const floating = info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16' || info.dtype === 'F64';
    const scheme = (dtype === 'q8' || dtype === 'q4') && floating ? schemeOf(name, info.shape, dtype) : null;
    if (scheme) {
      const [rows, k] = info.shape as [number, number];
      // One quantization serves both parts; the scales are written right after the values.
      let pending: Promise<ReturnType<typeof quantizeMatrix>> | null = null;
      const matrix = () => (pending ??= source.readF32(name).then((values) => quantizeMatrix(values, [rows, k], scheme, name)));
      entries.push({
        name: `${name}.${scheme}`,
        dtype: scheme === 'q8' ? 'I8' : 'U8',
        shape: [rows, scheme === 'q8' ? k : Math.ceil(k / 2)],
        data: async () => {
          const { values } = await matrix();
          return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        },
      });
      entries.push({
        name: `${name}.scales`,
        dtype: 'F16',
        shape: [rows, Math.ceil(k / QUANT_BLOCK)],
        data: async () => {
          const { scales } = await matrix();
          pending = null;
          return new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength);
        },
      });
      quantized[name] = { scheme, shape: [rows, k] };
      continue;
    }
    // Beside quantized matrices, vectors and position tables stay F32 (a small part of the file, and the
    // model keeps them f32); convolution kernels and token tables go F16, as the model stores them then.
    const half = dtype === 'f16' || ((dtype === 'q8' || dtype === 'q4') && (info.shape.length > 2 || /token_embedding/.test(name)));
    const target: WeightDType = floating ? (half ? 'F16' : 'F32') : info.dtype;
    entries.push({
      name,
      dtype: target,
      shape: info.shape,
      data: async () => {
        if (!floating) {
          if (!('readRaw' in source)) throw new WeightsError(`convert: '${name}' is ${info.dtype}, which this source cannot hand out raw`);
          return (source as unknown as { readRaw(name: string): Promise<Uint8Array> }).readRaw(name);
        }
        const values = await source.readF32(name);
        if (target === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        const halves = new Uint16Array(values.length);
        encodeF16(values, halves);
        return new Uint8Array(halves.buffer);
      },
    });
  }
  const metadata: Record<string, string> = { format: 'pt', ...options.metadata };
  if (Object.keys(quantized).length > 0) metadata[QUANTIZATION_KEY] = JSON.stringify({ block: QUANT_BLOCK, tensors: quantized });
  return { entries, metadata };
}

/** The CLIP config a converted file carries (parsed JSON), if any. */
export function embeddedClipConfig(source: WeightSource): Record<string, unknown> | undefined {
  const text = (source as { metadata?: Readonly<Record<string, string>> }).metadata?.[CLIP_CONFIG_KEY];
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new WeightsError(`metadata '${CLIP_CONFIG_KEY}' is not a JSON object`);
}

export interface ConvertClipOptions {
  clip: WeightSource;
  /** Where `clip` came from: an `hf:owner/repo/file` location finds its config.json beside it. */
  clipLocation?: string;
  /** config.json location or parsed object; default: beside an hf: file, else the one the file carries. */
  config?: string | Record<string, unknown>;
  /** Keep the text tower (and logit_scale) too. */
  text?: boolean;
  dtype: ConvertDType;
  /** Node path to write. */
  out: string;
  download?: DownloadOptions & { cache?: boolean };
}

/**
 * Writes the CLIP tower(s) to `out` as `dtype`, after checking every tensor against the config; the
 * config goes into the metadata, so GeoLocator and the CLI load the file with no other flag. Returns a
 * one-line summary.
 */
export async function convertClip(options: ConvertClipOptions): Promise<string> {
  const { clip, dtype, out } = options;
  const configJson = await resolveConfigJson(options);
  const isFull = 'vision_config' in configJson;
  const vision = isFull ? parseClipConfig(configJson).vision : parseClipVisionConfig(configJson);
  checkTensors(clip, clipVisionShapes(vision), { what: 'CLIP vision checkpoint' });
  if (options.text) {
    if (!isFull) throw new WeightsError('convert --text needs a full CLIP config.json (with text_config); this one describes the vision tower only');
    checkTensors(clip, clipTextShapes(parseClipConfig(configJson).text), { what: 'CLIP text checkpoint' });
  }
  const { entries, metadata } = convertEntries(clip, {
    dtype,
    include: clipTensorFilter(!!options.text),
    metadata: { [CLIP_CONFIG_KEY]: JSON.stringify(configJson), 'geolens.source': options.clipLocation ?? 'unknown' },
  });
  const bytes = await writeSealedSafetensors(out, entries, metadata);
  return `wrote ${out}: ${options.text ? 'vision + text towers' : 'vision tower'}, ${dtype}, ${entries.length} tensors, ${(bytes / 1e6).toFixed(1)} MB`;
}

async function resolveConfigJson(options: ConvertClipOptions): Promise<Record<string, unknown>> {
  const given = options.config;
  if (typeof given === 'object') return given;
  let location = given;
  if (location === undefined) {
    const embedded = embeddedClipConfig(options.clip);
    if (embedded) return embedded;
    const hub = options.clipLocation?.match(/^hf:([^/]+\/[^/]+)\//);
    if (!hub) throw new WeightsError('convert: give --config <config.json> (the checkpoint carries no CLIP config and is not an hf: file)');
    location = `hf:${hub[1]}/config.json`;
  }
  const json = await loadJson(location, options.download);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new WeightsError(`convert: ${location} is not a JSON object`);
  return json as Record<string, unknown>;
}

type GeoClipParts<T> = { imageMlp: T; locationEncoder: T; logitScale: T };

export interface ConvertGeoClipOptions {
  /** One checkpoint holding all three parts, or the three original files. */
  sources: WeightSource | GeoClipParts<WeightSource>;
  /** Where each source came from, for error messages (paths or URLs). */
  locations?: string | GeoClipParts<string>;
  dtype: ConvertDType;
  out: string;
}

const PART_KINDS: GeoClipParts<CheckpointKind> = {
  imageMlp: 'geoclip-image-mlp', locationEncoder: 'geoclip-location-encoder', logitScale: 'geoclip-logit-scale',
};

/**
 * Each source holds the part it is given for, told from its tensor names as `locate` tells them. Stricter
 * than locate's check: nothing loads the result here, so a file geolens does not recognise is refused too,
 * and a whole heads checkpoint is no single part (its names would be prefixed twice).
 */
function expectGeoClipRoles(options: ConvertGeoClipOptions): void {
  const { sources, locations } = options;
  if ('tensors' in sources) {
    const kind = identifyCheckpoint(sources.tensors);
    if (kind !== 'geoclip-heads') {
      throw new WeightsError(`convert --geoclip: ${typeof locations === 'string' ? locations : 'the checkpoint'} is ${describeCheckpointKind(kind)}, expected ${describeCheckpointKind('geoclip-heads')}`);
    }
    return;
  }
  const wrong = (Object.keys(PART_KINDS) as (keyof GeoClipParts<unknown>)[]).flatMap((part) => {
    const kind = identifyCheckpoint(sources[part].tensors);
    const where = typeof locations === 'object' ? locations[part] : part;
    return kind === PART_KINDS[part] ? [] : [`${where} is ${describeCheckpointKind(kind)}, expected ${describeCheckpointKind(PART_KINDS[part])}`];
  });
  if (wrong.length > 0) throw new WeightsError(`convert --geoclip: ${wrong.join('; ')}`);
}

/**
 * Writes GeoCLIP's heads to one file: the image MLP under `image_encoder.mlp.`, the location encoder under
 * `location_encoder.`, and `logit_scale` (the Hugging Face release's names), matrices as `dtype`. Each
 * source must hold its part (expectGeoClipRoles) before anything is written.
 */
export async function convertGeoClipSources(options: ConvertGeoClipOptions): Promise<string> {
  const { sources, dtype, out } = options;
  expectGeoClipRoles(options);
  const merged = 'tensors' in sources ? sources : mergeSources([
    ['image_encoder.mlp.', sources.imageMlp],
    ['location_encoder.', sources.locationEncoder],
    ['', sources.logitScale, (name) => (sources.logitScale.tensors.size === 1 ? 'logit_scale' : name)],
  ]);
  const { entries, metadata } = convertEntries(merged, { dtype });
  const bytes = await writeSealedSafetensors(out, entries, metadata);
  return `wrote ${out}: GeoCLIP heads, ${dtype}, ${entries.length} tensors, ${(bytes / 1e6).toFixed(1)} MB`;
}

/** Several sources seen as one, each name prefixed (or renamed). */
function mergeSources(parts: [string, WeightSource, ((name: string) => string)?][]): WeightSource {
  const tensors = new Map<string, TensorInfo>();
  const origin = new Map<string, [WeightSource, string]>();
  for (const [prefix, source, rename] of parts) {
    for (const [name, info] of source.tensors) {
      const merged = rename ? rename(name) : prefix + name;
      if (tensors.has(merged)) throw new WeightsError(`convert: two checkpoints both hold '${merged}'`);
      tensors.set(merged, info);
      origin.set(merged, [source, name]);
    }
  }
  return {
    tensors,
    readF32: (name) => {
      const [source, original] = origin.get(name)!;
      return source.readF32(original);
    },
    close: async () => {},
  };
}

/**
 * Writes `entries` to `path` with their digests in the metadata (TENSOR_DIGESTS_KEY), in one pass: the
 * header goes out with placeholder digests of the same length, each tensor is hashed as the writer asks
 * for it, and the header is rewritten in place before the file takes its name. Converting never holds
 * the whole output in memory, nor quantizes a matrix twice.
 */
export async function writeSealedSafetensors(path: string, entries: readonly SafetensorsEntry[], metadata: Record<string, string>): Promise<number> {
  const digests = new Map<string, string>(entries.map((entry) => [entry.name, '0'.repeat(64)]));
  const placeholder = { ...metadata, [TENSOR_DIGESTS_KEY]: tensorDigestsMetadata(digests) };
  const hashed = entries.map((entry) => ({
    ...entry,
    data: async () => {
      const bytes = await entry.data();
      digests.set(entry.name, await tensorDigest(bytes));
      return bytes;
    },
  }));
  const { open, rename, rm } = await import('node:fs/promises');
  const staging = `${path}.sealing`;
  try {
    const total = await writeSafetensorsToPath(staging, hashed, placeholder);
    const { head } = safetensorsHeader(entries, { ...metadata, [TENSOR_DIGESTS_KEY]: tensorDigestsMetadata(digests) });
    if (head.byteLength !== safetensorsHeader(entries, placeholder).head.byteLength) throw new WeightsError(`convert: the sealed header of ${path} changed length`);
    const file = await open(staging, 'r+');
    try {
      await file.write(head, 0, head.byteLength, 0);
    } finally {
      await file.close();
    }
    await rename(staging, path);
    return total;
  } catch (error) {
    await rm(staging, { force: true });
    throw error;
  }
}

import { formatShape, GeolensError, ShapeError, type Gpu, type Tensor } from '../../runtime/index.js';
import { encodeSafetensors, expectCheckpoint, openWeights, type RangedWeightSource } from '../../weights/index.js';
import { DEFAULT_CONCEPT_PROMPTS, type ConceptPrompt } from './prompts.js';

// The one safetensors writer lives in weights/formats; the concept files and their tests use it from here.
export { encodeSafetensors };

/**
 * A concept bank: K named unit vectors in GeoCLIP's shared 512-d space (rows of C, [K, D]). The concept
 * module scores images and places against these rows.
 */
export interface ConceptBank {
  readonly names: readonly string[];
  /** [K, D] row-major, each row L2-normalized. */
  readonly vectors: Float32Array;
  readonly dim: number;
  /** The text each vector was made from, where known (same order as names). */
  readonly prompts?: readonly string[];
}

/** Bad concept-bank input: duplicate names, wrong sizes, a file without the bank's metadata. */
export class ConceptBankError extends GeolensError {
  override name = 'ConceptBankError';
}

/** Text features of a batch of prompts ([K, E], e.g. CLIP's 768-d text embeddings), as ClipTextModel.textFeatures. */
export type TextFeaturesFn = (texts: string[]) => Promise<Tensor> | Tensor;
/** Maps [K, E] CLIP features into GeoCLIP's space [K, D] (GeoCLIP's image MLP). */
export type ProjectionFn = (features: Tensor) => Tensor | Promise<Tensor>;

/** Builds a bank from already computed vectors; rows are L2-normalized, names must be unique. */
export function createConceptBank(names: readonly string[], vectors: Float32Array, dim: number, prompts?: readonly string[]): ConceptBank {
  if (!Number.isInteger(dim) || dim <= 0) throw new ShapeError(`concept bank: dimension must be a positive integer, got ${dim}`);
  if (names.length === 0) throw new ConceptBankError('concept bank: no concepts given');
  if (vectors.length !== names.length * dim) {
    throw new ShapeError(`concept bank: ${vectors.length} values for ${names.length} names of dimension ${dim} (expected [${names.length}, ${dim}])`);
  }
  if (prompts && prompts.length !== names.length) {
    throw new ConceptBankError(`concept bank: ${prompts.length} prompts for ${names.length} names`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new ConceptBankError(`concept bank: duplicate concept name '${name}'`);
    seen.add(name);
  }
  const normalized = new Float32Array(vectors.length);
  for (let k = 0; k < names.length; k++) {
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += vectors[k * dim + i]! ** 2;
    norm = Math.sqrt(norm);
    if (!(norm > 0) || !Number.isFinite(norm)) throw new ConceptBankError(`concept bank: vector of '${names[k]}' has norm ${norm}`);
    for (let i = 0; i < dim; i++) normalized[k * dim + i] = vectors[k * dim + i]! / norm;
  }
  return { names: [...names], vectors: normalized, dim, prompts: prompts ? [...prompts] : undefined };
}

/**
 * Embeds concept prompts: C_k = normalize(mlp(textFeatures(prompt_k))). With GeoCLIP this is
 * `buildConceptBank((t) => clipText.textFeatures(t), (f) => geoclip.imageMlp(f))`; prompts default to
 * the curated geographic list in concept-prompts.ts. Prompts go through `textFeatures` in batches of
 * `batchSize` so a 150-prompt bank never needs 150 token rows at once.
 */
export async function buildConceptBank(
  textFeatures: TextFeaturesFn,
  mlp: ProjectionFn,
  prompts: readonly (ConceptPrompt | string)[] = DEFAULT_CONCEPT_PROMPTS,
  options: { batchSize?: number } = {},
): Promise<ConceptBank> {
  const entries = prompts.map((p) => (typeof p === 'string' ? { name: p, prompt: p } : p));
  if (entries.length === 0) throw new ConceptBankError('buildConceptBank: no prompts given');
  const batchSize = options.batchSize ?? 32;
  const rows: Float32Array[] = [];
  let dim = 0;
  for (let start = 0; start < entries.length; start += batchSize) {
    const batch = entries.slice(start, start + batchSize);
    const input = await textFeatures(batch.map((e) => e.prompt));
    if (input.rank !== 2 || input.shape[0] !== batch.length) {
      throw new ShapeError(`buildConceptBank: textFeatures returned ${formatShape(input.shape)} for ${batch.length} prompts (expected [${batch.length}, E])`);
    }
    const projected = await mlp(input);
    if (projected.rank !== 2 || projected.shape[0] !== batch.length) {
      throw new ShapeError(`buildConceptBank: the MLP returned ${formatShape(projected.shape)} for text features ${formatShape(input.shape)}`);
    }
    if (dim && projected.shape[1] !== dim) throw new ShapeError(`buildConceptBank: MLP width changed from ${dim} to ${projected.shape[1]}`);
    dim = projected.shape[1]!;
    rows.push(await projected.read());
    if (projected !== input) projected.release();
    input.release();
  }
  const vectors = new Float32Array(entries.length * dim);
  let offset = 0;
  for (const r of rows) {
    vectors.set(r, offset);
    offset += r.length;
  }
  return createConceptBank(entries.map((e) => e.name), vectors, dim, entries.map((e) => e.prompt));
}

/** A bank with `extra` concepts appended (e.g. a user's own texts embedded with buildConceptBank). */
export function mergeConceptBanks(bank: ConceptBank, extra: ConceptBank): ConceptBank {
  if (extra.dim !== bank.dim) throw new ShapeError(`mergeConceptBanks: dimensions differ, [${bank.names.length}, ${bank.dim}] vs [${extra.names.length}, ${extra.dim}]`);
  const vectors = new Float32Array(bank.vectors.length + extra.vectors.length);
  vectors.set(bank.vectors);
  vectors.set(extra.vectors, bank.vectors.length);
  const prompts = bank.prompts && extra.prompts ? [...bank.prompts, ...extra.prompts] : undefined;
  return createConceptBank([...bank.names, ...extra.names], vectors, bank.dim, prompts);
}

/** A bank restricted to the named concepts, in the order given. */
export function selectConcepts(bank: ConceptBank, names: readonly string[]): ConceptBank {
  const index = new Map(bank.names.map((n, i) => [n, i]));
  const vectors = new Float32Array(names.length * bank.dim);
  const prompts: string[] = [];
  names.forEach((name, row) => {
    const k = index.get(name);
    if (k === undefined) throw new ConceptBankError(`selectConcepts: no concept named '${name}' in the bank`);
    vectors.set(bank.vectors.subarray(k * bank.dim, (k + 1) * bank.dim), row * bank.dim);
    if (bank.prompts) prompts.push(bank.prompts[k]!);
  });
  return createConceptBank(names, vectors, bank.dim, bank.prompts ? prompts : undefined);
}

/** The bank as a safetensors file: tensor "concepts" [K, D] F32; names (and prompts) as JSON in metadata. */
export function conceptBankToSafetensors(bank: ConceptBank): Uint8Array {
  const metadata: Record<string, string> = { format: 'geolens-concept-bank', names: JSON.stringify(bank.names) };
  if (bank.prompts) metadata.prompts = JSON.stringify(bank.prompts);
  return encodeSafetensors({ concepts: { shape: [bank.names.length, bank.dim], data: bank.vectors } }, metadata);
}

/** Reads a bank written by conceptBankToSafetensors (or by any tool following the same layout). */
export async function loadConceptBank(location: string | URL | Uint8Array): Promise<ConceptBank> {
  const source = await openWeights(location);
  try {
    return await conceptBankFromSource(source, typeof location === 'string' ? location : location instanceof URL ? location.href : 'concept bank bytes');
  } finally {
    await source.close();
  }
}

export async function conceptBankFromSource(source: RangedWeightSource, what: string): Promise<ConceptBank> {
  // A CLIP or GeoCLIP file given as the bank is named for what it is, not by its hundreds of tensor names.
  expectCheckpoint(source.tensors, ['concept-bank'], what);
  const info = source.tensors.get('concepts');
  if (!info) throw new ConceptBankError(`${what}: no 'concepts' tensor (found: ${[...source.tensors.keys()].join(', ') || 'none'})`);
  if (info.shape.length !== 2) throw new ShapeError(`${what}: 'concepts' has shape ${formatShape(info.shape)}, expected [K, D]`);
  const names = parseStringList(source.metadata.names, `${what}: metadata 'names'`);
  const prompts = source.metadata.prompts ? parseStringList(source.metadata.prompts, `${what}: metadata 'prompts'`) : undefined;
  if (names.length !== info.shape[0]) throw new ConceptBankError(`${what}: ${names.length} names for 'concepts' of shape ${formatShape(info.shape)}`);
  return createConceptBank(names, await source.readF32('concepts'), info.shape[1]!, prompts);
}

/** Writes a bank to a file (Node only). */
export async function saveConceptBank(bank: ConceptBank, path: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, conceptBankToSafetensors(bank));
}

/** The bank's vectors as a [K, D] GPU tensor. */
export function uploadConceptBank(gpu: Gpu, bank: ConceptBank): Tensor {
  return gpu.upload(bank.vectors, [bank.names.length, bank.dim], 'f32', 'concept.bank');
}

function parseStringList(text: string | undefined, what: string): string[] {
  if (text === undefined) throw new ConceptBankError(`${what} is missing`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConceptBankError(`${what} is not JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new ConceptBankError(`${what} must be a JSON array of strings`);
  return value as string[];
}

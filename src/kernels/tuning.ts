// Kernel choice by timing, per adapter and shape, kept between runs.
//
// What is fastest depends on the device (SwiftShader wants big per-invocation register blocks, lavapipe
// the subgroup kernels, a GPU workgroup-memory tiles) and on the shape (a 32-row block is mostly padding
// for one row). tuneGemmShapes() times every GEMM variant this adapter runs at each shape a model uses and
// keeps the fastest, and the attention, row-kernel and search tuners do the same for theirs; the table
// persists per adapter name + driver + geolens version (a JSON file under the download cache's folder in
// Node, the Cache API in browsers), so the next process starts with it.
// Nothing tunes unless asked: without a table each kernel uses its per-adapter-class default (gemm.ts,
// attention.ts, rows.ts, search.ts).
import { GEMM_VARIANTS, gemmShapeKey, gemmVariantRuns, linear, setTunedGemmChoices, type GemmVariant } from './gemm.js';
import { attention, attentionKernelRuns, attentionKernels, attentionShapeKey, setTunedAttentionChoices, type AttentionKernel } from './attention.js';
import { quantizeMatrix, uploadQuantized } from './quantize.js';
import { layerNorm } from './layernorm.js';
import { softmax } from './softmax.js';
import { l2Normalize } from './l2-normalize.js';
import { rowShapeKey, rowStrategies, rowStrategyRuns, setTunedRowChoices, withRowStrategy, type RowOp, type RowStrategy } from './rows.js';
import {
  defaultTilesPerWorkgroup, dispatchSearch, SEARCH_TILINGS, searchScoresValid, searchShapeKey, searchTilingValid, setTunedSearchChoices, uploadGalleryChunks,
  type SearchScores,
} from './search.js';
import { floatsToHalves, isNode, isQuantized, type Gpu, type Tensor } from '../runtime/index.js';
import { defaultCacheDir } from '../io/cache-dir.js';

declare const __GEOLENS_VERSION__: string | undefined;
const VERSION: string = typeof __GEOLENS_VERSION__ === 'string' ? __GEOLENS_VERSION__ : '0.0.0-unbundled';

export const TUNING_FORMAT = 'geolens-tuning/1';

export type WeightDType = 'f32' | 'f16' | 'q8' | 'q4';

/** One GEMM a model runs: rows of x (batch folded in), K, N and the weight's storage. */
export interface GemmShape {
  rows: number;
  k: number;
  n: number;
  dtype: WeightDType;
}

/** One attention a model runs: qkv [batch, seq, 3·heads·headDim]. */
export interface AttentionShape {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  causal?: boolean;
}

/** One row-wise kernel call a model makes: x [rows, cols]. */
export interface RowShape {
  op: RowOp;
  rows: number;
  cols: number;
}

/** One gallery search a model makes: `queries` queries against a [rows, dim] gallery stored as dtype. */
export interface SearchShape {
  rows: number;
  dim: number;
  dtype: 'f32' | 'f16';
  queries: number;
}

export interface TunedRows {
  strategy: RowStrategy;
  /** Best timed milliseconds of each strategy (rowStrategies). */
  ms: Record<string, number>;
}

export interface TunedSearch {
  tilesPerWorkgroup: number;
  /** Where the dot products come from (absent in older tables: 'direct'). */
  scores?: SearchScores;
  /**
   * Best timed milliseconds of each candidate: the tile kernel's own scores at each tiling (SEARCH_TILINGS),
   * keyed by tiles per workgroup, and 'gemm' (the GEMM's scores, default tiling).
   */
  ms: Record<string, number>;
}

export interface TunedAttention {
  kernel: AttentionKernel;
  /** Best timed milliseconds of each kernel (attentionKernels). */
  ms: Record<string, number>;
}

export interface TunedGemm {
  variant: string;
  /** Best timed milliseconds of each candidate (one call at the tuned shape). */
  ms: Record<string, number>;
}

/** What is stored: whose device it was timed on, and the choice per shape key (gemmShapeKey). */
export interface TuningTable {
  format: typeof TUNING_FORMAT;
  adapter: string;
  driver: string;
  version: string;
  gemm: Record<string, TunedGemm>;
  /** Attention's kernel per shape key (attentionShapeKey); absent in tables that tuned GEMMs only. */
  attention?: Record<string, TunedAttention>;
  /** Row-wise kernels' strategy per shape key (rowShapeKey); absent in older tables. */
  rows?: Record<string, TunedRows>;
  /** Gallery search's tiles per workgroup per shape key (searchShapeKey); absent in older tables. */
  search?: Record<string, TunedSearch>;
}

export interface TuningIdentity {
  adapter: string;
  driver: string;
  version: string;
}

/** The adapter name + driver + geolens version a table belongs to; a table for another is not used. */
export function tuningIdentity(gpu: Gpu): TuningIdentity {
  const info = gpu.adapter.info;
  // Dawn's description carries the driver and its version (lavapipe: "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)").
  const driver = [info?.description, info?.device].filter(Boolean).join(' / ') || 'unknown driver';
  return { adapter: gpu.adapterName, driver, version: VERSION };
}

/** Where tables live: a folder in Node (the download cache's, or given), or a browser's Cache API. */
export interface TuningStore {
  read(identity: TuningIdentity): Promise<string | null>;
  write(identity: TuningIdentity, text: string): Promise<void>;
  /** Where a table for this identity is kept, for log lines. */
  describe(identity: TuningIdentity): string;
}

function fileName(identity: TuningIdentity): string {
  return `${identity.adapter.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80) || 'adapter'}.json`;
}

/** Node: <cacheDir>/tuning/<adapter>.json; one file per adapter name, replaced when the driver or version moves on. */
export function fileTuningStore(cacheDir: string): TuningStore {
  const path = async (identity: TuningIdentity) => (await import('node:path')).join(cacheDir, 'tuning', fileName(identity));
  return {
    async read(identity) {
      const { readFile } = await import('node:fs/promises');
      try {
        return await readFile(await path(identity), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async write(identity, text) {
      const [{ mkdir, writeFile, rename }, { dirname }] = await Promise.all([import('node:fs/promises'), import('node:path')]);
      const target = await path(identity);
      await mkdir(dirname(target), { recursive: true });
      // Written aside and renamed: a reader never sees half a table.
      const partial = `${target}.${process.pid}.partial`;
      await writeFile(partial, text);
      await rename(partial, target);
    },
    describe: (identity) => `${cacheDir}/tuning/${fileName(identity)}`,
  };
}

/** Browsers: one Cache API entry per adapter name. */
export function browserTuningStore(): TuningStore {
  const url = (identity: TuningIdentity) => `https://geolens.invalid/tuning/${encodeURIComponent(identity.adapter)}`;
  return {
    async read(identity) {
      if (typeof caches === 'undefined') return null;
      const response = await (await caches.open('geolens-tuning')).match(url(identity));
      return response ? response.text() : null;
    },
    async write(identity, text) {
      if (typeof caches === 'undefined') return;
      await (await caches.open('geolens-tuning')).put(url(identity), new Response(text, { headers: { 'content-type': 'application/json' } }));
    },
    describe: (identity) => `Cache API geolens-tuning ${url(identity)}`,
  };
}

export async function defaultTuningStore(cacheDir?: string): Promise<TuningStore> {
  if (!isNode()) return browserTuningStore();
  return fileTuningStore(cacheDir ?? (await defaultCacheDir()));
}

/**
 * A stored table's text checked against this adapter: the table, or why it is not used (unreadable
 * JSON, another format, another adapter, driver or version, a variant this build or adapter lacks).
 */
export function parseTuningTable(gpu: Gpu, text: string): TuningTable | string {
  let table: unknown;
  try {
    table = JSON.parse(text);
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  if (!table || typeof table !== 'object') return 'not a tuning table';
  const t = table as Partial<TuningTable>;
  if (t.format !== TUNING_FORMAT) return `format ${JSON.stringify(t.format)}, expected ${TUNING_FORMAT}`;
  const identity = tuningIdentity(gpu);
  for (const field of ['adapter', 'driver', 'version'] as const) {
    if (t[field] !== identity[field]) return `made for ${field} ${JSON.stringify(t[field])}, this is ${JSON.stringify(identity[field])}`;
  }
  if (!t.gemm || typeof t.gemm !== 'object') return 'no gemm section';
  for (const [key, entry] of Object.entries(t.gemm)) {
    const variant = typeof entry?.variant === 'string' ? GEMM_VARIANTS.find((v) => v.name === entry.variant) : undefined;
    if (!variant) return `entry "${key}" names no known GEMM variant`;
    if (!gemmVariantRuns(gpu, variant)) return `entry "${key}": ${variant.name} does not run on this adapter`;
  }
  if (t.attention !== undefined) {
    if (!t.attention || typeof t.attention !== 'object') return 'attention section is not an object';
    for (const [key, entry] of Object.entries(t.attention)) {
      const headDim = Number(/ d(\d+)/.exec(key)?.[1]);
      if (typeof entry?.kernel !== 'string' || !attentionKernelRuns(gpu, entry.kernel, headDim)) return `attention entry "${key}" names no attention kernel this adapter runs`;
    }
  }
  if (t.rows !== undefined) {
    if (!t.rows || typeof t.rows !== 'object') return 'rows section is not an object';
    for (const [key, entry] of Object.entries(t.rows)) {
      if (typeof entry?.strategy !== 'string' || !rowStrategyRuns(gpu, entry.strategy)) return `rows entry "${key}" names no row strategy this adapter runs`;
    }
  }
  if (t.search !== undefined) {
    if (!t.search || typeof t.search !== 'object') return 'search section is not an object';
    for (const [key, entry] of Object.entries(t.search)) {
      if (!searchTilingValid(entry?.tilesPerWorkgroup)) return `search entry "${key}" names no tiling (tiles per workgroup must be a positive integer)`;
      if (entry.scores !== undefined && !searchScoresValid(entry.scores)) return `search entry "${key}": scores must be 'direct' or 'gemm'`;
    }
  }
  return t as TuningTable;
}

/** Makes linear(), attention(), the row-wise kernels and search use a table's choices on this adapter. */
export function installTuningTable(gpu: Gpu, table: TuningTable): void {
  setTunedGemmChoices(gpu, Object.fromEntries(Object.entries(table.gemm).map(([key, entry]) => [key, entry.variant])));
  setTunedAttentionChoices(gpu, Object.fromEntries(Object.entries(table.attention ?? {}).map(([key, entry]) => [key, entry.kernel])));
  setTunedRowChoices(gpu, Object.fromEntries(Object.entries(table.rows ?? {}).map(([key, entry]) => [key, entry.strategy])));
  setTunedSearchChoices(gpu, Object.fromEntries(Object.entries(table.search ?? {}).map(([key, entry]) => [key, { tilesPerWorkgroup: entry.tilesPerWorkgroup, scores: entry.scores ?? 'direct' }])));
}

export interface LoadTuningOptions {
  store?: TuningStore;
  cacheDir?: string;
  log?: (message: string) => void;
}

/**
 * Reads and installs this adapter's stored table. A missing table is not a problem (the defaults
 * apply); a corrupt or foreign one is ignored with one log line, and the defaults apply.
 */
export async function loadTuningTable(gpu: Gpu, options: LoadTuningOptions = {}): Promise<TuningTable | null> {
  const store = options.store ?? (await defaultTuningStore(options.cacheDir));
  const identity = tuningIdentity(gpu);
  const log = options.log ?? (() => {});
  let text: string | null;
  try {
    text = await store.read(identity);
  } catch (error) {
    log(`geolens: tuning table ${store.describe(identity)} not read (${(error as Error).message}); using the defaults`);
    return null;
  }
  if (text === null) return null;
  const table = parseTuningTable(gpu, text);
  if (typeof table === 'string') {
    log(`geolens: tuning table ${store.describe(identity)} ignored: ${table}; using the defaults`);
    return null;
  }
  installTuningTable(gpu, table);
  return table;
}

export async function saveTuningTable(gpu: Gpu, table: TuningTable, options: { store?: TuningStore; cacheDir?: string } = {}): Promise<string> {
  const store = options.store ?? (await defaultTuningStore(options.cacheDir));
  const identity = tuningIdentity(gpu);
  await store.write(identity, JSON.stringify(table, null, 1) + '\n');
  return store.describe(identity);
}

export interface TuneOptions {
  /**
   * Wall-clock bound, ms (default 60,000): no compile or timing round starts after it, except that a shape
   * already begun gets one timed pass of what it compiled. Shapes not reached keep the defaults.
   */
  budgetMs?: number;
  /** Timed passes per candidate (default 3); the best counts, since a neighbour only ever slows one. */
  repeats?: number;
  /** Restrict the candidates (default: every variant this adapter runs but the slow naive and tiled16 rungs). */
  candidates?: string[];
  /** Adds to this table (default: a new one). */
  into?: TuningTable;
  onShape?: (shape: GemmShape, key: string, result: TunedGemm | null) => void;
}

/**
 * Candidates a tuner may pick on this adapter: every rung but the two teaching ones (seconds a call on a
 * CPU device), and on software adapters not tiled64x64 either, whose barriers held it to 13–16% of the
 * FMA ceiling on SwiftShader and 5–6% on lavapipe at every ViT shape (bench/kernels/gemm-shapes), so
 * timing it there only spends the budget.
 */
export function tunableGemmVariants(gpu: Gpu): GemmVariant[] {
  return GEMM_VARIANTS.filter((v) => v.kind !== 'naive' && v.kind !== 'tiled' && !(gpu.isSoftware && v.kind === 'tiled-register') && gemmVariantRuns(gpu, v));
}

function uploadWeight(gpu: Gpu, { n, k, dtype }: GemmShape): Tensor {
  const values = new Float32Array(n * k);
  // Any values time the same; these stay finite through every activation.
  for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761) % 1000) / 1000 / Math.sqrt(k) - 0.5 / Math.sqrt(k);
  if (isQuantized(dtype)) return uploadQuantized(gpu, quantizeMatrix(values, [n, k], dtype));
  return dtype === 'f16' ? gpu.upload(floatsToHalves(values), [n, k], 'f16') : gpu.upload(values, [n, k]);
}

/**
 * Best milliseconds of each candidate over `repeats` rounds, the candidates taking turns within a round so
 * a burst of load from elsewhere falls on all of them; no round starts after the deadline. After each
 * round a candidate more than `dropBeyond` × the fastest is timed no more.
 */
async function timeRounds<T extends string>(gpu: Gpu, candidates: readonly T[], run: (name: T) => void, repeats: number, deadline: number,
  dropBeyond = Infinity): Promise<Record<string, number>> {
  const ms: Record<string, number> = {};
  let alive = [...candidates];
  for (let round = 0; round < repeats; round++) {
    for (const name of alive) {
      const t = (await gpu.time(() => run(name))).ns / 1e6;
      ms[name] = Math.min(ms[name] ?? Infinity, t);
    }
    const fastest = Math.min(...alive.map((name) => ms[name]!));
    alive = alive.filter((name) => ms[name]! <= dropBeyond * fastest);
    if (performance.now() > deadline) break;
  }
  return ms;
}

/**
 * Times the candidates at each shape (one key per gemmShapeKey; repeats are skipped), installs the result
 * and returns the table (not yet saved). Candidates run interleaved, a round at a time, so a burst of load
 * from elsewhere falls on all of them; after the first round one more than 3× the fastest is dropped.
 */
export async function tuneGemmShapes(gpu: Gpu, shapes: readonly GemmShape[], options: TuneOptions = {}): Promise<TuningTable> {
  const deadline = performance.now() + (options.budgetMs ?? 60_000);
  const repeats = Math.max(1, options.repeats ?? 3);
  const names = options.candidates ?? tunableGemmVariants(gpu).map((v) => v.name);
  for (const name of names) {
    const variant = GEMM_VARIANTS.find((v) => v.name === name);
    if (!variant || !gemmVariantRuns(gpu, variant)) throw new Error(`tune: "${name}" is not a GEMM variant this adapter runs`);
  }
  const table = tableFor(gpu, options.into);
  const seen = new Set<string>();
  for (const shape of shapes) {
    const key = gemmShapeKey(shape.dtype, shape.rows, shape.k, shape.n);
    if (seen.has(key)) continue;
    seen.add(key);
    if (performance.now() > deadline) {
      options.onShape?.(shape, key, null);
      continue;
    }
    const x = gpu.upload(new Float32Array(shape.rows * shape.k).fill(0.5), [shape.rows, shape.k]);
    const w = uploadWeight(gpu, shape);
    const bias = gpu.upload(new Float32Array(shape.n).fill(0.1), [shape.n]);
    const y = gpu.empty([shape.rows, shape.n], 'f32', 'tune.out');
    let ms: Record<string, number> = {};
    try {
      // Compiles outside the timed rounds, one at a time so the budget can stop between them.
      const alive: string[] = [];
      for (const name of names) {
        if (alive.length > 0 && performance.now() > deadline) break;
        linear(x, w, { bias, out: y, variant: name, splitTail: true });
        await gpu.sync();
        alive.push(name);
      }
      ms = await timeRounds(gpu, alive, (name) => linear(x, w, { bias, out: y, variant: name, splitTail: true }), repeats, deadline, 3);
    } finally {
      for (const t of [x, w, bias, y]) t.release();
    }
    table.gemm[key] = { variant: fastest(ms), ms: roundedMs(ms) };
    options.onShape?.(shape, key, table.gemm[key]!);
  }
  installTuningTable(gpu, table);
  return table;
}

/** Options of the tuners for the table's attention, rows and search sections. */
export interface TuneSectionOptions<Shape, Result> {
  /** Wall-clock bound, ms (default 60,000): shapes not begun by then keep the default choice. */
  budgetMs?: number;
  /** Timed passes per candidate (default 3); the best counts. */
  repeats?: number;
  /** Adds to this table (default: a new one). */
  into?: TuningTable;
  onShape?: (shape: Shape, key: string, result: Result | null) => void;
}

export type TuneAttentionOptions = TuneSectionOptions<AttentionShape, TunedAttention>;
export type TuneRowsOptions = TuneSectionOptions<RowShape, TunedRows>;
export type TuneSearchOptions = TuneSectionOptions<SearchShape, TunedSearch>;

/** One shape made ready to time: its candidates, one run of each, and what to free afterwards. */
interface TimedShape<Choice extends string> {
  candidates: readonly Choice[];
  run: (choice: Choice) => void;
  release: () => void;
}

/**
 * The loop the attention, rows and search tuners share: per shape key not yet in `entries` and begun
 * before the deadline, every candidate compiled, then timed interleaved a round at a time (timeRounds),
 * and the fastest stored as `entry(fastest, ms)`.
 */
async function tuneSection<Shape, Choice extends string, Result>(gpu: Gpu, shapes: readonly Shape[], options: TuneSectionOptions<Shape, Result>,
  entries: Record<string, Result>, section: { key: (shape: Shape) => string; prepare: (shape: Shape) => TimedShape<Choice>; entry: (best: Choice, ms: Record<string, number>) => Result }): Promise<void> {
  const deadline = performance.now() + (options.budgetMs ?? 60_000);
  const repeats = Math.max(1, options.repeats ?? 3);
  for (const shape of shapes) {
    const key = section.key(shape);
    if (entries[key]) continue;
    if (performance.now() > deadline) {
      options.onShape?.(shape, key, null);
      continue;
    }
    const timed = section.prepare(shape);
    let ms: Record<string, number> = {};
    try {
      for (const choice of timed.candidates) timed.run(choice);
      await gpu.sync();
      ms = await timeRounds(gpu, timed.candidates, timed.run, repeats, deadline);
    } finally {
      timed.release();
    }
    entries[key] = section.entry(fastest(ms) as Choice, roundedMs(ms));
    options.onShape?.(shape, key, entries[key]!);
  }
}

function tableFor(gpu: Gpu, into: TuningTable | undefined): TuningTable {
  return into ?? { format: TUNING_FORMAT, ...tuningIdentity(gpu), gemm: {} };
}

/**
 * Times every attention kernel this adapter runs (attentionKernels: the blocks kernel at each workgroup
 * size, the subgroup kernels where they run) at each shape, installs the fastest per shape and returns
 * the table (not yet saved).
 */
export async function tuneAttentionShapes(gpu: Gpu, shapes: readonly AttentionShape[], options: TuneAttentionOptions = {}): Promise<TuningTable> {
  const table = tableFor(gpu, options.into);
  await tuneSection(gpu, shapes, options, (table.attention ??= {}), {
    key: (shape) => attentionShapeKey(shape.batch, shape.seq, shape.heads, shape.headDim, shape.causal),
    prepare: (shape) => {
      const qkv = gpu.upload(hashedValues(shape.batch * shape.seq * 3 * shape.heads * shape.headDim), [shape.batch, shape.seq, 3 * shape.heads * shape.headDim]);
      return {
        candidates: attentionKernels(gpu, shape.headDim),
        run: (kernel: AttentionKernel) => attention(qkv, shape.heads, { causal: shape.causal, kernel }).release(),
        release: () => qkv.release(),
      };
    },
    entry: (kernel, ms) => ({ kernel, ms }),
  });
  installTuningTable(gpu, table);
  return table;
}

/** Best milliseconds per candidate, to the microsecond, as tables store them. */
function roundedMs(ms: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(ms).map(([name, t]) => [name, Math.round(t * 1000) / 1000]));
}

function fastest(ms: Record<string, number>): string {
  return Object.entries(ms).sort((a, b) => a[1] - b[1])[0]![0];
}

/** Values that time like real ones and stay finite through every kernel: a hash of the index in [-0.5, 0.5) · scale. */
function hashedValues(count: number, scale = 1): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < values.length; i++) values[i] = (((i * 2654435761) % 1000) / 1000 - 0.5) * scale;
  return values;
}

/**
 * Times every row strategy this adapter runs (rowStrategies: workgroup, invocation, subgroup where it
 * runs) at each shape, installs the fastest per shape key and returns the table (not yet saved).
 */
export async function tuneRowShapes(gpu: Gpu, shapes: readonly RowShape[], options: TuneRowsOptions = {}): Promise<TuningTable> {
  const table = tableFor(gpu, options.into);
  const strategies = rowStrategies(gpu);
  await tuneSection(gpu, shapes, options, (table.rows ??= {}), {
    key: (shape) => rowShapeKey(shape.op, shape.rows, shape.cols),
    prepare: (shape) => {
      const x = gpu.upload(hashedValues(shape.rows * shape.cols, 4), [shape.rows, shape.cols]);
      const gamma = gpu.upload(hashedValues(shape.cols), [shape.cols]);
      const op: () => Tensor = {
        layerNorm: () => layerNorm(x, gamma, gamma),
        softmax: () => softmax(x),
        l2Normalize: () => l2Normalize(x),
      }[shape.op];
      return {
        candidates: strategies,
        run: (strategy: RowStrategy) => withRowStrategy(strategy, op).release(),
        release: () => {
          x.release();
          gamma.release();
        },
      };
    },
    entry: (strategy, ms) => ({ strategy, ms }),
  });
  installTuningTable(gpu, table);
  return table;
}

/** The k a search is timed at: GeoCLIP's default topK. */
const TUNED_SEARCH_K = 5;

/**
 * Times every tiling (SEARCH_TILINGS tiles per workgroup) with the tile kernel's own scores, and the GEMM's
 * scores at the default tiling, at each search shape, both passes as searchTopK records them; installs the
 * fastest per shape key and returns the table (not yet saved).
 */
export async function tuneSearchShapes(gpu: Gpu, shapes: readonly SearchShape[], options: TuneSearchOptions = {}): Promise<TuningTable> {
  const table = tableFor(gpu, options.into);
  await tuneSection(gpu, shapes, options, (table.search ??= {}), {
    key: (shape) => searchShapeKey(shape.rows, shape.dim, shape.dtype, shape.queries),
    prepare: (shape) => {
      const gallery = uploadGalleryChunks(gpu, hashedValues(shape.rows * shape.dim, 2 / Math.sqrt(shape.dim)), shape.rows, shape.dim, undefined, shape.dtype);
      const queries = gpu.upload(hashedValues(shape.queries * shape.dim, 2 / Math.sqrt(shape.dim)).reverse(), [shape.queries, shape.dim]);
      const k = Math.min(TUNED_SEARCH_K, shape.rows);
      const viaGemm = { tilesPerWorkgroup: defaultTilesPerWorkgroup(gpu), scores: 'gemm' as const };
      return {
        candidates: [...SEARCH_TILINGS.map(String), 'gemm'],
        run: (choice: string) =>
          dispatchSearch(queries, gallery, { k, scale: 39.7, ...(choice === 'gemm' ? viaGemm : { tilesPerWorkgroup: Number(choice), scores: 'direct' as const }) }).release(),
        release: () => {
          queries.release();
          for (const chunk of gallery) chunk.release();
        },
      };
    },
    entry: (choice, ms): TunedSearch => (choice === 'gemm' ? { tilesPerWorkgroup: defaultTilesPerWorkgroup(gpu), scores: 'gemm', ms } : { tilesPerWorkgroup: Number(choice), scores: 'direct', ms }),
  });
  installTuningTable(gpu, table);
  return table;
}

export interface TuneModelOptions extends TuneOptions {
  /** Reports each attention shape as tuneAttentionShapes does (onShape reports the GEMMs). */
  onAttentionShape?: TuneAttentionOptions['onShape'];
  /** Row-wise kernel shapes, timed after attention (clipVisionRowShapes, geoclipRowShapes). */
  rowShapes?: readonly RowShape[];
  onRowShape?: TuneRowsOptions['onShape'];
  /** Gallery searches, timed after the row-wise kernels (geoclipSearchShapes). */
  searchShapes?: readonly SearchShape[];
  onSearchShape?: TuneSearchOptions['onShape'];
}

/**
 * A model's attention, row-wise, search and GEMM shapes within one budget (budgetMs, default 60 s):
 * attention first, then the row-wise kernels and the search (a few milliseconds a shape each, a search
 * on a software adapter tens), then the GEMMs in what is left. What `geolens tune`, create({ tune }) and
 * bench/gpu.sh run. Installs the result and returns the table (not yet saved).
 */
export async function tuneModelShapes(gpu: Gpu, gemmShapes: readonly GemmShape[], attentionShapes: readonly AttentionShape[],
  options: TuneModelOptions = {}): Promise<TuningTable> {
  const started = performance.now();
  const budgetMs = options.budgetMs ?? 60_000;
  const left = () => Math.max(0, budgetMs - (performance.now() - started));
  const withAttention = await tuneAttentionShapes(gpu, attentionShapes, { budgetMs, repeats: options.repeats, into: options.into, onShape: options.onAttentionShape });
  const withRows = await tuneRowShapes(gpu, options.rowShapes ?? [], { budgetMs: left(), repeats: options.repeats, into: withAttention, onShape: options.onRowShape });
  const withSearch = await tuneSearchShapes(gpu, options.searchShapes ?? [], { budgetMs: left(), repeats: options.repeats, into: withRows, onShape: options.onSearchShape });
  return tuneGemmShapes(gpu, gemmShapes, { ...options, budgetMs: left(), into: withSearch });
}

/** Tokens a CLIP vision tower runs per image: the patches and the class token. */
function visionTokens(config: { image_size: number; patch_size: number }): number {
  return (config.image_size / config.patch_size) ** 2 + 1;
}

/** The attention a CLIP vision tower runs per image batch: one shape, every layer alike. */
export function clipVisionAttentionShapes(config: { hidden_size: number; num_attention_heads: number; image_size: number; patch_size: number },
  batches: readonly number[] = [1]): AttentionShape[] {
  const { hidden_size: d, num_attention_heads: heads } = config;
  return batches.map((batch) => ({ batch, seq: visionTokens(config), heads, headDim: d / heads }));
}

/**
 * The GEMMs of a CLIP vision tower per image batch (rows = batch · tokens), its projection, and
 * GeoCLIP's image head (hidden → hidden → projection, ReLU between), for `geolens tune` and create().
 */
export function clipVisionGemmShapes(config: { hidden_size: number; intermediate_size: number; image_size: number; patch_size: number; projection_dim: number },
  dtype: WeightDType, batches: readonly number[] = [1]): GemmShape[] {
  const { hidden_size: d, intermediate_size: inner, projection_dim: projection } = config;
  const tokens = visionTokens(config);
  const shapes: GemmShape[] = [];
  for (const batch of batches) {
    const rows = batch * tokens;
    shapes.push({ rows, k: d, n: 3 * d, dtype }, { rows, k: d, n: d, dtype }, { rows, k: d, n: inner, dtype }, { rows, k: inner, n: d, dtype });
    shapes.push({ rows: batch, k: d, n: projection, dtype });
  }
  return shapes;
}

/**
 * The row-wise kernels of a CLIP vision tower per image batch: the LayerNorms over every token
 * [batch · tokens, hidden] (pre-norm and both norms of every layer) and the final one over the class
 * tokens [batch, hidden].
 */
export function clipVisionRowShapes(config: { hidden_size: number; image_size: number; patch_size: number }, batches: readonly number[] = [1]): RowShape[] {
  return batches.flatMap((batch) => [
    { op: 'layerNorm' as const, rows: batch * visionTokens(config), cols: config.hidden_size },
    { op: 'layerNorm' as const, rows: batch, cols: config.hidden_size },
  ]);
}

/**
 * GeoCLIP's gallery as create() builds it by default: 100,000 GPS points, 512-d embeddings, embedded 2048
 * at a time by the released location encoder (256 random Fourier frequencies, so 512 features, into
 * three capsules of 1024 → 1024 → 1024 → 512).
 */
export const GEOCLIP_GALLERY = { rows: 100_000, dim: 512, embedRows: 2048, features: 512, hidden: 1024 } as const;

/**
 * GeoCLIP's row-wise kernels per image batch: the image embeddings' l2Normalize [batch, 512] and the
 * gallery's while it is embedded [2048, 512]. (The search computes its own softmax.)
 */
export function geoclipRowShapes(batches: readonly number[] = [1], gallery: { rows: number; dim: number; embedRows: number } = GEOCLIP_GALLERY): RowShape[] {
  return [
    ...batches.map((batch) => ({ op: 'l2Normalize' as const, rows: batch, cols: gallery.dim })),
    { op: 'l2Normalize', rows: Math.min(gallery.embedRows, gallery.rows), cols: gallery.dim },
  ];
}

/**
 * The location encoder's GEMMs while it embeds the gallery, `embedRows` points at a time (each capsule
 * runs the same four): what a first run spends building the gallery, and refinement's grids after it.
 */
export function geoclipLocationGemmShapes(dtype: WeightDType,
  encoder: { embedRows: number; features: number; hidden: number; dim: number } = GEOCLIP_GALLERY): GemmShape[] {
  const { embedRows: rows, features, hidden, dim } = encoder;
  return [
    { rows, k: features, n: hidden, dtype },
    { rows, k: hidden, n: hidden, dtype },
    { rows, k: hidden, n: dim, dtype },
  ];
}

/** GeoCLIP's search of its gallery per image batch (queries), per gallery storage (default both f32 and f16). */
export function geoclipSearchShapes(dtypes: readonly ('f32' | 'f16')[] = ['f32', 'f16'], gallery: { rows: number; dim: number } = GEOCLIP_GALLERY,
  batches: readonly number[] = [1]): SearchShape[] {
  return batches.flatMap((queries) => dtypes.map((dtype) => ({ rows: gallery.rows, dim: gallery.dim, dtype, queries })));
}

export interface PrepareTuningOptions extends LoadTuningOptions {
  /** Time this model's shapes now (and store the table) rather than only reading a stored one. */
  tune?: boolean | TuneOptions;
  shapes?: readonly GemmShape[];
  attentionShapes?: readonly AttentionShape[];
  rowShapes?: readonly RowShape[];
  searchShapes?: readonly SearchShape[];
}

/**
 * What create() does: installs the stored table for this adapter if there is a good one; with `tune`,
 * times the shapes the table lacks, adds them and stores it. Without either the defaults apply.
 */
export async function prepareTuning(gpu: Gpu, options: PrepareTuningOptions = {}): Promise<TuningTable | null> {
  const store = options.store ?? (await defaultTuningStore(options.cacheDir));
  const table = await loadTuningTable(gpu, { ...options, store });
  if (!options.tune) return table;
  const missing = (options.shapes ?? []).filter((s) => !table?.gemm[gemmShapeKey(s.dtype, s.rows, s.k, s.n)]);
  const missingAttention = (options.attentionShapes ?? []).filter((s) => !table?.attention?.[attentionShapeKey(s.batch, s.seq, s.heads, s.headDim, s.causal)]);
  const missingRows = (options.rowShapes ?? []).filter((s) => !table?.rows?.[rowShapeKey(s.op, s.rows, s.cols)]);
  const missingSearch = (options.searchShapes ?? []).filter((s) => !table?.search?.[searchShapeKey(s.rows, s.dim, s.dtype, s.queries)]);
  if (missing.length === 0 && missingAttention.length === 0 && missingRows.length === 0 && missingSearch.length === 0) return table;
  const tuned = await tuneModelShapes(gpu, missing, missingAttention, {
    ...(typeof options.tune === 'object' ? options.tune : {}), into: table ?? undefined, rowShapes: missingRows, searchShapes: missingSearch,
  });
  try {
    await saveTuningTable(gpu, tuned, { store });
  } catch (error) {
    // An unwritable cache costs the next run a retune, not this one its answer.
    options.log?.(`geolens: tuning table not stored (${(error as Error).message})`);
  }
  return tuned;
}

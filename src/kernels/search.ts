import tileSource from '../../shaders/search-tile.wgsl';
import mergeSource from '../../shaders/search-merge.wgsl';
import { floatsToHalves, formatShape, GeolensError, linearWorkgroups, ShapeError, type Gpu, type Tensor } from '../runtime/index.js';
import { linear } from './gemm.js';

/**
 * Gallery search: GeoCLIP scores every gallery row, logits[q, j] = scale · dot(query[q], gallery[j]), then
 * takes softmax over all j and the top k. Queries and gallery rows are expected to be L2-normalized already
 * (the gallery once, when it is built), so the dot product is the cosine.
 *
 * Two passes, one submit: search-tile.wgsl scores a range of rows per workgroup and keeps a sorted top-k and
 * a (max, Σ exp) partial per query; search-merge.wgsl folds those partials FAN_IN at a time until one
 * remains per query. Only Q·k logits, rows and Q stats come back to the host.
 */

/** Largest k a search supports (the per-workgroup lists live in workgroup memory). */
export const SEARCH_MAX_K = 256;

const WORKGROUP_SIZE = 64;
const MAX_QUERY_BLOCK = 8;
const CANDIDATE_CAPACITY = 512;
const ROWS_PER_THREAD = 4;
const FAN_IN = 16;
const NO_ROW = 0xffffffff;

export interface SearchOptions {
  /** How many best rows to return per query (1 ≤ k ≤ min(SEARCH_MAX_K, gallery rows)). */
  k: number;
  /** Multiplies every dot product: exp(logit_scale) in GeoCLIP (≈ 39.7). */
  scale: number;
  /**
   * Tiles of WORKGROUP_SIZE · 4 rows per workgroup. Default: the tuning table's for this shape class
   * (searchShapeKey), else defaultTilesPerWorkgroup.
   */
  tilesPerWorkgroup?: number;
  /**
   * Where the dot products come from: 'direct', the tile kernel's own 4-row × 8-query blocks, or 'gemm',
   * linear() into a [Q, rows] buffer per chunk that the tile kernel then reads (many queries share each
   * gallery load there). Default: the tuning table's for this shape class, else defaultSearchScores.
   * 'gemm' falls back to 'direct' for a chunk whose scores would not fit one binding.
   */
  scores?: SearchScores;
}

export type SearchScores = 'direct' | 'gemm';

/** What the tuner times (tilesPerWorkgroup). */
export const SEARCH_TILINGS: readonly number[] = [1, 2, 4, 8, 16, 32];

/**
 * Tiles per workgroup with no option and no tuning table: 16 on software adapters (few cores, fewer
 * workgroups amortize each one's first tile, where every row is a candidate), 4 on hardware.
 * bench/kernels/search, 100,000 × 512, one query, median ms at 1 / 4 / 16 / 32 tiles: lavapipe f32
 * 75.8 / 69.8 / 70.4 / 70.8, f16 60.8 / 55.5 / 53.7 / 55.8 (within 8% from 4 tiles up); SwiftShader f16
 * 325-316 / 326-203 / 165-162 / 172-160 over two runs, f32 too noisy on two shared cores to rank (16
 * tiles 171 and 399 ms in two runs); 32 tiles came out 3-19% under 16 at 8 queries in all four runs,
 * not enough to move a default that also serves machines with more cores (32 tiles leave 13
 * workgroups). The tuner's interleaved rounds (tuneSearchShapes) decide per adapter where it matters.
 */
export function defaultTilesPerWorkgroup(gpu: Gpu): number {
  return gpu.isSoftware ? 16 : 4;
}

/**
 * Where a search's dot products come from with no option and no tuning table: the GEMM on software
 * adapters from 4 queries up, the tile kernel otherwise (hardware untimed here: the tuner decides).
 * bench/kernels/search, 100,000 × 512, direct against gemm, ms: lavapipe f32 Q=1 36 / 33, Q=4 58 / 37,
 * Q=8 132 / 85, Q=32 543 / 152; f16 Q=1 38 / 50, Q=32 778 / 115. SwiftShader f32 Q=1 127 / 167, Q=4 200 /
 * 168, Q=8 365 / 264, Q=32 1303 / 740; f16 Q=4 187 / 174, Q=32 1149 / 673. With one query the tile kernel
 * reads each gallery row once either way and needs no [Q, rows] round trip.
 */
export function defaultSearchScores(gpu: Gpu, queries: number): SearchScores {
  return gpu.isSoftware && queries >= 4 ? 'gemm' : 'direct';
}

export function searchScoresValid(scores: unknown): scores is SearchScores {
  return scores === 'direct' || scores === 'gemm';
}

/** Where a search of this shape takes its dot products with no option: the tuning table's, else the default. */
export function searchScoresFor(gpu: Gpu, rows: number, dim: number, dtype: 'f32' | 'f16', queries: number): SearchScores {
  return tunedSearches.get(gpu.adapterName)?.get(searchShapeKey(rows, dim, dtype, queries))?.scores ?? defaultSearchScores(gpu, queries);
}

/** Queries one tile pass scores together: shader variants exist for 1, 4 and 8. */
function queryBlockOf(remaining: number): number {
  return remaining === 1 ? 1 : remaining <= 4 ? 4 : MAX_QUERY_BLOCK;
}

/**
 * The key a tuning table files a search under: the gallery's rows in classes of powers of 4 from 4096
 * (what sets how many workgroups there are to spread), D, the gallery's storage, and the query block of
 * the first pass ("search n<=262144 d512 f16 q1").
 */
export function searchShapeKey(rows: number, dim: number, dtype: 'f32' | 'f16', queries: number): string {
  let bound = 4096;
  while (bound < rows) bound *= 4;
  return `search n<=${bound} d${dim} ${dtype} q${queryBlockOf(Math.min(queries, MAX_QUERY_BLOCK))}`;
}

/** A tuning table's choice for one search shape class. */
export interface SearchChoice {
  tilesPerWorkgroup: number;
  scores: SearchScores;
}

/** Per adapter name: shape key (searchShapeKey) → tiling and score source, from a tuning table (src/kernels/tuning.ts). */
const tunedSearches = new Map<string, ReadonlyMap<string, SearchChoice>>();

/** Whether a table may name this tiling: any positive integer runs; this checks the table, not the adapter. */
export function searchTilingValid(tiles: unknown): tiles is number {
  return Number.isInteger(tiles) && (tiles as number) >= 1;
}

/** Installs a tuning table's search choices for this adapter (null removes them); callers check them first (searchTilingValid, searchScoresValid). */
export function setTunedSearchChoices(gpu: Gpu, choices: Readonly<Record<string, SearchChoice>> | null): void {
  if (choices === null) tunedSearches.delete(gpu.adapterName);
  else tunedSearches.set(gpu.adapterName, new Map(Object.entries(choices)));
}

/** Tiles per workgroup a search of this shape runs with no option: the tuning table's, else the default. */
export function searchTilingFor(gpu: Gpu, rows: number, dim: number, dtype: 'f32' | 'f16', queries: number): number {
  const tuned = tunedSearches.get(gpu.adapterName)?.get(searchShapeKey(rows, dim, dtype, queries))?.tilesPerWorkgroup;
  return tuned !== undefined && searchTilingValid(tuned) ? tuned : defaultTilesPerWorkgroup(gpu);
}

export interface SearchResult {
  k: number;
  queries: number;
  /** [Q, k] global gallery rows (chunk offsets included), best first; equal logits by lower row. */
  indices: Uint32Array;
  /** [Q, k] scale · cos. */
  logits: Float32Array;
  /** [Q, k] exp(logit - logSumExp): softmax over the whole gallery. */
  probabilities: Float32Array;
  /** [Q] log Σ_j exp(logits[q, j]) over every gallery row. */
  logSumExp: Float32Array;
}

/** A query or gallery value is NaN or ±Inf; the message names the query row (or says it is the gallery). */
export class NonFiniteError extends GeolensError {
  override name = 'NonFiniteError';
}

/** What dispatchSearch leaves on the GPU: one merged list per query, not yet read back. */
export interface SearchPartials {
  queries: number;
  k: number;
  /** [1, Q, k] f32 logits. */
  values: Tensor;
  /** [1, Q, k] u32 global rows. */
  rows: Tensor;
  /** [1, Q, 4] f32: (max, Σ exp(logit - max), non-finite flag, 0). */
  stats: Tensor;
  release(): void;
}

/**
 * Top-k rows of the gallery for each query, with their logits and softmax probabilities over the whole
 * gallery. `gallery` is one [N, D] tensor or several chunks (rows numbered across chunks in order), each f32
 * or packed f16; queries are [Q, D] f32. NaN/Inf in a query rejects with the query row named.
 */
export async function searchTopK(queries: Tensor, gallery: Tensor | readonly Tensor[], options: SearchOptions): Promise<SearchResult> {
  const partials = dispatchSearch(queries, gallery, options);
  const gpu = queries.gpu;
  try {
    const q = partials.queries;
    const k = partials.k;
    // One readback instead of three: each costs a submit and a map round trip.
    const packed = gpu.empty([2 * q * k + 4 * q], 'u32', 'search.result');
    gpu.copy(partials.values.buffer, 0, packed.buffer, 0, 4 * q * k);
    gpu.copy(partials.rows.buffer, 0, packed.buffer, 4 * q * k, 4 * q * k);
    gpu.copy(partials.stats.buffer, 0, packed.buffer, 8 * q * k, 16 * q);
    let raw: ArrayBuffer;
    try {
      raw = await gpu.readRaw(packed);
    } finally {
      packed.release();
    }
    const logits = new Float32Array(raw, 0, q * k);
    const indices = new Uint32Array(raw, 4 * q * k, q * k);
    const stats = new Float32Array(raw, 8 * q * k, 4 * q);
    for (let i = 0; i < q; i++) {
      if (stats[i * 4 + 2]! !== 0) await throwNonFinite(queries, i);
    }
    const logSumExp = new Float32Array(q);
    const probabilities = new Float32Array(q * k);
    for (let i = 0; i < q; i++) {
      const lse = stats[i * 4]! + Math.log(stats[i * 4 + 1]!);
      logSumExp[i] = lse;
      for (let j = 0; j < k; j++) probabilities[i * k + j] = Math.exp(logits[i * k + j]! - lse);
    }
    return { k, queries: q, indices, logits, probabilities, logSumExp };
  } finally {
    partials.release();
  }
}

/** Validates and records both passes without reading anything back (searchTopK and the benchmark use it). */
export function dispatchSearch(queries: Tensor, gallery: Tensor | readonly Tensor[], options: SearchOptions): SearchPartials {
  const chunks: readonly Tensor[] = Array.isArray(gallery) ? gallery : [gallery as Tensor];
  const { k, scale } = options;
  if (queries.rank !== 2 || queries.dtype !== 'f32') throw new ShapeError(`search: queries must be [Q, D] f32, got ${queries}`);
  const [queryCount, dim] = queries.shape as [number, number];
  if (chunks.length === 0) throw new ShapeError('search: the gallery is empty (no chunks given)');
  let totalRows = 0;
  chunks.forEach((chunk, c) => {
    const what = chunks.length > 1 ? `gallery chunk ${c}` : 'gallery';
    if (chunk.gpu !== queries.gpu) throw new ShapeError(`search: ${what} lives on another device than the queries`);
    if (chunk.rank !== 2 || (chunk.dtype !== 'f32' && chunk.dtype !== 'f16')) {
      throw new ShapeError(`search: ${what} must be [N, D] f32 or f16, got ${chunk}`);
    }
    if (chunk.shape[1] !== dim) {
      throw new ShapeError(`search: ${what} ${formatShape(chunk.shape)} has D = ${chunk.shape[1]}, queries ${formatShape(queries.shape)} have D = ${dim}`);
    }
    totalRows += chunk.shape[0]!;
  });
  if (dim % 4 !== 0 || (dim % 8 !== 0 && chunks.some((c) => c.dtype === 'f16'))) {
    throw new ShapeError(`search: D = ${dim} must be a multiple of 4 (8 for f16 galleries); queries ${formatShape(queries.shape)}`);
  }
  checkK(k, totalRows);
  const tilesPerWorkgroup = options.tilesPerWorkgroup ?? searchTilingFor(queries.gpu, totalRows, dim, chunks[0]!.dtype as 'f32' | 'f16', queryCount);
  if (!Number.isFinite(scale)) throw new ShapeError(`search: scale must be finite, got ${scale}`);
  if (!Number.isInteger(tilesPerWorkgroup) || tilesPerWorkgroup < 1) throw new ShapeError(`search: tilesPerWorkgroup must be a positive integer, got ${tilesPerWorkgroup}`);
  if (totalRows >= NO_ROW) throw new ShapeError(`search: ${totalRows} gallery rows do not fit u32 row numbers`);

  const gpu = queries.gpu;
  const kCapacity = k <= 64 ? 64 : SEARCH_MAX_K;
  // Blocks of up to 8 queries share each gallery load; shader variants exist for 1, 4 and 8.
  const blocks: { queryOffset: number; queryBlock: number; candidates: number }[] = [];
  for (let queryOffset = 0; queryOffset < queryCount; queryOffset += MAX_QUERY_BLOCK) {
    const remaining = queryCount - queryOffset;
    const queryBlock = queryBlockOf(remaining);
    blocks.push({ queryOffset, queryBlock, candidates: candidateCapacity(gpu, queryBlock, kCapacity, k) });
  }
  const scoreSource = options.scores ?? searchScoresFor(gpu, totalRows, dim, chunks[0]!.dtype as 'f32' | 'f16', queryCount);
  if (!searchScoresValid(scoreSource)) throw new ShapeError(`search: scores must be 'direct' or 'gemm', got ${JSON.stringify(scoreSource)}`);
  const rowsPerWorkgroup = WORKGROUP_SIZE * ROWS_PER_THREAD * tilesPerWorkgroup;
  const workgroupsPerChunk = chunks.map((chunk) => Math.ceil(chunk.shape[0]! / rowsPerWorkgroup));
  let lists = workgroupsPerChunk.reduce((a, b) => a + b, 0);
  let values = gpu.empty([lists, queryCount, k], 'f32', 'search.values');
  let rows = gpu.empty([lists, queryCount, k], 'u32', 'search.rows');
  let stats = gpu.empty([lists, queryCount, 4], 'f32', 'search.stats');

  const params = new ArrayBuffer(48);
  const words = new Uint32Array(params);
  const floats = new Float32Array(params);
  let partialOffset = 0;
  let rowOffset = 0;
  chunks.forEach((chunk, c) => {
    const chunkRows = chunk.shape[0]!;
    // [Q, rows] dot products by the GEMM, when they fit one binding; the tile kernel reads them instead.
    const given = scoreSource === 'gemm' && queryCount * chunkRows * 4 <= gpu.limits.maxStorageBufferBindingSize ? linear(queries, chunk) : null;
    for (const { queryOffset, queryBlock, candidates } of blocks) {
      words.set([chunkRows, dim, queryCount, queryOffset, rowOffset, partialOffset, rowsPerWorkgroup, k]);
      floats[8] = scale;
      gpu.dispatch({
        label: 'search-tile',
        code: tileSource,
        constants: {
          WORKGROUP_SIZE,
          QUERY_BLOCK: queryBlock,
          K_CAPACITY: kCapacity,
          CANDIDATE_CAPACITY: candidates,
          GALLERY_F16: chunk.dtype === 'f16' ? 1 : 0,
          SCORES_GIVEN: given ? 1 : 0,
        },
        uniforms: words,
        // The binding a pipeline does not read gets the queries in its place.
        buffers: [queries, given ? queries : chunk, values, rows, stats, given ?? queries],
        workgroups: linearWorkgroups(workgroupsPerChunk[c]!, 1),
      });
    }
    given?.release();
    partialOffset += workgroupsPerChunk[c]!;
    rowOffset += chunkRows;
  });

  while (lists > 1) {
    const outLists = Math.ceil(lists / FAN_IN);
    const outValues = gpu.empty([outLists, queryCount, k], 'f32', 'search.values');
    const outRows = gpu.empty([outLists, queryCount, k], 'u32', 'search.rows');
    const outStats = gpu.empty([outLists, queryCount, 4], 'f32', 'search.stats');
    gpu.dispatch({
      label: 'search-merge',
      code: mergeSource,
      constants: { WORKGROUP_SIZE, FAN_IN },
      uniforms: new Uint32Array([lists, queryCount, k, outLists]),
      buffers: [values, rows, stats, outValues, outRows, outStats],
      workgroups: linearWorkgroups(outLists * queryCount, WORKGROUP_SIZE),
    });
    values.release();
    rows.release();
    stats.release();
    [values, rows, stats, lists] = [outValues, outRows, outStats, outLists];
  }
  const result = { values, rows, stats };
  return {
    queries: queryCount,
    k,
    ...result,
    release() {
      result.values.release();
      result.rows.release();
      result.stats.release();
    },
  };
}

/**
 * Candidate slots that fit beside the lists and per-thread stats in the adapter's workgroup memory (the
 * WebGPU default is 16 KiB, SwiftShader has 32 KiB); fewer slots only mean more rounds on a crowded tile.
 */
function candidateCapacity(gpu: Gpu, queryBlock: number, kCapacity: number, k: number): number {
  const available = gpu.limits.maxComputeWorkgroupStorageSize;
  const fixed = queryBlock * kCapacity * 8 + queryBlock * 4 + WORKGROUP_SIZE * queryBlock * 8 + 16;
  let capacity = CANDIDATE_CAPACITY;
  while (capacity > 32 && fixed + capacity * 12 > available) capacity /= 2;
  if (fixed + capacity * 12 > available) {
    throw new ShapeError(`search: k = ${k} with ${queryBlock} queries per pass needs ${fixed + capacity * 12} bytes of workgroup memory, this adapter has ${available}`);
  }
  return capacity;
}

function checkK(k: number, rows: number): void {
  if (!Number.isInteger(k) || k < 1) throw new ShapeError(`search: k must be a positive integer, got ${k}`);
  if (k > SEARCH_MAX_K) throw new ShapeError(`search: k = ${k} exceeds the supported maximum of ${SEARCH_MAX_K}`);
  if (k > rows) throw new ShapeError(`search: k = ${k} is larger than the gallery (${rows} rows)`);
}

async function throwNonFinite(queries: Tensor, flagged: number): Promise<never> {
  const dim = queries.shape[1]!;
  const values = await queries.read();
  for (let q = 0; q < queries.shape[0]!; q++) {
    for (let d = 0; d < dim; d++) {
      const v = values[q * dim + d]!;
      if (!Number.isFinite(v)) throw new NonFiniteError(`search: query row ${q} holds ${v} at column ${d}`);
    }
  }
  throw new NonFiniteError(`search: logits of query row ${flagged} are not finite although the queries are; the gallery holds NaN/Inf or values too large for f32`);
}

/**
 * Rows per gallery chunk so that one chunk fits one storage binding of `maxBindingBytes`, and at most
 * `maxRowsPerChunk` when given. Throws when a single row does not fit.
 */
export function galleryChunkRows(rows: number, dim: number, dtype: 'f32' | 'f16', maxBindingBytes: number, maxRowsPerChunk = Infinity): number {
  const rowBytes = dim * (dtype === 'f16' ? 2 : 4);
  const fit = Math.floor(maxBindingBytes / rowBytes);
  if (fit < 1) throw new ShapeError(`search: one gallery row of D = ${dim} ${dtype} needs ${rowBytes} bytes, more than one binding holds (${maxBindingBytes} bytes)`);
  if (!(maxRowsPerChunk >= 1)) throw new ShapeError(`search: maxRowsPerChunk must be at least 1, got ${maxRowsPerChunk}`);
  return Math.max(1, Math.min(rows, fit, Math.floor(maxRowsPerChunk)));
}

/**
 * Uploads an [rows, dim] gallery as chunk tensors, each small enough for one storage binding on this
 * adapter (and at most maxRowsPerChunk rows), ready for searchTopK. f16 halves the bytes read per search.
 */
export function uploadGalleryChunks(gpu: Gpu, data: Float32Array, rows: number, dim: number, maxRowsPerChunk?: number, dtype: 'f32' | 'f16' = 'f32'): Tensor[] {
  if (!Number.isInteger(rows) || !Number.isInteger(dim) || rows < 1 || dim < 1) throw new ShapeError(`search: gallery shape ${formatShape([rows, dim])} is empty or invalid`);
  if (data.length !== rows * dim) throw new ShapeError(`search: gallery data holds ${data.length} values, not ${formatShape([rows, dim])} = ${rows * dim}`);
  const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const chunkRows = galleryChunkRows(rows, dim, dtype, maxBinding, maxRowsPerChunk);
  const chunks: Tensor[] = [];
  for (let first = 0; first < rows; first += chunkRows) {
    const n = Math.min(chunkRows, rows - first);
    const slice = data.subarray(first * dim, (first + n) * dim);
    chunks.push(gpu.upload(dtype === 'f16' ? floatsToHalves(slice) : slice, [n, dim], dtype, 'search.gallery'));
  }
  return chunks;
}

/**
 * Plain-TS search with float64 accumulation, fed row blocks in gallery order, so a gallery too big for
 * memory can be checked as it is generated. searchTopKReference wraps it for galleries in hand.
 */
export class SearchReference {
  private readonly queryCount: number;
  private readonly best: { value: number; row: number }[][];
  private readonly runMax: Float64Array;
  private readonly runSum: Float64Array;
  private rowsSeen = 0;

  constructor(
    private readonly queries: Float32Array,
    private readonly dim: number,
    private readonly options: SearchOptions,
  ) {
    if (!Number.isInteger(dim) || dim < 1 || queries.length % dim !== 0 || queries.length === 0) {
      throw new ShapeError(`searchReference: ${queries.length} query values do not form rows of D = ${dim}`);
    }
    this.queryCount = queries.length / dim;
    for (let q = 0; q < this.queryCount; q++) {
      for (let d = 0; d < dim; d++) {
        const v = queries[q * dim + d]!;
        if (!Number.isFinite(v)) throw new NonFiniteError(`search: query row ${q} holds ${v} at column ${d}`);
      }
    }
    this.best = Array.from({ length: this.queryCount }, () => []);
    this.runMax = new Float64Array(this.queryCount).fill(-Infinity);
    this.runSum = new Float64Array(this.queryCount);
  }

  /** Scores the next rows of the gallery ([n, D] row-major). */
  addRows(block: Float32Array): void {
    const { dim, queries } = this;
    if (block.length % dim !== 0) throw new ShapeError(`searchReference: ${block.length} gallery values do not form rows of D = ${dim}`);
    const n = block.length / dim;
    const k = this.options.k;
    for (let q = 0; q < this.queryCount; q++) {
      const list = this.best[q]!;
      const qBase = q * dim;
      let m = this.runMax[q]!;
      let s = this.runSum[q]!;
      for (let i = 0; i < n; i++) {
        const gBase = i * dim;
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += queries[qBase + d]! * block[gBase + d]!;
        const x = this.options.scale * dot;
        if (!Number.isFinite(x)) throw new NonFiniteError(`search: logit of query row ${q} and gallery row ${this.rowsSeen + i} is ${x}`);
        if (x > m) {
          s = s * Math.exp(m - x) + 1;
          m = x;
        } else {
          s += Math.exp(x - m);
        }
        // Rows arrive in increasing order, so an equal logit never displaces an earlier row.
        if (list.length === k && x <= list[k - 1]!.value) continue;
        let j = list.length === k ? k - 1 : list.length;
        if (list.length < k) list.push({ value: x, row: 0 });
        while (j > 0 && x > list[j - 1]!.value) {
          list[j] = list[j - 1]!;
          j--;
        }
        list[j] = { value: x, row: this.rowsSeen + i };
      }
      this.runMax[q] = m;
      this.runSum[q] = s;
    }
    this.rowsSeen += n;
  }

  result(): SearchResult {
    const { k } = this.options;
    if (this.rowsSeen === 0) throw new ShapeError('search: the gallery is empty (no chunks given)');
    checkK(k, this.rowsSeen);
    const q = this.queryCount;
    const out: SearchResult = {
      k,
      queries: q,
      indices: new Uint32Array(q * k),
      logits: new Float32Array(q * k),
      probabilities: new Float32Array(q * k),
      logSumExp: new Float32Array(q),
    };
    for (let i = 0; i < q; i++) {
      const lse = this.runMax[i]! + Math.log(this.runSum[i]!);
      out.logSumExp[i] = lse;
      this.best[i]!.forEach(({ value, row }, j) => {
        out.indices[i * k + j] = row;
        out.logits[i * k + j] = value;
        out.probabilities[i * k + j] = Math.exp(value - lse);
      });
    }
    return out;
  }
}

/** searchTopK in plain TS (float64): queries [Q, D], gallery [N, D] as one array or row-ordered chunks. */
export function searchTopKReference(queries: Float32Array, gallery: Float32Array | readonly Float32Array[], dim: number, options: SearchOptions): SearchResult {
  const reference = new SearchReference(queries, dim, options);
  const chunks = gallery instanceof Float32Array ? [gallery] : gallery;
  if (chunks.length === 0) throw new ShapeError('search: the gallery is empty (no chunks given)');
  checkK(options.k, chunks.reduce((n, c) => n + Math.floor(c.length / dim), 0));
  for (const chunk of chunks) reference.addRows(chunk);
  return reference.result();
}

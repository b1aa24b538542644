// Gallery search, pass 1 of 2: for one chunk of gallery rows, each workgroup scores a contiguous range of
// rows against a block of queries and keeps, per query, its own sorted top-k plus a log-sum-exp partial.
//
//   logit[q, row] = scale · dot(queries[q], gallery[row])
//
// queries:        [Q, D] f32, read as vec4f (D % 4 == 0)
// gallery:        [rows, D] of this chunk, read as vec4u words: f32 (D % 4 == 0) or packed f16 (D % 8 == 0)
// partialValues:  [P, Q, k] f32, each workgroup's best logits, best first (P = workgroups of all chunks)
// partialRows:    [P, Q, k] u32, their global gallery rows (NO_ROW pads a list shorter than k)
// partialStats:   [P, Q] vec4f (m = max logit, Σ exp(logit - m), 1 if some logit was NaN/Inf else 0, 0)
//
// scores:         [Q, rows] f32 of this chunk, dot(queries[q], gallery[row]) already computed, when
//                 SCORES_GIVEN (a GEMM made them: many queries share each gallery load there far better
//                 than in this kernel's 4×8 blocks); gallery is then unused, and scores is unused otherwise
//                 (any buffer is bound in the unused one's place)
//
// Dispatch: ⌈rows / rowsPerWorkgroup⌉ workgroups (folded into 2-D past 65,535), once per chunk and block of
// up to 8 queries; it writes partials partialOffset .. partialOffset + workgroups - 1 for queries
// queryOffset .. queryOffset + min(QUERY_BLOCK, Q - queryOffset) - 1. Order: higher logit first, equal
// logits by lower row. rowsPerWorkgroup is a multiple of 4 · WORKGROUP_SIZE (one tile).
//
// Two tricks:
// - Each invocation scores 4 rows against 1, 4 or 8 queries per gallery load, the 4×4 dot products as
//   transpose(rows) · queries on mat4x4f accumulators: named variables, never arrays, because SwiftShader's
//   Subzero JIT neither unrolls loops nor keeps arrays in registers.
// - After the first tile almost no row beats the workgroup's current k-th best, so scores are filtered
//   against that threshold in registers; only the rare winners pass through workgroup memory, where one
//   invocation per query insertion-sorts them into its list. A tile without winners costs one barrier.

struct Params {
  rows: u32,
  dim: u32,
  queries: u32,
  queryOffset: u32,
  rowOffset: u32,
  partialOffset: u32,
  rowsPerWorkgroup: u32,
  k: u32,
  scale: f32,
}

override WORKGROUP_SIZE: u32 = 64;
override QUERY_BLOCK: u32 = 4;          // 1, 4 or 8
override K_CAPACITY: u32 = 64;          // ≥ k
override CANDIDATE_CAPACITY: u32 = 512;
override GALLERY_F16: bool = false;
override SCORES_GIVEN: bool = false;

const ROWS_PER_THREAD = 4u;
const MAX_QUERY_BLOCK = 8u;
const LOWEST = -0x1.fffffep+127f;  // lowest finite f32
const NO_ROW = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queries: array<vec4f>;
@group(0) @binding(2) var<storage, read> gallery: array<vec4u>;
@group(0) @binding(3) var<storage, read_write> partialValues: array<f32>;
@group(0) @binding(4) var<storage, read_write> partialRows: array<u32>;
@group(0) @binding(5) var<storage, read_write> partialStats: array<vec4f>;
@group(0) @binding(6) var<storage, read> scores: array<f32>;

var<workgroup> listValues: array<f32, QUERY_BLOCK * K_CAPACITY>;
var<workgroup> listRows: array<u32, QUERY_BLOCK * K_CAPACITY>;
var<workgroup> listLength: array<u32, QUERY_BLOCK>;
var<workgroup> candidateValues: array<f32, CANDIDATE_CAPACITY>;
var<workgroup> candidateRows: array<u32, CANDIDATE_CAPACITY>;
var<workgroup> candidateQueries: array<u32, CANDIDATE_CAPACITY>;
// Candidates ever appended; a round's candidates sit at slots (count at append) - (count before the round).
var<workgroup> candidatesAppended: atomic<u32>;
var<workgroup> nonFiniteQueries: atomic<u32>;
var<workgroup> threadMax: array<f32, WORKGROUP_SIZE * QUERY_BLOCK>;
var<workgroup> threadSum: array<f32, WORKGROUP_SIZE * QUERY_BLOCK>;

fn better(value: f32, row: u32, otherValue: f32, otherRow: u32) -> bool {
  return value > otherValue || (value == otherValue && row < otherRow);
}

// Columns of the result are the 4 rows' values at vec4 j of D (f32 words, or halves via unpackHalves).
fn rowBlock(starts: vec4u, j: u32) -> mat4x4f {
  return mat4x4f(bitcast<vec4f>(gallery[starts.x + j]), bitcast<vec4f>(gallery[starts.y + j]),
                 bitcast<vec4f>(gallery[starts.z + j]), bitcast<vec4f>(gallery[starts.w + j]));
}

// Columns of the result are 4 queries' values at vec4 j of D.
fn queryBlock(starts: vec4u, j: u32) -> mat4x4f {
  return mat4x4f(queries[starts.x + j], queries[starts.y + j], queries[starts.z + j], queries[starts.w + j]);
}

// Query `query`'s given scores for 4 rows (chunk rows, already clamped into range).
fn givenScores(query: u32, rows: vec4u) -> vec4f {
  let at = min(query, params.queries - 1u) * params.rows + rows;
  return vec4f(scores[at.x], scores[at.y], scores[at.z], scores[at.w]);
}

fn unpackHalves(w: vec2u) -> vec4f {
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
}

// Inserts this round's candidates for query q into its sorted list (one invocation per query).
fn insertCandidates(q: u32, count: u32) {
  let k = params.k;
  let base = q * K_CAPACITY;
  var length = listLength[q];
  for (var c = 0u; c < count; c++) {
    if (candidateQueries[c] != q) { continue; }
    let value = candidateValues[c];
    let row = candidateRows[c];
    if (length == k && !better(value, row, listValues[base + k - 1u], listRows[base + k - 1u])) { continue; }
    var j = min(length, k - 1u);
    while (j > 0u && better(value, row, listValues[base + j - 1u], listRows[base + j - 1u])) {
      listValues[base + j] = listValues[base + j - 1u];
      listRows[base + j] = listRows[base + j - 1u];
      j--;
    }
    listValues[base + j] = value;
    listRows[base + j] = row;
    length = min(length + 1u, k);
  }
  listLength[q] = length;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let workgroup = wid.x + wid.y * nwg.x;
  let firstRow = workgroup * params.rowsPerWorkgroup;
  if (firstRow >= params.rows) { return; }
  let endRow = min(firstRow + params.rowsPerWorkgroup, params.rows);
  let k = params.k;
  let queryVec4s = params.dim / 4u;
  let rowWords = select(queryVec4s, queryVec4s / 2u, GALLERY_F16);
  let activeQueries = min(QUERY_BLOCK, params.queries - params.queryOffset);
  // Queries past the block's end repeat the last one; their scores are never used.
  let lastQuery = params.queries - 1u;
  let q0 = params.queryOffset;
  let lowStarts = min(vec4u(q0, q0 + 1u, q0 + 2u, q0 + 3u), vec4u(lastQuery)) * queryVec4s;
  let highStarts = min(vec4u(q0 + 4u, q0 + 5u, q0 + 6u, q0 + 7u), vec4u(lastQuery)) * queryVec4s;

  for (var q = lid; q < QUERY_BLOCK; q += WORKGROUP_SIZE) { listLength[q] = 0u; }
  if (lid == 0u) {
    atomicStore(&candidatesAppended, 0u);
    atomicStore(&nonFiniteQueries, 0u);
  }

  var runMax: array<f32, MAX_QUERY_BLOCK>;
  var runSum: array<f32, MAX_QUERY_BLOCK>;
  var thresholdValue: array<f32, MAX_QUERY_BLOCK>;
  var thresholdRow: array<u32, MAX_QUERY_BLOCK>;
  for (var q = 0u; q < MAX_QUERY_BLOCK; q++) {
    runMax[q] = LOWEST;
    runSum[q] = 0.0;
    thresholdValue[q] = LOWEST;  // (LOWEST, NO_ROW) admits every row while a list is not yet full
    thresholdRow[q] = NO_ROW;
  }
  var nonFinite = 0u;
  var roundStart = 0u;
  workgroupBarrier();

  let tileRows = WORKGROUP_SIZE * ROWS_PER_THREAD;
  for (var tile = firstRow; tile < endRow; tile += tileRows) {
    let local = tile + vec4u(0u, 1u, 2u, 3u) * WORKGROUP_SIZE + lid;
    let valid = local < vec4u(endRow);
    // Rows past the end are clamped so loads stay in range; `valid` drops their scores.
    let starts = min(local, vec4u(params.rows - 1u)) * rowWords;

    // Initialized explicitly: a bare declaration in a loop body is not re-zeroed per iteration everywhere.
    var single = vec4f(0.0);  // QUERY_BLOCK 1: single[r] = dot(row r, query)
    var low = mat4x4f();      // low[q][r] = dot(row r, query q), queries 0..3
    var high = mat4x4f();     // queries 4..7
    if (SCORES_GIVEN) {
      let clamped = min(local, vec4u(params.rows - 1u));
      if (QUERY_BLOCK == 1u) {
        single = givenScores(q0, clamped);
      } else {
        low = mat4x4f(givenScores(q0, clamped), givenScores(q0 + 1u, clamped), givenScores(q0 + 2u, clamped), givenScores(q0 + 3u, clamped));
        if (QUERY_BLOCK == 8u) {
          high = mat4x4f(givenScores(q0 + 4u, clamped), givenScores(q0 + 5u, clamped), givenScores(q0 + 6u, clamped), givenScores(q0 + 7u, clamped));
        }
      }
    } else if (GALLERY_F16) {
      for (var j = 0u; j < rowWords; j++) {
        let w0 = gallery[starts.x + j];
        let w1 = gallery[starts.y + j];
        let w2 = gallery[starts.z + j];
        let w3 = gallery[starts.w + j];
        let a = transpose(mat4x4f(unpackHalves(w0.xy), unpackHalves(w1.xy), unpackHalves(w2.xy), unpackHalves(w3.xy)));
        let b = transpose(mat4x4f(unpackHalves(w0.zw), unpackHalves(w1.zw), unpackHalves(w2.zw), unpackHalves(w3.zw)));
        if (QUERY_BLOCK == 1u) {
          single += a * queries[lowStarts.x + 2u * j] + b * queries[lowStarts.x + 2u * j + 1u];
        } else {
          low += a * queryBlock(lowStarts, 2u * j) + b * queryBlock(lowStarts, 2u * j + 1u);
          if (QUERY_BLOCK == 8u) { high += a * queryBlock(highStarts, 2u * j) + b * queryBlock(highStarts, 2u * j + 1u); }
        }
      }
    } else {
      for (var j = 0u; j < rowWords; j++) {
        let a = transpose(rowBlock(starts, j));
        if (QUERY_BLOCK == 1u) {
          single += a * queries[lowStarts.x + j];
        } else {
          low += a * queryBlock(lowStarts, j);
          if (QUERY_BLOCK == 8u) { high += a * queryBlock(highStarts, j); }
        }
      }
    }

    // Bit r * MAX_QUERY_BLOCK + q of `pending` marks a score that beats query q's current threshold.
    var score: array<f32, ROWS_PER_THREAD * MAX_QUERY_BLOCK>;
    var pending = 0u;
    for (var q = 0u; q < activeQueries; q++) {
      var raw: vec4f;
      if (QUERY_BLOCK == 1u) {
        raw = single;
      } else if (q < 4u) {
        raw = low[q];
      } else {
        raw = high[q - 4u];
      }
      let s = params.scale * raw;
      let finite = (bitcast<vec4u>(s) & vec4u(0x7f800000u)) != vec4u(0x7f800000u);
      if (any(valid & !finite)) { nonFinite |= 1u << q; }
      let usable = valid & finite;
      if (!any(usable)) { continue; }
      let x = select(vec4f(LOWEST), s, usable);
      let tileMax = max(max(x.x, x.y), max(x.z, x.w));
      if (tileMax > runMax[q]) {
        runSum[q] *= exp(runMax[q] - tileMax);
        runMax[q] = tileMax;
      }
      runSum[q] += dot(select(vec4f(0.0), exp(x - runMax[q]), usable), vec4f(1.0));
      if (any(usable & (x >= vec4f(thresholdValue[q])))) {
        for (var r = 0u; r < ROWS_PER_THREAD; r++) {
          if (usable[r] && better(x[r], params.rowOffset + local[r], thresholdValue[q], thresholdRow[q])) {
            let i = r * MAX_QUERY_BLOCK + q;
            score[i] = x[r];
            pending |= 1u << i;
          }
        }
      }
    }

    // Winners go through workgroup memory; when more than CANDIDATE_CAPACITY arrive, the rest retry.
    loop {
      var remaining = pending;
      while (remaining != 0u) {
        let i = firstTrailingBit(remaining);
        remaining &= remaining - 1u;
        let slot = atomicAdd(&candidatesAppended, 1u) - roundStart;
        if (slot < CANDIDATE_CAPACITY) {
          candidateValues[slot] = score[i];
          candidateRows[slot] = params.rowOffset + local[i / MAX_QUERY_BLOCK];
          candidateQueries[slot] = i % MAX_QUERY_BLOCK;
          pending &= ~(1u << i);
        }
      }
      let appended = workgroupUniformLoad(&candidatesAppended) - roundStart;
      if (appended == 0u) { break; }
      if (lid < activeQueries) { insertCandidates(lid, min(appended, CANDIDATE_CAPACITY)); }
      roundStart += appended;
      workgroupBarrier();
      for (var q = 0u; q < activeQueries; q++) {
        if (listLength[q] == k) {
          thresholdValue[q] = listValues[q * K_CAPACITY + k - 1u];
          thresholdRow[q] = listRows[q * K_CAPACITY + k - 1u];
        }
      }
      if (appended <= CANDIDATE_CAPACITY) { break; }
    }
  }

  for (var q = 0u; q < QUERY_BLOCK; q++) {
    threadMax[lid * QUERY_BLOCK + q] = runMax[q];
    threadSum[lid * QUERY_BLOCK + q] = runSum[q];
  }
  if (nonFinite != 0u) { atomicOr(&nonFiniteQueries, nonFinite); }
  workgroupBarrier();

  let partial = params.partialOffset + workgroup;
  for (var i = lid; i < activeQueries * k; i += WORKGROUP_SIZE) {
    let q = i / k;
    let slot = i % k;
    let out = (partial * params.queries + params.queryOffset + q) * k + slot;
    let filled = slot < listLength[q];
    partialValues[out] = select(LOWEST, listValues[q * K_CAPACITY + slot], filled);
    partialRows[out] = select(NO_ROW, listRows[q * K_CAPACITY + slot], filled);
  }
  if (lid < activeQueries) {
    var m = LOWEST;
    for (var t = 0u; t < WORKGROUP_SIZE; t++) { m = max(m, threadMax[t * QUERY_BLOCK + lid]); }
    var s = 0.0;
    for (var t = 0u; t < WORKGROUP_SIZE; t++) {
      let ts = threadSum[t * QUERY_BLOCK + lid];
      if (ts > 0.0) { s += ts * exp(threadMax[t * QUERY_BLOCK + lid] - m); }
    }
    let flag = f32((atomicLoad(&nonFiniteQueries) >> lid) & 1u);
    partialStats[partial * params.queries + params.queryOffset + lid] = vec4f(m, s, flag, 0.0);
  }
}

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
// This dispatch writes partials partialOffset .. partialOffset + workgroups - 1, queries
// queryOffset .. queryOffset + QUERY_BLOCK - 1. Order: higher logit first, equal logits by lower row.
//
// The trick: after the first tile almost no row beats the workgroup's current k-th best, so each score is
// filtered against that threshold in registers and only the rare winners pass through workgroup memory,
// where one invocation per query insertion-sorts them into its list. Each invocation scores
// ROWS_PER_THREAD rows × QUERY_BLOCK queries at once, so every gallery vec4 loaded feeds QUERY_BLOCK FMAs.

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
override ROWS_PER_THREAD: u32 = 4;      // ≤ MAX_ROWS_PER_THREAD
override QUERY_BLOCK: u32 = 8;          // ≤ MAX_QUERY_BLOCK
override K_CAPACITY: u32 = 64;          // ≥ k
override CANDIDATE_CAPACITY: u32 = 256;
override GALLERY_F16: bool = false;

const MAX_ROWS_PER_THREAD = 4u;
const MAX_QUERY_BLOCK = 8u;
const LOWEST = -0x1.fffffep+127f;  // lowest finite f32
const NO_ROW = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queries: array<vec4f>;
@group(0) @binding(2) var<storage, read> gallery: array<vec4u>;
@group(0) @binding(3) var<storage, read_write> partialValues: array<f32>;
@group(0) @binding(4) var<storage, read_write> partialRows: array<u32>;
@group(0) @binding(5) var<storage, read_write> partialStats: array<vec4f>;

var<workgroup> listValues: array<f32, QUERY_BLOCK * K_CAPACITY>;
var<workgroup> listRows: array<u32, QUERY_BLOCK * K_CAPACITY>;
var<workgroup> listLength: array<u32, QUERY_BLOCK>;
var<workgroup> candidateValues: array<f32, CANDIDATE_CAPACITY>;
var<workgroup> candidateRows: array<u32, CANDIDATE_CAPACITY>;
var<workgroup> candidateQueries: array<u32, CANDIDATE_CAPACITY>;
var<workgroup> candidateCount: atomic<u32>;
var<workgroup> overflowed: u32;
var<workgroup> nonFiniteQueries: atomic<u32>;
var<workgroup> threadMax: array<f32, WORKGROUP_SIZE * QUERY_BLOCK>;
var<workgroup> threadSum: array<f32, WORKGROUP_SIZE * QUERY_BLOCK>;

fn better(value: f32, row: u32, otherValue: f32, otherRow: u32) -> bool {
  return value > otherValue || (value == otherValue && row < otherRow);
}

fn isFiniteValue(x: f32) -> bool {
  // A bit test, not x == x: NaN comparisons may be folded away by the shader compiler.
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// Inserts this workgroup's candidates for query q into its sorted list (one invocation per query).
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

  for (var q = lid; q < QUERY_BLOCK; q += WORKGROUP_SIZE) { listLength[q] = 0u; }
  if (lid == 0u) {
    atomicStore(&candidateCount, 0u);
    atomicStore(&nonFiniteQueries, 0u);
  }

  var queryBase: array<u32, MAX_QUERY_BLOCK>;
  var runMax: array<f32, MAX_QUERY_BLOCK>;
  var runSum: array<f32, MAX_QUERY_BLOCK>;
  var thresholdValue: array<f32, MAX_QUERY_BLOCK>;
  var thresholdRow: array<u32, MAX_QUERY_BLOCK>;
  for (var q = 0u; q < QUERY_BLOCK; q++) {
    queryBase[q] = (params.queryOffset + q) * queryVec4s;
    runMax[q] = LOWEST;
    runSum[q] = 0.0;
    thresholdValue[q] = LOWEST;  // (LOWEST, NO_ROW) admits every row while a list is not yet full
    thresholdRow[q] = NO_ROW;
  }
  var nonFinite = 0u;
  workgroupBarrier();

  let tileRows = WORKGROUP_SIZE * ROWS_PER_THREAD;
  for (var tile = firstRow; tile < endRow; tile += tileRows) {
    var rowBase: array<u32, MAX_ROWS_PER_THREAD>;
    for (var r = 0u; r < ROWS_PER_THREAD; r++) {
      // Rows past the end are clamped so loads stay in range; their scores are dropped below.
      rowBase[r] = min(tile + r * WORKGROUP_SIZE + lid, params.rows - 1u) * rowWords;
    }
    // Zeroed by hand: a bare declaration in a loop body is not re-zeroed each iteration on every backend.
    var acc: array<vec4f, MAX_ROWS_PER_THREAD * MAX_QUERY_BLOCK>;
    for (var i = 0u; i < MAX_ROWS_PER_THREAD * MAX_QUERY_BLOCK; i++) { acc[i] = vec4f(0.0); }
    if (GALLERY_F16) {
      for (var j = 0u; j < rowWords; j++) {
        var low: array<vec4f, MAX_ROWS_PER_THREAD>;
        var high: array<vec4f, MAX_ROWS_PER_THREAD>;
        for (var r = 0u; r < ROWS_PER_THREAD; r++) {
          let w = gallery[rowBase[r] + j];
          low[r] = vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
          high[r] = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));
        }
        for (var q = 0u; q < QUERY_BLOCK; q++) {
          let a = queries[queryBase[q] + 2u * j];
          let b = queries[queryBase[q] + 2u * j + 1u];
          for (var r = 0u; r < ROWS_PER_THREAD; r++) {
            let i = r * MAX_QUERY_BLOCK + q;
            acc[i] = fma(high[r], b, fma(low[r], a, acc[i]));
          }
        }
      }
    } else {
      for (var j = 0u; j < rowWords; j++) {
        var g: array<vec4f, MAX_ROWS_PER_THREAD>;
        for (var r = 0u; r < ROWS_PER_THREAD; r++) { g[r] = bitcast<vec4f>(gallery[rowBase[r] + j]); }
        for (var q = 0u; q < QUERY_BLOCK; q++) {
          let a = queries[queryBase[q] + j];
          for (var r = 0u; r < ROWS_PER_THREAD; r++) {
            let i = r * MAX_QUERY_BLOCK + q;
            acc[i] = fma(g[r], a, acc[i]);
          }
        }
      }
    }

    // Bit r * MAX_QUERY_BLOCK + q of `pending` marks a score that beats query q's current threshold.
    var score: array<f32, MAX_ROWS_PER_THREAD * MAX_QUERY_BLOCK>;
    var pending = 0u;
    for (var r = 0u; r < ROWS_PER_THREAD; r++) {
      let local = tile + r * WORKGROUP_SIZE + lid;
      if (local >= endRow) { continue; }
      let row = params.rowOffset + local;
      for (var q = 0u; q < QUERY_BLOCK; q++) {
        let i = r * MAX_QUERY_BLOCK + q;
        let v = acc[i];
        let x = params.scale * ((v.x + v.y) + (v.z + v.w));
        if (!isFiniteValue(x)) {
          nonFinite |= 1u << q;
          continue;
        }
        if (x > runMax[q]) {
          runSum[q] = runSum[q] * exp(runMax[q] - x) + 1.0;
          runMax[q] = x;
        } else {
          runSum[q] += exp(x - runMax[q]);
        }
        score[i] = x;
        if (better(x, row, thresholdValue[q], thresholdRow[q])) { pending |= 1u << i; }
      }
    }

    // Winners go through workgroup memory; if more than CANDIDATE_CAPACITY arrive, the rest retry.
    loop {
      var remaining = pending;
      while (remaining != 0u) {
        let i = firstTrailingBit(remaining);
        remaining &= remaining - 1u;
        let slot = atomicAdd(&candidateCount, 1u);
        if (slot < CANDIDATE_CAPACITY) {
          candidateValues[slot] = score[i];
          candidateRows[slot] = params.rowOffset + tile + (i / MAX_QUERY_BLOCK) * WORKGROUP_SIZE + lid;
          candidateQueries[slot] = i % MAX_QUERY_BLOCK;
          pending &= ~(1u << i);
        }
      }
      workgroupBarrier();
      if (lid < QUERY_BLOCK) { insertCandidates(lid, min(atomicLoad(&candidateCount), CANDIDATE_CAPACITY)); }
      workgroupBarrier();
      if (lid == 0u) {
        overflowed = select(0u, 1u, atomicLoad(&candidateCount) > CANDIDATE_CAPACITY);
        atomicStore(&candidateCount, 0u);
      }
      if (workgroupUniformLoad(&overflowed) == 0u) { break; }
    }
    for (var q = 0u; q < QUERY_BLOCK; q++) {
      if (listLength[q] == k) {
        thresholdValue[q] = listValues[q * K_CAPACITY + k - 1u];
        thresholdRow[q] = listRows[q * K_CAPACITY + k - 1u];
      }
    }
  }

  for (var q = 0u; q < QUERY_BLOCK; q++) {
    threadMax[lid * QUERY_BLOCK + q] = runMax[q];
    threadSum[lid * QUERY_BLOCK + q] = runSum[q];
  }
  if (nonFinite != 0u) { atomicOr(&nonFiniteQueries, nonFinite); }
  workgroupBarrier();

  let partial = params.partialOffset + workgroup;
  for (var i = lid; i < QUERY_BLOCK * k; i += WORKGROUP_SIZE) {
    let q = i / k;
    let slot = i % k;
    let out = (partial * params.queries + params.queryOffset + q) * k + slot;
    let filled = slot < listLength[q];
    partialValues[out] = select(LOWEST, listValues[q * K_CAPACITY + slot], filled);
    partialRows[out] = select(NO_ROW, listRows[q * K_CAPACITY + slot], filled);
  }
  if (lid < QUERY_BLOCK) {
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

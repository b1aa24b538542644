// Heat map: GeoCLIP's softmax over the whole gallery, summed per cell of a latitude/longitude grid.
//
//   mass[q, cell] = Σ_{rows j in cell} exp(scale · dot(queries[q], gallery[j]) − logSumExp[q])
//
// queries:    [Q, D] f32, read as vec4f (D % 4 == 0)
// gallery:    [rows, D] of this chunk, read as vec4u words: f32 (D % 4 == 0) or packed f16 (D % 8 == 0)
// rowCells:   [N] u32, the grid cell of every gallery row (global row numbers; the wrapper computes them)
// logSumExp:  [Q] f32, log Σ_j exp(logit[q, j]) over the whole gallery (from the search pass)
// mass:       [Q, cells, 2] atomic u32, (low, high) words of a 64-bit fixed-point sum, 2^40 = probability 1
//
// Dispatch: ⌈rows / WORKGROUP_SIZE⌉ workgroups (folded into 2-D past 65,535), once per chunk; one invocation
// per gallery row scores it against the queries, 4 per load of the row, and adds each probability into
// the row's cell.
//
// The trick: WGSL has no float atomics, so probabilities are added as 64-bit fixed point. Each term is split
// into a high and a low u32; atomicAdd on the low word returns the old value, so the invocation that wraps
// it round knows it and carries one into the high word. The sum is exact and independent of the order in
// which invocations land, and 2^-40 resolution keeps 100k rows' rounding far below 1e-7.

struct Params {
  rows: u32,
  dim: u32,
  queries: u32,
  rowOffset: u32,
  cells: u32,
  scale: f32,
}

override WORKGROUP_SIZE: u32 = 64;
override GALLERY_F16: bool = false;

const ONE = 1099511627776.0;     // 2^40: fixed-point value of probability 1
const LOW_WORD = 4294967296.0;   // 2^32

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queries: array<vec4f>;
@group(0) @binding(2) var<storage, read> gallery: array<vec4u>;
@group(0) @binding(3) var<storage, read> rowCells: array<u32>;
@group(0) @binding(4) var<storage, read> logSumExp: array<f32>;
@group(0) @binding(5) var<storage, read_write> mass: array<atomic<u32>>;

fn unpackHalves(w: vec2u) -> vec4f {
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
}

// Dot products of one gallery row with 4 queries (first .. first + 3, clamped to the last one), each vec4
// of the row loaded once and shared by the 4: the loop over queries would otherwise re-read the row Q times.
fn scores(first: u32, row: u32) -> vec4f {
  let vectors = params.dim / 4u;
  let last = params.queries - 1u;
  let q0 = first * vectors;
  let q1 = min(first + 1u, last) * vectors;
  let q2 = min(first + 2u, last) * vectors;
  let q3 = min(first + 3u, last) * vectors;
  var acc = vec4f(0.0);
  if (GALLERY_F16) {
    let words = params.dim / 8u;
    for (var i = 0u; i < words; i++) {
      let w = gallery[row * words + i];
      let a = unpackHalves(w.xy);
      let b = unpackHalves(w.zw);
      let j = 2u * i;
      acc += vec4f(dot(queries[q0 + j], a), dot(queries[q1 + j], a), dot(queries[q2 + j], a), dot(queries[q3 + j], a));
      acc += vec4f(dot(queries[q0 + j + 1u], b), dot(queries[q1 + j + 1u], b), dot(queries[q2 + j + 1u], b), dot(queries[q3 + j + 1u], b));
    }
  } else {
    for (var i = 0u; i < vectors; i++) {
      let g = bitcast<vec4f>(gallery[row * vectors + i]);
      acc += vec4f(dot(queries[q0 + i], g), dot(queries[q1 + i], g), dot(queries[q2 + i], g), dot(queries[q3 + i], g));
    }
  }
  return params.scale * acc;
}

// One query: a plain dot product, no lanes wasted on clamped copies.
fn score(q: u32, row: u32) -> f32 {
  let vectors = params.dim / 4u;
  var acc = 0.0;
  if (GALLERY_F16) {
    let words = params.dim / 8u;
    for (var i = 0u; i < words; i++) {
      let w = gallery[row * words + i];
      acc += dot(queries[q * vectors + 2u * i], unpackHalves(w.xy)) + dot(queries[q * vectors + 2u * i + 1u], unpackHalves(w.zw));
    }
  } else {
    for (var i = 0u; i < vectors; i++) {
      acc += dot(queries[q * vectors + i], bitcast<vec4f>(gallery[row * vectors + i]));
    }
  }
  return params.scale * acc;
}

fn addFixed(at: u32, probability: f32) {
  let value = min(probability, 1.0) * ONE;
  let high = floor(value / LOW_WORD);
  let low = u32(value - high * LOW_WORD);
  let old = atomicAdd(&mass[at], low);
  let carry = select(0u, 1u, old > 0xffffffffu - low);
  let up = u32(high) + carry;
  if (up != 0u) { atomicAdd(&mass[at + 1u], up); }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (row >= params.rows) { return; }
  let cell = rowCells[params.rowOffset + row];
  if (params.queries == 1u) {
    let p = exp(score(0u, row) - logSumExp[0]);
    if (p > 0.0) { addFixed(2u * cell, p); }
    return;
  }
  for (var first = 0u; first < params.queries; first += 4u) {
    let logits = scores(first, row);
    for (var j = 0u; j < min(4u, params.queries - first); j++) {
      let q = first + j;
      let p = exp(logits[j] - logSumExp[q]);
      if (p > 0.0) { addFixed(2u * (q * params.cells + cell), p); }
    }
  }
}

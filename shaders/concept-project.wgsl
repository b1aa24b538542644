// Concept distributions of embedding rows, fused: gather, concept scores, softmax.
//
//   z        = source[GATHER ? indices[r] : r]                   D floats
//   logit_k  = (z · concepts[k] + conceptBias[k]) · invTau        for k < K
//   probs[r] = softmax(logit)                                     K floats
//
// A linear projection P(z) = W·z + b before the concept scores folds into these two operands once per
// module: (W·z + b) · c_k = z · (Wᵀ·c_k) + b · c_k, so `concepts` is C·W and `conceptBias` is C·b (the
// identity projection passes C and zeros). Per row that is K·D multiply-adds instead of D² + K·D.
//
// params.rows = R, params.dim = D (multiple of 4), params.concepts = K, params.sourceRows = N
// source:      N·D floats  [N, D] embeddings (image embeddings, or the whole gallery when gathering)
// indices:     R u32       [R]    rows of source to score (GATHER only; bound to a dummy otherwise)
// concepts:    K·D floats  [K, D] concept matrix, projection folded in
// conceptBias: K floats    [K]    concept offsets, projection bias folded in
// probs:       R·K floats  [R, K] output
//
// Each invocation owns ROWS whole rows, so the softmax needs no other invocation and no barrier: logits
// go to `probs` first, then the same invocation rescales them in place. Scores are made in ROWS × 4
// register blocks with vec4 loads, which is what CPU-backed devices (SwiftShader) run fast. A gathered
// index past the end of the source yields a NaN row rather than a read out of bounds.

struct Params {
  rows: u32,
  dim: u32,
  concepts: u32,
  sourceRows: u32,
  invTau: f32,
}

const ROWS: u32 = 4u;

override WORKGROUP_SIZE: u32 = 64;
override GATHER: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> source: array<vec4f>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> concepts: array<vec4f>;
@group(0) @binding(4) var<storage, read> conceptBias: array<f32>;
@group(0) @binding(5) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r0 = ((wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid) * ROWS;
  if (r0 >= params.rows) {
    return;
  }
  let d4 = params.dim / 4u;
  let k = params.concepts;
  let rowCount = min(ROWS, params.rows - r0);
  // Built from a uniform: a constant NaN is a WGSL compile error.
  let nan = bitcast<f32>(0x7fc00000u | (params.rows & 0u));

  // Rows past the end repeat the last one and are never stored; a bad gathered index reads row 0.
  var base: array<u32, ROWS>;
  var valid: array<bool, ROWS>;
  for (var q = 0u; q < ROWS; q++) {
    var row = r0 + min(q, rowCount - 1u);
    if (GATHER) {
      row = indices[row];
    }
    valid[q] = row < params.sourceRows;
    base[q] = select(0u, row, valid[q]) * d4;
  }

  var rowMax: array<f32, ROWS>;
  for (var q = 0u; q < ROWS; q++) {
    rowMax[q] = -3.0e38;
  }
  for (var c0 = 0u; c0 < k; c0 += 4u) {
    let c1 = min(c0 + 1u, k - 1u);
    let c2 = min(c0 + 2u, k - 1u);
    let c3 = min(c0 + 3u, k - 1u);
    // Zeroed explicitly: some compilers hoist a loop-local array and skip its implicit zeroing.
    var acc: array<vec4f, ROWS>;
    for (var q = 0u; q < ROWS; q++) {
      acc[q] = vec4f(0.0);
    }
    for (var e = 0u; e < d4; e++) {
      let w0 = concepts[c0 * d4 + e];
      let w1 = concepts[c1 * d4 + e];
      let w2 = concepts[c2 * d4 + e];
      let w3 = concepts[c3 * d4 + e];
      for (var q = 0u; q < ROWS; q++) {
        let z = source[base[q] + e];
        acc[q] += vec4f(dot(z, w0), dot(z, w1), dot(z, w2), dot(z, w3));
      }
    }
    let offset = vec4f(conceptBias[c0], conceptBias[c1], conceptBias[c2], conceptBias[c3]);
    let live = min(4u, k - c0);
    for (var q = 0u; q < rowCount; q++) {
      let logits = (acc[q] + offset) * params.invTau;
      for (var p = 0u; p < live; p++) {
        probs[(r0 + q) * k + c0 + p] = logits[p];
        rowMax[q] = max(rowMax[q], logits[p]);
      }
    }
  }

  for (var q = 0u; q < rowCount; q++) {
    let out = (r0 + q) * k;
    if (!valid[q]) {
      for (var c = 0u; c < k; c++) {
        probs[out + c] = nan;
      }
      continue;
    }
    var sum = 0.0;
    for (var c = 0u; c < k; c++) {
      let e = exp(probs[out + c] - rowMax[q]);
      probs[out + c] = e;
      sum += e;
    }
    let inverseSum = 1.0 / sum;
    for (var c = 0u; c < k; c++) {
      probs[out + c] *= inverseSum;
    }
  }
}

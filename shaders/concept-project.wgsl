// Concept projection, fused: one embedding row in, one concept distribution out.
//
//   z      = source[GATHER ? indices[r] : r]                     D floats
//   u      = PROJECT ? weight · z + bias : z                     D floats (nn.Linear: u_d = Σ_e W[d, e] z_e + b_d)
//   logit  = (u · concepts[k]) · invTau   for k < K
//   probs[r] = softmax(logit)                                    K floats
//
// params.rows = R, params.dim = D (multiple of 4), params.concepts = K, params.sourceRows = N
// source:   N·D floats    [N, D] embeddings (image embeddings, or the whole gallery when gathering)
// indices:  R u32         [R]    gallery rows to gather (GATHER only; bound to a dummy word otherwise)
// weight:   D·D floats    [D, D] projection P (PROJECT only)
// bias:     D floats      [D]    projection bias (PROJECT only)
// concepts: K·D floats    [K, D] concept bank C
// probs:    R·K floats    [R, K] output
//
// One workgroup per row: z, u and the K logits stay in workgroup memory, so the projection, the concept
// scores and the softmax cost one dispatch, two or three barriers and one global write per row. A gathered index past the end of
// the source yields a NaN row rather than reading out of bounds.

struct Params {
  rows: u32,
  dim: u32,
  concepts: u32,
  sourceRows: u32,
  invTau: f32,
}

override WORKGROUP_SIZE: u32 = 64;
override MAX_DIM4: u32 = 128;
override MAX_CONCEPTS: u32 = 256;
override GATHER: bool = false;
override PROJECT: bool = true;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> source: array<vec4f>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> weight: array<vec4f>;
@group(0) @binding(4) var<storage, read> bias: array<vec4f>;
@group(0) @binding(5) var<storage, read> concepts: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> probs: array<f32>;

var<workgroup> zrow: array<vec4f, MAX_DIM4>;
var<workgroup> urow: array<vec4f, MAX_DIM4>;
var<workgroup> logits: array<f32, MAX_CONCEPTS>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= params.rows) {
    return;
  }
  let d4 = params.dim / 4u;
  let k = params.concepts;
  var row = r;
  if (GATHER) {
    row = indices[r];
  }
  // Uniform per workgroup, so the early return below does not split a barrier.
  if (row >= params.sourceRows) {
    // Built from a uniform: a constant NaN is a WGSL compile error.
    let nan = bitcast<f32>(0x7fc00000u | (params.rows & 0u));
    for (var c = lid; c < k; c += WORKGROUP_SIZE) {
      probs[r * k + c] = nan;
    }
    return;
  }

  if (!PROJECT) {
    for (var j = lid; j < d4; j += WORKGROUP_SIZE) {
      urow[j] = source[row * d4 + j];
    }
    workgroupBarrier();
  } else {
    for (var j = lid; j < d4; j += WORKGROUP_SIZE) {
      zrow[j] = source[row * d4 + j];
    }
    workgroupBarrier();
    // Each invocation makes four consecutive outputs, so urow is written as whole vec4s.
    for (var j = lid; j < d4; j += WORKGROUP_SIZE) {
      var acc = bias[j];
      for (var lane = 0u; lane < 4u; lane++) {
        let w = (4u * j + lane) * d4;
        var dot_ = 0.0;
        for (var e = 0u; e < d4; e++) {
          dot_ += dot(weight[w + e], zrow[e]);
        }
        acc[lane] += dot_;
      }
      urow[j] = acc;
    }
    workgroupBarrier();
  }

  for (var c = lid; c < k; c += WORKGROUP_SIZE) {
    var acc = 0.0;
    for (var e = 0u; e < d4; e++) {
      acc += dot(urow[e], concepts[c * d4 + e]);
    }
    logits[c] = acc * params.invTau;
  }
  workgroupBarrier();

  // Every invocation reduces all K logits itself: K extra reads each, but no tree of barriers, which
  // cost far more than the reads on CPU-backed devices (and the order, hence the result, is the same).
  var rowMax = -3.0e38;
  for (var c = 0u; c < k; c++) {
    rowMax = max(rowMax, logits[c]);
  }
  var sum = 0.0;
  for (var c = 0u; c < k; c++) {
    sum += exp(logits[c] - rowMax);
  }
  let inverseSum = 1.0 / sum;
  for (var c = lid; c < k; c += WORKGROUP_SIZE) {
    probs[r * k + c] = exp(logits[c] - rowMax) * inverseSum;
  }
}

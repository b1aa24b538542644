// Concept-aware re-ranking of retrieval candidates: score, then sort, per query.
//
//   g_t      = gallery[candidates[b, t]]
//   cosine_t = (query_b · g_t) / (‖query_b‖ ‖g_t‖)
//   sim_t    = SIMILARITY == 0 ? Σ_k √(p_k q_k)              (Bhattacharyya coefficient)
//                              : (p · q) / (‖p‖ ‖q‖)           (cosine of the distributions)
//              with p = queryProbs[b], q = candidateProbs[PROBS_BY_ROW ? g : b·T + t]
//   score_t  = cosine_t + lambda · sim_t
//   then the T candidates of query b are sorted by score, highest first (ties: lower slot first).
//
// params: queries B, candidates T, dim D (multiple of 4), concepts K, galleryRows N, lambda
// query:          B·D floats   [B, D]     image embeddings
// gallery:        N·D floats   [N, D]     location embeddings of the whole gallery
// candidates:     B·T u32      [B, T]     gallery rows from the first-stage search
// queryProbs:     B·K floats   [B, K]     concept distribution of each image
// candidateProbs: B·T·K floats [B, T, K]  concept distribution of each candidate place, or with
//                 N·K floats   [N, K]     PROBS_BY_ROW one per gallery row, computed once per gallery
// sortedScores:   B·T floats   [B, T]     out: scores, best first
// sortedIds:      2·B·T u32    [2, B, T]  out: [0] candidate slot t, [1] gallery row, in sorted order
// parts:          2·B·T floats [2, B, T]  out: [0] cosine, [1] concept similarity, in candidate order
//
// One workgroup per query. Scores sit in workgroup memory; each candidate's sorted position is its rank
// (how many candidates beat it), so the sort is one pass with no barriers inside, deterministic and stable.
// A candidate index past the gallery scores -3e38 and gets NaN parts, so it sorts last and shows itself.

struct Params {
  queries: u32,
  candidates: u32,
  dim: u32,
  concepts: u32,
  galleryRows: u32,
  lambda: f32,
}

override WORKGROUP_SIZE: u32 = 256;
override MAX_CANDIDATES: u32 = 1024;
override SIMILARITY: u32 = 0;
override PROBS_BY_ROW: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> query: array<vec4f>;
@group(0) @binding(2) var<storage, read> gallery: array<vec4f>;
@group(0) @binding(3) var<storage, read> candidates: array<u32>;
@group(0) @binding(4) var<storage, read> queryProbs: array<f32>;
@group(0) @binding(5) var<storage, read> candidateProbs: array<f32>;
@group(0) @binding(6) var<storage, read_write> sortedScores: array<f32>;
@group(0) @binding(7) var<storage, read_write> sortedIds: array<u32>;
@group(0) @binding(8) var<storage, read_write> parts: array<f32>;

var<workgroup> scores: array<f32, MAX_CANDIDATES>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x + wid.y * nwg.x;
  if (b >= params.queries) {
    return;
  }
  let t_count = params.candidates;
  let d4 = params.dim / 4u;
  let k = params.concepts;
  let bt = params.queries * t_count;

  var queryNorm2 = 0.0;
  for (var e = 0u; e < d4; e++) {
    let q = query[b * d4 + e];
    queryNorm2 += dot(q, q);
  }
  var probNorm2 = 0.0;
  if (SIMILARITY == 1u) {
    for (var c = 0u; c < k; c++) {
      let p = queryProbs[b * k + c];
      probNorm2 += p * p;
    }
  }

  for (var t = lid; t < t_count; t += WORKGROUP_SIZE) {
    let slot = b * t_count + t;
    let g = candidates[slot];
    if (g >= params.galleryRows) {
      // Built from a uniform: a constant NaN is a WGSL compile error.
      let nan = bitcast<f32>(0x7fc00000u | (params.queries & 0u));
      scores[t] = -3.0e38;
      parts[slot] = nan;
      parts[bt + slot] = nan;
      continue;
    }
    var cross = 0.0;
    var galleryNorm2 = 0.0;
    for (var e = 0u; e < d4; e++) {
      let v = gallery[g * d4 + e];
      cross += dot(query[b * d4 + e], v);
      galleryNorm2 += dot(v, v);
    }
    let cosine = cross / sqrt(queryNorm2 * galleryNorm2);
    var probRow = slot;
    if (PROBS_BY_ROW) {
      probRow = g;
    }
    var sim = 0.0;
    if (SIMILARITY == 0u) {
      for (var c = 0u; c < k; c++) {
        sim += sqrt(queryProbs[b * k + c] * candidateProbs[probRow * k + c]);
      }
    } else {
      var pq = 0.0;
      var q2 = 0.0;
      for (var c = 0u; c < k; c++) {
        let q = candidateProbs[probRow * k + c];
        pq += queryProbs[b * k + c] * q;
        q2 += q * q;
      }
      sim = pq / sqrt(probNorm2 * q2);
    }
    scores[t] = cosine + params.lambda * sim;
    parts[slot] = cosine;
    parts[bt + slot] = sim;
  }
  workgroupBarrier();

  for (var t = lid; t < t_count; t += WORKGROUP_SIZE) {
    let mine = scores[t];
    var rank = 0u;
    for (var u = 0u; u < t_count; u++) {
      let other = scores[u];
      rank += select(0u, 1u, other > mine || (other == mine && u < t));
    }
    let out = b * t_count + rank;
    sortedScores[out] = mine;
    sortedIds[out] = t;
    sortedIds[bt + out] = candidates[b * t_count + t];
  }
}

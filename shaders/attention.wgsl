// Fused multi-head self-attention with an online softmax:
//   out[b, i, h·hd + c] = sum_j softmax_j(scale · q_i · k_j) · v_j[c]     (j ≤ i when CAUSAL)
//
// qkv: batch × seq × 3·D floats, row-major; each token row holds [q | k | v], each part D = heads·hd
//      wide, head h at columns h·hd .. (h+1)·hd of its part
// out: batch × seq × D floats, head h at columns h·hd .. (h+1)·hd
//
// One invocation per (batch, head, query row) keeps its query and its output accumulator in registers
// and walks the keys once. Keys come in blocks of KEY_BLOCK: the block's scores are taken first, then
// the running max moves once per block and the accumulator and running sum are rescaled by
// exp2(oldMax - newMax) once per block instead of once per key. The seq × seq scores never leave
// registers. Invocations of one workgroup share a head, so they read the same key and value rows.
//
// The scale arrives multiplied by log2(e) and is folded into q, so every exponential is an exp2.
// Head dims that are not a multiple of 4 read their last chunk partly (the rest is zero).

struct Params {
  seq: u32,
  heads: u32,
  // batch · heads · seq: invocations past it do nothing.
  rows: u32,
  // scale · log2(e)
  scaleLog2: f32,
}

override HEAD_DIM: u32 = 64;
override CAUSAL: bool = false;
override WORKGROUP_SIZE: u32 = 64;

// Registers hold head dims up to 128 as 32 vec4 chunks.
const MAX_CHUNKS: u32 = 32u;
const KEY_BLOCK: u32 = 8u;
// The running max starts here rather than at -inf (WGSL has no infinity literal); exp2 of
// (-3e38 - score) is 0, so the empty accumulator's first rescale is harmless.
const LOWEST: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Chunk c (4 floats) of the head vector starting at `start`; past HEAD_DIM reads as zero.
fn loadChunk(start: u32, c: u32) -> vec4f {
  let i = start + 4u * c;
  if (4u * c + 4u <= HEAD_DIM) {
    return vec4f(qkv[i], qkv[i + 1u], qkv[i + 2u], qkv[i + 3u]);
  }
  var v = vec4f(qkv[i], 0.0, 0.0, 0.0);
  if (4u * c + 1u < HEAD_DIM) { v.y = qkv[i + 1u]; }
  if (4u * c + 2u < HEAD_DIM) { v.z = qkv[i + 2u]; }
  return v;
}

// NaN test that survives compilers which turn `x != x` into an ordered compare (SwiftShader does).
fn isNan(x: f32) -> bool {
  return !(x == x);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (row >= params.rows) {
    return;
  }
  let seq = params.seq;
  let heads = params.heads;
  let i = row % seq;
  let head = (row / seq) % heads;
  let b = row / (seq * heads);
  let width = heads * HEAD_DIM;
  let rowStride = 3u * width;
  let chunks = (HEAD_DIM + 3u) / 4u;

  // Column of this head's q in a token row; k and v sit `width` and 2·width further on.
  let headColumn = head * HEAD_DIM;
  let batchStart = b * seq * rowStride;

  var q: array<vec4f, MAX_CHUNKS>;
  var acc: array<vec4f, MAX_CHUNKS>;
  let qStart = batchStart + i * rowStride + headColumn;
  for (var c = 0u; c < chunks; c++) {
    q[c] = loadChunk(qStart, c) * params.scaleLog2;
    acc[c] = vec4f(0.0);
  }

  var runningMax = LOWEST;
  var runningSum = 0.0;
  let keyEnd = select(seq, i + 1u, CAUSAL);
  for (var j0 = 0u; j0 < keyEnd; j0 += KEY_BLOCK) {
    var scores: array<f32, KEY_BLOCK>;
    var blockMax = runningMax;
    for (var t = 0u; t < KEY_BLOCK; t++) {
      let j = j0 + t;
      if (j < keyEnd) {
        let kStart = batchStart + j * rowStride + width + headColumn;
        var dot4 = vec4f(0.0);
        for (var c = 0u; c < chunks; c++) {
          dot4 += q[c] * loadChunk(kStart, c);
        }
        let score = dot4.x + dot4.y + dot4.z + dot4.w;
        scores[t] = score;
        blockMax = max(blockMax, score);
      }
    }

    let correction = exp2(runningMax - blockMax);
    runningSum *= correction;
    for (var c = 0u; c < chunks; c++) {
      acc[c] *= correction;
    }
    for (var t = 0u; t < KEY_BLOCK; t++) {
      let j = j0 + t;
      if (j < keyEnd) {
        let score = scores[t];
        // exp2 and max may drop NaN; a NaN score must poison the row as it does in torch.
        let p = select(exp2(score - blockMax), score, isNan(score));
        runningSum += p;
        let vStart = batchStart + j * rowStride + 2u * width + headColumn;
        for (var c = 0u; c < chunks; c++) {
          acc[c] += p * loadChunk(vStart, c);
        }
      }
    }
    runningMax = blockMax;
  }

  let inverseSum = 1.0 / runningSum;
  let outStart = (b * seq + i) * width + headColumn;
  for (var c = 0u; c < chunks; c++) {
    let v = acc[c] * inverseSum;
    let column = 4u * c;
    out[outStart + column] = v.x;
    if (column + 1u < HEAD_DIM) { out[outStart + column + 1u] = v.y; }
    if (column + 2u < HEAD_DIM) { out[outStart + column + 2u] = v.z; }
    if (column + 3u < HEAD_DIM) { out[outStart + column + 3u] = v.w; }
  }
}

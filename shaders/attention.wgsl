// Fused multi-head self-attention with an online softmax:
//   out[b, i, h·hd + c] = sum_j softmax_j(scale · q_i · k_j) · v_j[c]     (only j ≤ i when CAUSAL)
//
// qkv: batch × seq × 3·D floats, row-major; each token row holds [q | k | v], each part D = heads·hd
//      wide, head h at columns h·hd .. (h+1)·hd of its part
// out: batch × seq × D floats, head h at columns h·hd .. (h+1)·hd
//
// One invocation per (batch, head, 4 consecutive queries) walks the keys once, 4 at a time. Per step of
// 4 head dims it loads 4 keys and scores them against its 4 queries as one 4×4 matrix product, so each
// key load serves 4 queries (the register-block trick that makes SwiftShader fast). The running max
// moves once per 4 keys; the accumulator and running sum are rescaled by exp2(oldMax - newMax) then.
// Scores live only in registers: the seq × seq matrix never exists in memory.
//
// Queries and accumulators are held as mat4x4f per 4 head dims (column r = query r), head dims up to
// 128. The scale arrives multiplied by log2(e) and is folded into q, so every exponential is an exp2.
// Head dims that are not a multiple of 4 read their last chunk partly (the rest is zero). Past the end
// of the sequence, query and key indices are clamped for loading and their results masked or dropped.
//
// NaN: a NaN score (NaN in q_i or a visible k_j) makes query i's row NaN, as in torch. Masked keys are
// skipped by select, but their v still meets a zero weight, so a NaN v inside a query's own 4-key block
// reaches it as 0·NaN (as it would in torch's dense masked softmax, where it reaches every row).
//
// Compiled after attention-softmax.wgsl (the online softmax step, LOWEST).

struct Params {
  seq: u32,
  heads: u32,
  // batch · heads · ceil(seq / 4): invocations past it do nothing.
  invocations: u32,
  // scale · log2(e)
  scaleLog2: f32,
}

override HEAD_DIM: u32 = 64;
override CAUSAL: bool = false;
override WORKGROUP_SIZE: u32 = 64;

// 4 queries per invocation and 4 keys per step: the 4×4 score block is one mat4x4f.
const BLOCK: u32 = 4u;
// Head dims up to 128 as 32 chunks of 4.
const MAX_CHUNKS: u32 = 32u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Head dims 4c .. 4c+3 of the head vector starting at element `start`; dims past HEAD_DIM read as zero.
// Branch-free: a tail chunk reads into the next part (or is clamped at the buffer's end by robustness)
// and select() zeroes what it read, NaN included. A branch here cost 2.5× on SwiftShader.
fn loadChunk(start: u32, c: u32) -> vec4f {
  let i = start + 4u * c;
  let v = vec4f(qkv[i], qkv[i + 1u], qkv[i + 2u], qkv[i + 3u]);
  if (HEAD_DIM % 4u == 0u) {
    return v;
  }
  return select(vec4f(0.0), v, vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u) < vec4u(HEAD_DIM));
}

// 4 keys' (or values') chunk c as the columns of a matrix.
fn loadBlock(starts: vec4u, c: u32) -> mat4x4f {
  return mat4x4f(loadChunk(starts.x, c), loadChunk(starts.y, c), loadChunk(starts.z, c), loadChunk(starts.w, c));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let invocation = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (invocation >= params.invocations) {
    return;
  }
  let seq = params.seq;
  let heads = params.heads;
  let groups = (seq + BLOCK - 1u) / BLOCK;
  let firstQuery = (invocation % groups) * BLOCK;
  let head = (invocation / groups) % heads;
  let b = invocation / (groups * heads);

  let width = heads * HEAD_DIM;
  let rowStride = 3u * width;
  // Where this head's q of token t starts is headStart + t·rowStride; its k and v are width, 2·width on.
  let headStart = b * seq * rowStride + head * HEAD_DIM;
  let chunks = (HEAD_DIM + 3u) / 4u;
  let lastToken = vec4u(seq - 1u);
  let queries = vec4u(firstQuery) + vec4u(0u, 1u, 2u, 3u);
  let queryStarts = vec4u(headStart) + min(queries, lastToken) * rowStride;

  var q: array<mat4x4f, MAX_CHUNKS>;
  var acc: array<mat4x4f, MAX_CHUNKS>;
  for (var c = 0u; c < chunks; c++) {
    q[c] = loadBlock(queryStarts, c) * params.scaleLog2;
    acc[c] = mat4x4f();
  }

  var runningMax = vec4f(LOWEST);
  var runningSum = vec4f(0.0);
  let keyEnd = select(seq, min(firstQuery + BLOCK, seq), CAUSAL);
  for (var firstKey = 0u; firstKey < keyEnd; firstKey += BLOCK) {
    let keys = vec4u(firstKey) + vec4u(0u, 1u, 2u, 3u);
    let keyStarts = vec4u(headStart + width) + min(keys, vec4u(keyEnd - 1u)) * rowStride;

    // scores[r][t] = q_r · k_t (column r holds query r's scores of the 4 keys)
    var scores = mat4x4f();
    for (var c = 0u; c < chunks; c++) {
      scores += transpose(loadBlock(keyStarts, c)) * q[c];
    }

    let step = softmaxStep(scores, keys, keyEnd, queries, seq, &runningMax, &runningSum);
    let correction = step.correction;
    let weights = step.weights;

    let valueStarts = keyStarts + vec4u(width);
    for (var c = 0u; c < chunks; c++) {
      let a = acc[c];
      // column r: query r's accumulator rescaled, plus the 4 values weighted by its 4 weights
      acc[c] = mat4x4f(a[0] * correction.x, a[1] * correction.y, a[2] * correction.z, a[3] * correction.w) +
               loadBlock(valueStarts, c) * weights;
    }
  }

  let inverseSum = 1.0 / runningSum;
  for (var r = 0u; r < BLOCK; r++) {
    let i = queries[r];
    if (i < seq) {
      let outStart = (b * seq + i) * width + head * HEAD_DIM;
      for (var c = 0u; c < chunks; c++) {
        let v = acc[c][r] * inverseSum[r];
        let column = 4u * c;
        out[outStart + column] = v.x;
        if (column + 1u < HEAD_DIM) { out[outStart + column + 1u] = v.y; }
        if (column + 2u < HEAD_DIM) { out[outStart + column + 2u] = v.z; }
        if (column + 3u < HEAD_DIM) { out[outStart + column + 3u] = v.w; }
      }
    }
  }
}

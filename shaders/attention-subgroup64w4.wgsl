// Fused multi-head self-attention for 4-lane SIMD with subgroups (SwiftShader), head dim 64: the result of
// attention.wgsl (read its header for the formula, the layouts, the online softmax and NaN):
//   out[b, i, h·64 + c] = sum_j softmax_j(scale · q_i · k_j) · v_j[c]     (only j ≤ i when CAUSAL)
//
// qkv: batch × seq × 3·D floats as vec4s (D = heads·64, so every head vector starts on a vec4)
// out: batch × seq × D floats as vec4s
//
// A workgroup is one group of 4 lanes and owns 16 queries of one (batch, head); lane l owns queries
// 4l .. 4l+3 of them, held as 16 mat4x4f (one per chunk of 4 head dims, column r = query r), as in
// attention.wgsl. The trick: the 4 lanes need the same keys and values, so instead of each lane loading
// all 16 chunks of 4 keys (a loop over the lanes per load on a CPU device), lane l loads chunks
// l, 4 + l, 8 + l, 12 + l of each, and the group passes them round with subgroupBroadcast from constant lanes, a
// register extract and splat. Per step of 4 keys a lane makes 32 vec4 loads, where attention.wgsl makes 128,
// for the same 2,048 multiply-adds. The chunk loops are written out (by scripts/unrolled-shaders.mjs: edit it
// there) so that the query and accumulator blocks are named values, never an array indexed by a counter.
//
// NaN: as attention.wgsl, except that with CAUSAL a masked key's v meets a zero weight for every query of
// the workgroup's 16 (not only the query's own 4-key block), so a NaN v reaches those as 0·NaN.
//
// Needs `subgroups` and subgroups of at least 4 lanes, the workgroup's 4 invocations being subgroup lanes
// 0..3. Compiled after attention-softmax.wgsl (with `enable subgroups;` put first). Dispatch: batch · heads ·
// ceil(seq / 16) workgroups of 4, folded into x·y.

struct Params {
  seq: u32,
  heads: u32,
  // batch · heads · ceil(seq / 16): workgroups past it do nothing.
  blocks: u32,
  // scale · log2(e)
  scaleLog2: f32,
}

override CAUSAL: bool = false;

const HEAD_DIM: u32 = 64u;
const QUERIES: u32 = 16u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let block = wid.x + wid.y * nwg.x;
  // The same for the whole workgroup, so no lane leaves the others behind at a broadcast.
  if (block >= params.blocks) {
    return;
  }
  let seq = params.seq;
  let heads = params.heads;
  let groups = (seq + QUERIES - 1u) / QUERIES;
  let firstQuery = (block % groups) * QUERIES;
  let head = (block / groups) % heads;
  let b = block / (groups * heads);

  // In vec4s: a token row is 3·D/4 long, a head 16.
  let width = heads * (HEAD_DIM / 4u);
  let rowStride = 3u * width;
  let headStart = b * seq * rowStride + head * (HEAD_DIM / 4u);
  let lastToken = vec4u(seq - 1u);
  let queries = vec4u(firstQuery + 4u * lane) + vec4u(0u, 1u, 2u, 3u);
  let queryStarts = vec4u(headStart) + min(queries, lastToken) * rowStride;

  let q0 = mat4x4f(qkv[queryStarts.x + 0u], qkv[queryStarts.y + 0u], qkv[queryStarts.z + 0u], qkv[queryStarts.w + 0u]) * params.scaleLog2;
  let q1 = mat4x4f(qkv[queryStarts.x + 1u], qkv[queryStarts.y + 1u], qkv[queryStarts.z + 1u], qkv[queryStarts.w + 1u]) * params.scaleLog2;
  let q2 = mat4x4f(qkv[queryStarts.x + 2u], qkv[queryStarts.y + 2u], qkv[queryStarts.z + 2u], qkv[queryStarts.w + 2u]) * params.scaleLog2;
  let q3 = mat4x4f(qkv[queryStarts.x + 3u], qkv[queryStarts.y + 3u], qkv[queryStarts.z + 3u], qkv[queryStarts.w + 3u]) * params.scaleLog2;
  let q4 = mat4x4f(qkv[queryStarts.x + 4u], qkv[queryStarts.y + 4u], qkv[queryStarts.z + 4u], qkv[queryStarts.w + 4u]) * params.scaleLog2;
  let q5 = mat4x4f(qkv[queryStarts.x + 5u], qkv[queryStarts.y + 5u], qkv[queryStarts.z + 5u], qkv[queryStarts.w + 5u]) * params.scaleLog2;
  let q6 = mat4x4f(qkv[queryStarts.x + 6u], qkv[queryStarts.y + 6u], qkv[queryStarts.z + 6u], qkv[queryStarts.w + 6u]) * params.scaleLog2;
  let q7 = mat4x4f(qkv[queryStarts.x + 7u], qkv[queryStarts.y + 7u], qkv[queryStarts.z + 7u], qkv[queryStarts.w + 7u]) * params.scaleLog2;
  let q8 = mat4x4f(qkv[queryStarts.x + 8u], qkv[queryStarts.y + 8u], qkv[queryStarts.z + 8u], qkv[queryStarts.w + 8u]) * params.scaleLog2;
  let q9 = mat4x4f(qkv[queryStarts.x + 9u], qkv[queryStarts.y + 9u], qkv[queryStarts.z + 9u], qkv[queryStarts.w + 9u]) * params.scaleLog2;
  let q10 = mat4x4f(qkv[queryStarts.x + 10u], qkv[queryStarts.y + 10u], qkv[queryStarts.z + 10u], qkv[queryStarts.w + 10u]) * params.scaleLog2;
  let q11 = mat4x4f(qkv[queryStarts.x + 11u], qkv[queryStarts.y + 11u], qkv[queryStarts.z + 11u], qkv[queryStarts.w + 11u]) * params.scaleLog2;
  let q12 = mat4x4f(qkv[queryStarts.x + 12u], qkv[queryStarts.y + 12u], qkv[queryStarts.z + 12u], qkv[queryStarts.w + 12u]) * params.scaleLog2;
  let q13 = mat4x4f(qkv[queryStarts.x + 13u], qkv[queryStarts.y + 13u], qkv[queryStarts.z + 13u], qkv[queryStarts.w + 13u]) * params.scaleLog2;
  let q14 = mat4x4f(qkv[queryStarts.x + 14u], qkv[queryStarts.y + 14u], qkv[queryStarts.z + 14u], qkv[queryStarts.w + 14u]) * params.scaleLog2;
  let q15 = mat4x4f(qkv[queryStarts.x + 15u], qkv[queryStarts.y + 15u], qkv[queryStarts.z + 15u], qkv[queryStarts.w + 15u]) * params.scaleLog2;
  var acc0 = mat4x4f();
  var acc1 = mat4x4f();
  var acc2 = mat4x4f();
  var acc3 = mat4x4f();
  var acc4 = mat4x4f();
  var acc5 = mat4x4f();
  var acc6 = mat4x4f();
  var acc7 = mat4x4f();
  var acc8 = mat4x4f();
  var acc9 = mat4x4f();
  var acc10 = mat4x4f();
  var acc11 = mat4x4f();
  var acc12 = mat4x4f();
  var acc13 = mat4x4f();
  var acc14 = mat4x4f();
  var acc15 = mat4x4f();

  var runningMax = vec4f(LOWEST);
  var runningSum = vec4f(0.0);
  let keyEnd = select(seq, min(firstQuery + QUERIES, seq), CAUSAL);
  for (var firstKey = 0u; firstKey < keyEnd; firstKey += 4u) {
    let keys = vec4u(firstKey) + vec4u(0u, 1u, 2u, 3u);
    let keyStarts = vec4u(headStart + width) + min(keys, vec4u(keyEnd - 1u)) * rowStride;
    // This lane's share: chunks lane, 4 + lane, 8 + lane, 12 + lane of the 4 keys.
    let k0 = mat4x4f(qkv[keyStarts.x + lane], qkv[keyStarts.y + lane], qkv[keyStarts.z + lane], qkv[keyStarts.w + lane]);
    let k1 = mat4x4f(qkv[keyStarts.x + 4u + lane], qkv[keyStarts.y + 4u + lane], qkv[keyStarts.z + 4u + lane], qkv[keyStarts.w + 4u + lane]);
    let k2 = mat4x4f(qkv[keyStarts.x + 8u + lane], qkv[keyStarts.y + 8u + lane], qkv[keyStarts.z + 8u + lane], qkv[keyStarts.w + 8u + lane]);
    let k3 = mat4x4f(qkv[keyStarts.x + 12u + lane], qkv[keyStarts.y + 12u + lane], qkv[keyStarts.z + 12u + lane], qkv[keyStarts.w + 12u + lane]);
    // scores[r][t] = q_r · k_t (column r holds query r's scores of the 4 keys)
    var scores = mat4x4f();
    scores += transpose(mat4x4f(subgroupBroadcast(k0[0], 0u), subgroupBroadcast(k0[1], 0u), subgroupBroadcast(k0[2], 0u), subgroupBroadcast(k0[3], 0u))) * q0;
    scores += transpose(mat4x4f(subgroupBroadcast(k0[0], 1u), subgroupBroadcast(k0[1], 1u), subgroupBroadcast(k0[2], 1u), subgroupBroadcast(k0[3], 1u))) * q1;
    scores += transpose(mat4x4f(subgroupBroadcast(k0[0], 2u), subgroupBroadcast(k0[1], 2u), subgroupBroadcast(k0[2], 2u), subgroupBroadcast(k0[3], 2u))) * q2;
    scores += transpose(mat4x4f(subgroupBroadcast(k0[0], 3u), subgroupBroadcast(k0[1], 3u), subgroupBroadcast(k0[2], 3u), subgroupBroadcast(k0[3], 3u))) * q3;
    scores += transpose(mat4x4f(subgroupBroadcast(k1[0], 0u), subgroupBroadcast(k1[1], 0u), subgroupBroadcast(k1[2], 0u), subgroupBroadcast(k1[3], 0u))) * q4;
    scores += transpose(mat4x4f(subgroupBroadcast(k1[0], 1u), subgroupBroadcast(k1[1], 1u), subgroupBroadcast(k1[2], 1u), subgroupBroadcast(k1[3], 1u))) * q5;
    scores += transpose(mat4x4f(subgroupBroadcast(k1[0], 2u), subgroupBroadcast(k1[1], 2u), subgroupBroadcast(k1[2], 2u), subgroupBroadcast(k1[3], 2u))) * q6;
    scores += transpose(mat4x4f(subgroupBroadcast(k1[0], 3u), subgroupBroadcast(k1[1], 3u), subgroupBroadcast(k1[2], 3u), subgroupBroadcast(k1[3], 3u))) * q7;
    scores += transpose(mat4x4f(subgroupBroadcast(k2[0], 0u), subgroupBroadcast(k2[1], 0u), subgroupBroadcast(k2[2], 0u), subgroupBroadcast(k2[3], 0u))) * q8;
    scores += transpose(mat4x4f(subgroupBroadcast(k2[0], 1u), subgroupBroadcast(k2[1], 1u), subgroupBroadcast(k2[2], 1u), subgroupBroadcast(k2[3], 1u))) * q9;
    scores += transpose(mat4x4f(subgroupBroadcast(k2[0], 2u), subgroupBroadcast(k2[1], 2u), subgroupBroadcast(k2[2], 2u), subgroupBroadcast(k2[3], 2u))) * q10;
    scores += transpose(mat4x4f(subgroupBroadcast(k2[0], 3u), subgroupBroadcast(k2[1], 3u), subgroupBroadcast(k2[2], 3u), subgroupBroadcast(k2[3], 3u))) * q11;
    scores += transpose(mat4x4f(subgroupBroadcast(k3[0], 0u), subgroupBroadcast(k3[1], 0u), subgroupBroadcast(k3[2], 0u), subgroupBroadcast(k3[3], 0u))) * q12;
    scores += transpose(mat4x4f(subgroupBroadcast(k3[0], 1u), subgroupBroadcast(k3[1], 1u), subgroupBroadcast(k3[2], 1u), subgroupBroadcast(k3[3], 1u))) * q13;
    scores += transpose(mat4x4f(subgroupBroadcast(k3[0], 2u), subgroupBroadcast(k3[1], 2u), subgroupBroadcast(k3[2], 2u), subgroupBroadcast(k3[3], 2u))) * q14;
    scores += transpose(mat4x4f(subgroupBroadcast(k3[0], 3u), subgroupBroadcast(k3[1], 3u), subgroupBroadcast(k3[2], 3u), subgroupBroadcast(k3[3], 3u))) * q15;

    let step = softmaxStep(scores, keys, keyEnd, queries, seq, &runningMax, &runningSum);
    let correction = step.correction;
    let weights = step.weights;

    let valueStarts = keyStarts + vec4u(width);
    let v0 = mat4x4f(qkv[valueStarts.x + lane], qkv[valueStarts.y + lane], qkv[valueStarts.z + lane], qkv[valueStarts.w + lane]);
    let v1 = mat4x4f(qkv[valueStarts.x + 4u + lane], qkv[valueStarts.y + 4u + lane], qkv[valueStarts.z + 4u + lane], qkv[valueStarts.w + 4u + lane]);
    let v2 = mat4x4f(qkv[valueStarts.x + 8u + lane], qkv[valueStarts.y + 8u + lane], qkv[valueStarts.z + 8u + lane], qkv[valueStarts.w + 8u + lane]);
    let v3 = mat4x4f(qkv[valueStarts.x + 12u + lane], qkv[valueStarts.y + 12u + lane], qkv[valueStarts.z + 12u + lane], qkv[valueStarts.w + 12u + lane]);
    // Column r: query r's accumulator rescaled, plus the 4 values weighted by its 4 weights.
    acc0 = mat4x4f(acc0[0] * correction.x, acc0[1] * correction.y, acc0[2] * correction.z, acc0[3] * correction.w) + mat4x4f(subgroupBroadcast(v0[0], 0u), subgroupBroadcast(v0[1], 0u), subgroupBroadcast(v0[2], 0u), subgroupBroadcast(v0[3], 0u)) * weights;
    acc1 = mat4x4f(acc1[0] * correction.x, acc1[1] * correction.y, acc1[2] * correction.z, acc1[3] * correction.w) + mat4x4f(subgroupBroadcast(v0[0], 1u), subgroupBroadcast(v0[1], 1u), subgroupBroadcast(v0[2], 1u), subgroupBroadcast(v0[3], 1u)) * weights;
    acc2 = mat4x4f(acc2[0] * correction.x, acc2[1] * correction.y, acc2[2] * correction.z, acc2[3] * correction.w) + mat4x4f(subgroupBroadcast(v0[0], 2u), subgroupBroadcast(v0[1], 2u), subgroupBroadcast(v0[2], 2u), subgroupBroadcast(v0[3], 2u)) * weights;
    acc3 = mat4x4f(acc3[0] * correction.x, acc3[1] * correction.y, acc3[2] * correction.z, acc3[3] * correction.w) + mat4x4f(subgroupBroadcast(v0[0], 3u), subgroupBroadcast(v0[1], 3u), subgroupBroadcast(v0[2], 3u), subgroupBroadcast(v0[3], 3u)) * weights;
    acc4 = mat4x4f(acc4[0] * correction.x, acc4[1] * correction.y, acc4[2] * correction.z, acc4[3] * correction.w) + mat4x4f(subgroupBroadcast(v1[0], 0u), subgroupBroadcast(v1[1], 0u), subgroupBroadcast(v1[2], 0u), subgroupBroadcast(v1[3], 0u)) * weights;
    acc5 = mat4x4f(acc5[0] * correction.x, acc5[1] * correction.y, acc5[2] * correction.z, acc5[3] * correction.w) + mat4x4f(subgroupBroadcast(v1[0], 1u), subgroupBroadcast(v1[1], 1u), subgroupBroadcast(v1[2], 1u), subgroupBroadcast(v1[3], 1u)) * weights;
    acc6 = mat4x4f(acc6[0] * correction.x, acc6[1] * correction.y, acc6[2] * correction.z, acc6[3] * correction.w) + mat4x4f(subgroupBroadcast(v1[0], 2u), subgroupBroadcast(v1[1], 2u), subgroupBroadcast(v1[2], 2u), subgroupBroadcast(v1[3], 2u)) * weights;
    acc7 = mat4x4f(acc7[0] * correction.x, acc7[1] * correction.y, acc7[2] * correction.z, acc7[3] * correction.w) + mat4x4f(subgroupBroadcast(v1[0], 3u), subgroupBroadcast(v1[1], 3u), subgroupBroadcast(v1[2], 3u), subgroupBroadcast(v1[3], 3u)) * weights;
    acc8 = mat4x4f(acc8[0] * correction.x, acc8[1] * correction.y, acc8[2] * correction.z, acc8[3] * correction.w) + mat4x4f(subgroupBroadcast(v2[0], 0u), subgroupBroadcast(v2[1], 0u), subgroupBroadcast(v2[2], 0u), subgroupBroadcast(v2[3], 0u)) * weights;
    acc9 = mat4x4f(acc9[0] * correction.x, acc9[1] * correction.y, acc9[2] * correction.z, acc9[3] * correction.w) + mat4x4f(subgroupBroadcast(v2[0], 1u), subgroupBroadcast(v2[1], 1u), subgroupBroadcast(v2[2], 1u), subgroupBroadcast(v2[3], 1u)) * weights;
    acc10 = mat4x4f(acc10[0] * correction.x, acc10[1] * correction.y, acc10[2] * correction.z, acc10[3] * correction.w) + mat4x4f(subgroupBroadcast(v2[0], 2u), subgroupBroadcast(v2[1], 2u), subgroupBroadcast(v2[2], 2u), subgroupBroadcast(v2[3], 2u)) * weights;
    acc11 = mat4x4f(acc11[0] * correction.x, acc11[1] * correction.y, acc11[2] * correction.z, acc11[3] * correction.w) + mat4x4f(subgroupBroadcast(v2[0], 3u), subgroupBroadcast(v2[1], 3u), subgroupBroadcast(v2[2], 3u), subgroupBroadcast(v2[3], 3u)) * weights;
    acc12 = mat4x4f(acc12[0] * correction.x, acc12[1] * correction.y, acc12[2] * correction.z, acc12[3] * correction.w) + mat4x4f(subgroupBroadcast(v3[0], 0u), subgroupBroadcast(v3[1], 0u), subgroupBroadcast(v3[2], 0u), subgroupBroadcast(v3[3], 0u)) * weights;
    acc13 = mat4x4f(acc13[0] * correction.x, acc13[1] * correction.y, acc13[2] * correction.z, acc13[3] * correction.w) + mat4x4f(subgroupBroadcast(v3[0], 1u), subgroupBroadcast(v3[1], 1u), subgroupBroadcast(v3[2], 1u), subgroupBroadcast(v3[3], 1u)) * weights;
    acc14 = mat4x4f(acc14[0] * correction.x, acc14[1] * correction.y, acc14[2] * correction.z, acc14[3] * correction.w) + mat4x4f(subgroupBroadcast(v3[0], 2u), subgroupBroadcast(v3[1], 2u), subgroupBroadcast(v3[2], 2u), subgroupBroadcast(v3[3], 2u)) * weights;
    acc15 = mat4x4f(acc15[0] * correction.x, acc15[1] * correction.y, acc15[2] * correction.z, acc15[3] * correction.w) + mat4x4f(subgroupBroadcast(v3[0], 3u), subgroupBroadcast(v3[1], 3u), subgroupBroadcast(v3[2], 3u), subgroupBroadcast(v3[3], 3u)) * weights;
  }

  let inverseSum = 1.0 / runningSum;
  let blocks = array<mat4x4f, 16>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11, acc12, acc13, acc14, acc15);
  for (var r = 0u; r < 4u; r++) {
    let i = queries[r];
    if (i < seq) {
      let outStart = (b * seq + i) * width + head * (HEAD_DIM / 4u);
      for (var c = 0u; c < 16u; c++) {
        out[outStart + c] = blocks[c][r] * inverseSum[r];
      }
    }
  }
}

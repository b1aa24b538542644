// GEMM for 8-lane SIMD, 64×16 per invocation: gemm-subgroup32x16.wgsl (read its header) with twice the rows.
// On lavapipe every per-lane load is a loop over the 8 lanes, and w's 16 vec4 loads per step are most of
// them; sharing each w load between 64 rows instead of 32 halves them per multiply-add (per step of 4 along
// K a lane loads 8 vec4s of x and 16 of w for 4,096 multiply-adds). The 1,024 accumulators of a lane live on
// the stack. A workgroup is one group of 8 lanes, and the x rows go round by subgroupBroadcast from
// constant lanes. For M = 50 (ViT-B/32) one block covers every row; at 257 rows, 4 blocks and a 1-row tail.
// Written by scripts/unrolled-shaders.mjs: edit it there.
//
// Needs `subgroups` and subgroups of at least 8 lanes, the workgroup's 8 invocations being subgroup lanes
// 0..7. Compiled after gemm-io-*.wgsl, gemm-epilogue.wgsl, gemm-register-blocks.wgsl and
// gemm-subgroup-blocks.wgsl. Dispatch: (ceil(N / 128), row groups ceil(rows / 64) folded into y·z).

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
    @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = params.firstRow + (wid.y + wid.z * params.rowGroups) * 64u;
  let col0 = (wid.x * 8u + lid.x) * 16u;
  let k = params.k;
  let lastRow = params.rows - 1u;
  let xRow0 = min(row0 + 0u + lane, lastRow) * k;
  let xRow1 = min(row0 + 8u + lane, lastRow) * k;
  let xRow2 = min(row0 + 16u + lane, lastRow) * k;
  let xRow3 = min(row0 + 24u + lane, lastRow) * k;
  let xRow4 = min(row0 + 32u + lane, lastRow) * k;
  let xRow5 = min(row0 + 40u + lane, lastRow) * k;
  let xRow6 = min(row0 + 48u + lane, lastRow) * k;
  let xRow7 = min(row0 + 56u + lane, lastRow) * k;
  let w0 = rowStarts(col0 + 0u, params.n);
  let w1 = rowStarts(col0 + 4u, params.n);
  let w2 = rowStarts(col0 + 8u, params.n);
  let w3 = rowStarts(col0 + 12u, params.n);
  var c0_0 = mat4x4f(); var c0_1 = mat4x4f(); var c0_2 = mat4x4f(); var c0_3 = mat4x4f();
  var c1_0 = mat4x4f(); var c1_1 = mat4x4f(); var c1_2 = mat4x4f(); var c1_3 = mat4x4f();
  var c2_0 = mat4x4f(); var c2_1 = mat4x4f(); var c2_2 = mat4x4f(); var c2_3 = mat4x4f();
  var c3_0 = mat4x4f(); var c3_1 = mat4x4f(); var c3_2 = mat4x4f(); var c3_3 = mat4x4f();
  var c4_0 = mat4x4f(); var c4_1 = mat4x4f(); var c4_2 = mat4x4f(); var c4_3 = mat4x4f();
  var c5_0 = mat4x4f(); var c5_1 = mat4x4f(); var c5_2 = mat4x4f(); var c5_3 = mat4x4f();
  var c6_0 = mat4x4f(); var c6_1 = mat4x4f(); var c6_2 = mat4x4f(); var c6_3 = mat4x4f();
  var c7_0 = mat4x4f(); var c7_1 = mat4x4f(); var c7_2 = mat4x4f(); var c7_3 = mat4x4f();
  var c8_0 = mat4x4f(); var c8_1 = mat4x4f(); var c8_2 = mat4x4f(); var c8_3 = mat4x4f();
  var c9_0 = mat4x4f(); var c9_1 = mat4x4f(); var c9_2 = mat4x4f(); var c9_3 = mat4x4f();
  var c10_0 = mat4x4f(); var c10_1 = mat4x4f(); var c10_2 = mat4x4f(); var c10_3 = mat4x4f();
  var c11_0 = mat4x4f(); var c11_1 = mat4x4f(); var c11_2 = mat4x4f(); var c11_3 = mat4x4f();
  var c12_0 = mat4x4f(); var c12_1 = mat4x4f(); var c12_2 = mat4x4f(); var c12_3 = mat4x4f();
  var c13_0 = mat4x4f(); var c13_1 = mat4x4f(); var c13_2 = mat4x4f(); var c13_3 = mat4x4f();
  var c14_0 = mat4x4f(); var c14_1 = mat4x4f(); var c14_2 = mat4x4f(); var c14_3 = mat4x4f();
  var c15_0 = mat4x4f(); var c15_1 = mat4x4f(); var c15_2 = mat4x4f(); var c15_3 = mat4x4f();

  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    let x0 = loadX4(xRow0 + e);
    let x1 = loadX4(xRow1 + e);
    let x2 = loadX4(xRow2 + e);
    let x3 = loadX4(xRow3 + e);
    let x4 = loadX4(xRow4 + e);
    let x5 = loadX4(xRow5 + e);
    let x6 = loadX4(xRow6 + e);
    let x7 = loadX4(xRow7 + e);
    let b0 = wBlock(w0, e);
    let b1 = wBlock(w1, e);
    let b2 = wBlock(w2, e);
    let b3 = wBlock(w3, e);
    let a0 = broadcastLow(x0);
    let a1 = broadcastHigh(x0);
    let a2 = broadcastLow(x1);
    let a3 = broadcastHigh(x1);
    let a4 = broadcastLow(x2);
    let a5 = broadcastHigh(x2);
    let a6 = broadcastLow(x3);
    let a7 = broadcastHigh(x3);
    let a8 = broadcastLow(x4);
    let a9 = broadcastHigh(x4);
    let a10 = broadcastLow(x5);
    let a11 = broadcastHigh(x5);
    let a12 = broadcastLow(x6);
    let a13 = broadcastHigh(x6);
    let a14 = broadcastLow(x7);
    let a15 = broadcastHigh(x7);
    c0_0 += a0 * b0; c0_1 += a0 * b1; c0_2 += a0 * b2; c0_3 += a0 * b3;
    c1_0 += a1 * b0; c1_1 += a1 * b1; c1_2 += a1 * b2; c1_3 += a1 * b3;
    c2_0 += a2 * b0; c2_1 += a2 * b1; c2_2 += a2 * b2; c2_3 += a2 * b3;
    c3_0 += a3 * b0; c3_1 += a3 * b1; c3_2 += a3 * b2; c3_3 += a3 * b3;
    c4_0 += a4 * b0; c4_1 += a4 * b1; c4_2 += a4 * b2; c4_3 += a4 * b3;
    c5_0 += a5 * b0; c5_1 += a5 * b1; c5_2 += a5 * b2; c5_3 += a5 * b3;
    c6_0 += a6 * b0; c6_1 += a6 * b1; c6_2 += a6 * b2; c6_3 += a6 * b3;
    c7_0 += a7 * b0; c7_1 += a7 * b1; c7_2 += a7 * b2; c7_3 += a7 * b3;
    c8_0 += a8 * b0; c8_1 += a8 * b1; c8_2 += a8 * b2; c8_3 += a8 * b3;
    c9_0 += a9 * b0; c9_1 += a9 * b1; c9_2 += a9 * b2; c9_3 += a9 * b3;
    c10_0 += a10 * b0; c10_1 += a10 * b1; c10_2 += a10 * b2; c10_3 += a10 * b3;
    c11_0 += a11 * b0; c11_1 += a11 * b1; c11_2 += a11 * b2; c11_3 += a11 * b3;
    c12_0 += a12 * b0; c12_1 += a12 * b1; c12_2 += a12 * b2; c12_3 += a12 * b3;
    c13_0 += a13 * b0; c13_1 += a13 * b1; c13_2 += a13 * b2; c13_3 += a13 * b3;
    c14_0 += a14 * b0; c14_1 += a14 * b1; c14_2 += a14 * b2; c14_3 += a14 * b3;
    c15_0 += a15 * b0; c15_1 += a15 * b1; c15_2 += a15 * b2; c15_3 += a15 * b3;
  }
  let t0 = rowStarts(row0 + 0u, params.rows);
  let t1 = rowStarts(row0 + 4u, params.rows);
  let t2 = rowStarts(row0 + 8u, params.rows);
  let t3 = rowStarts(row0 + 12u, params.rows);
  let t4 = rowStarts(row0 + 16u, params.rows);
  let t5 = rowStarts(row0 + 20u, params.rows);
  let t6 = rowStarts(row0 + 24u, params.rows);
  let t7 = rowStarts(row0 + 28u, params.rows);
  let t8 = rowStarts(row0 + 32u, params.rows);
  let t9 = rowStarts(row0 + 36u, params.rows);
  let t10 = rowStarts(row0 + 40u, params.rows);
  let t11 = rowStarts(row0 + 44u, params.rows);
  let t12 = rowStarts(row0 + 48u, params.rows);
  let t13 = rowStarts(row0 + 52u, params.rows);
  let t14 = rowStarts(row0 + 56u, params.rows);
  let t15 = rowStarts(row0 + 60u, params.rows);
  for (; e < k; e++) {
    let b0 = wColumn(w0, e);
    let b1 = wColumn(w1, e);
    let b2 = wColumn(w2, e);
    let b3 = wColumn(w3, e);
    let a0 = xColumn(t0, e);
    c0_0 += outer(a0, b0); c0_1 += outer(a0, b1); c0_2 += outer(a0, b2); c0_3 += outer(a0, b3);
    let a1 = xColumn(t1, e);
    c1_0 += outer(a1, b0); c1_1 += outer(a1, b1); c1_2 += outer(a1, b2); c1_3 += outer(a1, b3);
    let a2 = xColumn(t2, e);
    c2_0 += outer(a2, b0); c2_1 += outer(a2, b1); c2_2 += outer(a2, b2); c2_3 += outer(a2, b3);
    let a3 = xColumn(t3, e);
    c3_0 += outer(a3, b0); c3_1 += outer(a3, b1); c3_2 += outer(a3, b2); c3_3 += outer(a3, b3);
    let a4 = xColumn(t4, e);
    c4_0 += outer(a4, b0); c4_1 += outer(a4, b1); c4_2 += outer(a4, b2); c4_3 += outer(a4, b3);
    let a5 = xColumn(t5, e);
    c5_0 += outer(a5, b0); c5_1 += outer(a5, b1); c5_2 += outer(a5, b2); c5_3 += outer(a5, b3);
    let a6 = xColumn(t6, e);
    c6_0 += outer(a6, b0); c6_1 += outer(a6, b1); c6_2 += outer(a6, b2); c6_3 += outer(a6, b3);
    let a7 = xColumn(t7, e);
    c7_0 += outer(a7, b0); c7_1 += outer(a7, b1); c7_2 += outer(a7, b2); c7_3 += outer(a7, b3);
    let a8 = xColumn(t8, e);
    c8_0 += outer(a8, b0); c8_1 += outer(a8, b1); c8_2 += outer(a8, b2); c8_3 += outer(a8, b3);
    let a9 = xColumn(t9, e);
    c9_0 += outer(a9, b0); c9_1 += outer(a9, b1); c9_2 += outer(a9, b2); c9_3 += outer(a9, b3);
    let a10 = xColumn(t10, e);
    c10_0 += outer(a10, b0); c10_1 += outer(a10, b1); c10_2 += outer(a10, b2); c10_3 += outer(a10, b3);
    let a11 = xColumn(t11, e);
    c11_0 += outer(a11, b0); c11_1 += outer(a11, b1); c11_2 += outer(a11, b2); c11_3 += outer(a11, b3);
    let a12 = xColumn(t12, e);
    c12_0 += outer(a12, b0); c12_1 += outer(a12, b1); c12_2 += outer(a12, b2); c12_3 += outer(a12, b3);
    let a13 = xColumn(t13, e);
    c13_0 += outer(a13, b0); c13_1 += outer(a13, b1); c13_2 += outer(a13, b2); c13_3 += outer(a13, b3);
    let a14 = xColumn(t14, e);
    c14_0 += outer(a14, b0); c14_1 += outer(a14, b1); c14_2 += outer(a14, b2); c14_3 += outer(a14, b3);
    let a15 = xColumn(t15, e);
    c15_0 += outer(a15, b0); c15_1 += outer(a15, b1); c15_2 += outer(a15, b2); c15_3 += outer(a15, b3);
  }

  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let blocks = array<mat4x4f, 64>(c0_0, c0_1, c0_2, c0_3, c1_0, c1_1, c1_2, c1_3, c2_0, c2_1, c2_2, c2_3, c3_0, c3_1, c3_2, c3_3, c4_0, c4_1, c4_2, c4_3, c5_0, c5_1, c5_2, c5_3, c6_0, c6_1, c6_2, c6_3, c7_0, c7_1, c7_2, c7_3, c8_0, c8_1, c8_2, c8_3, c9_0, c9_1, c9_2, c9_3, c10_0, c10_1, c10_2, c10_3, c11_0, c11_1, c11_2, c11_3, c12_0, c12_1, c12_2, c12_3, c13_0, c13_1, c13_2, c13_3, c14_0, c14_1, c14_2, c14_3, c15_0, c15_1, c15_2, c15_3);
  for (var b = 0u; b < 64u; b++) {
    storeBlock(row0 + (b / 4u) * 4u, col0 + (b % 4u) * 4u, blocks[b]);
  }
}

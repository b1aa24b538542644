// GEMM for 8-lane SIMD, 32×16 per invocation: gemm-subgroup16x16.wgsl (read its header) with 32 rows
// shared by the 8 lanes of a group, each lane loading 4 of them. Per step of 4 along K a lane loads 4 vec4s
// of x and 16 of w for 2,048 multiply-adds; the accumulators (512 floats a lane) live on the stack on a
// CPU, where a spill is a plain vector load and store, far cheaper than a per-lane load. For tall M
// (ViT-L/14's 257 rows); at M = 50 a quarter of the block is padding.
//
// Needs `subgroups` and a subgroup size that is a multiple of 8. Compiled after gemm-io-*.wgsl,
// gemm-epilogue.wgsl, gemm-register-blocks.wgsl and gemm-subgroup-blocks.wgsl.
// Dispatch: (ceil(N / (16·WG_X)), row groups ceil(rows / 32) folded into y·z).

override WG_X: u32 = 8u;

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
    @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = params.firstRow + (wid.y + wid.z * params.rowGroups) * 32u;
  let col0 = (wid.x * WG_X + lid.x) * 16u;
  let group = lane & ~7u;
  let mine = lane & 7u;
  let k = params.k;
  let lastRow = params.rows - 1u;
  let xRow0 = min(row0 + 0u + mine, lastRow) * k;
  let xRow1 = min(row0 + 8u + mine, lastRow) * k;
  let xRow2 = min(row0 + 16u + mine, lastRow) * k;
  let xRow3 = min(row0 + 24u + mine, lastRow) * k;
  let w0 = rowStarts(col0, params.n);
  let w1 = rowStarts(col0 + 4u, params.n);
  let w2 = rowStarts(col0 + 8u, params.n);
  let w3 = rowStarts(col0 + 12u, params.n);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  var c40 = mat4x4f(); var c41 = mat4x4f(); var c42 = mat4x4f(); var c43 = mat4x4f();
  var c50 = mat4x4f(); var c51 = mat4x4f(); var c52 = mat4x4f(); var c53 = mat4x4f();
  var c60 = mat4x4f(); var c61 = mat4x4f(); var c62 = mat4x4f(); var c63 = mat4x4f();
  var c70 = mat4x4f(); var c71 = mat4x4f(); var c72 = mat4x4f(); var c73 = mat4x4f();

  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    let x0 = loadX4(xRow0 + e);
    let x1 = loadX4(xRow1 + e);
    let x2 = loadX4(xRow2 + e);
    let x3 = loadX4(xRow3 + e);
    let a0 = sharedBlock(x0, group, 0u);
    let a1 = sharedBlock(x0, group, 4u);
    let a2 = sharedBlock(x1, group, 0u);
    let a3 = sharedBlock(x1, group, 4u);
    let a4 = sharedBlock(x2, group, 0u);
    let a5 = sharedBlock(x2, group, 4u);
    let a6 = sharedBlock(x3, group, 0u);
    let a7 = sharedBlock(x3, group, 4u);
    let b0 = wBlock(w0, e);
    let b1 = wBlock(w1, e);
    let b2 = wBlock(w2, e);
    let b3 = wBlock(w3, e);
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    c40 += a4 * b0; c41 += a4 * b1; c42 += a4 * b2; c43 += a4 * b3;
    c50 += a5 * b0; c51 += a5 * b1; c52 += a5 * b2; c53 += a5 * b3;
    c60 += a6 * b0; c61 += a6 * b1; c62 += a6 * b2; c63 += a6 * b3;
    c70 += a7 * b0; c71 += a7 * b1; c72 += a7 * b2; c73 += a7 * b3;
  }
  let t0 = rowStarts(row0 + 0u, params.rows);
  let t1 = rowStarts(row0 + 4u, params.rows);
  let t2 = rowStarts(row0 + 8u, params.rows);
  let t3 = rowStarts(row0 + 12u, params.rows);
  let t4 = rowStarts(row0 + 16u, params.rows);
  let t5 = rowStarts(row0 + 20u, params.rows);
  let t6 = rowStarts(row0 + 24u, params.rows);
  let t7 = rowStarts(row0 + 28u, params.rows);
  for (; e < k; e++) {
    let a0 = xColumn(t0, e);
    let a1 = xColumn(t1, e);
    let a2 = xColumn(t2, e);
    let a3 = xColumn(t3, e);
    let a4 = xColumn(t4, e);
    let a5 = xColumn(t5, e);
    let a6 = xColumn(t6, e);
    let a7 = xColumn(t7, e);
    let b0 = wColumn(w0, e);
    let b1 = wColumn(w1, e);
    let b2 = wColumn(w2, e);
    let b3 = wColumn(w3, e);
    c00 += outer(a0, b0); c01 += outer(a0, b1); c02 += outer(a0, b2); c03 += outer(a0, b3);
    c10 += outer(a1, b0); c11 += outer(a1, b1); c12 += outer(a1, b2); c13 += outer(a1, b3);
    c20 += outer(a2, b0); c21 += outer(a2, b1); c22 += outer(a2, b2); c23 += outer(a2, b3);
    c30 += outer(a3, b0); c31 += outer(a3, b1); c32 += outer(a3, b2); c33 += outer(a3, b3);
    c40 += outer(a4, b0); c41 += outer(a4, b1); c42 += outer(a4, b2); c43 += outer(a4, b3);
    c50 += outer(a5, b0); c51 += outer(a5, b1); c52 += outer(a5, b2); c53 += outer(a5, b3);
    c60 += outer(a6, b0); c61 += outer(a6, b1); c62 += outer(a6, b2); c63 += outer(a6, b3);
    c70 += outer(a7, b0); c71 += outer(a7, b1); c72 += outer(a7, b2); c73 += outer(a7, b3);
  }

  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let blocks = array<mat4x4f, 32>(c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53, c60, c61, c62, c63, c70, c71, c72, c73);
  for (var b = 0u; b < 32u; b++) {
    storeBlock(row0 + (b / 4u) * 4u, col0 + (b % 4u) * 4u, blocks[b]);
  }
}

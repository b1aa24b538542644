// GEMM for 8-lane SIMD (lavapipe; GPUs whose subgroups are a multiple of 8 lanes): y = act(x·wᵀ + bias).
// Each invocation owns a 16×16 block of y like gemm-register16x16.wgsl, and the 8 lanes of a group share
// the same 16 rows, side by side along N. Where the register kernel has every lane load the same 16 x
// rows (on lavapipe a load whose address differs per lane is a loop over the lanes, the kernel's biggest
// cost), here lane l loads rows l and 8 + l and the group passes them round with subgroupShuffle, a
// register permute: per step of 4 along K a lane loads 2 vec4s of x and 16 of w for 1,024 multiply-adds
// (register16x16: 16 and 16).
//
// Needs the `subgroups` feature and a subgroup size that is a multiple of 8 (lavapipe: 8; not SwiftShader:
// 4); the lanes of a group of 8 are subgroup invocations 8g..8g+7, so WG_X is a multiple of 8.
// Compiled after gemm-io-*.wgsl, gemm-epilogue.wgsl, gemm-register-blocks.wgsl and gemm-subgroup-blocks.wgsl
// (with `enable subgroups;` put first). Dispatch: (ceil(N / (16·WG_X)), row groups ceil(rows / 16) folded into y·z).

override WG_X: u32 = 8u;

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
    @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = params.firstRow + (wid.y + wid.z * params.rowGroups) * 16u;
  let col0 = (wid.x * WG_X + lid.x) * 16u;
  // No early return: every lane must reach the shuffles. Lanes past N compute the clamped last columns.
  let group = lane & ~7u;
  let mine = lane & 7u;
  let k = params.k;
  let lastRow = params.rows - 1u;
  let xFirst = min(row0 + mine, lastRow) * k;
  let xSecond = min(row0 + 8u + mine, lastRow) * k;
  let w0 = rowStarts(col0, params.n);
  let w1 = rowStarts(col0 + 4u, params.n);
  let w2 = rowStarts(col0 + 8u, params.n);
  let w3 = rowStarts(col0 + 12u, params.n);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();

  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    let first = loadX4(xFirst + e);
    let second = loadX4(xSecond + e);
    let a0 = sharedBlock(first, group, 0u);
    let a1 = sharedBlock(first, group, 4u);
    let a2 = sharedBlock(second, group, 0u);
    let a3 = sharedBlock(second, group, 4u);
    let b0 = wBlock(w0, e);
    let b1 = wBlock(w1, e);
    let b2 = wBlock(w2, e);
    let b3 = wBlock(w3, e);
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  // K % 4 leftovers, one k at a time, the 16 rows read directly (rare: every ViT K is a multiple of 4).
  let x0 = rowStarts(row0, params.rows);
  let x1 = rowStarts(row0 + 4u, params.rows);
  let x2 = rowStarts(row0 + 8u, params.rows);
  let x3 = rowStarts(row0 + 12u, params.rows);
  for (; e < k; e++) {
    let a0 = xColumn(x0, e);
    let a1 = xColumn(x1, e);
    let a2 = xColumn(x2, e);
    let a3 = xColumn(x3, e);
    let b0 = wColumn(w0, e);
    let b1 = wColumn(w1, e);
    let b2 = wColumn(w2, e);
    let b3 = wColumn(w3, e);
    c00 += outer(a0, b0); c01 += outer(a0, b1); c02 += outer(a0, b2); c03 += outer(a0, b3);
    c10 += outer(a1, b0); c11 += outer(a1, b1); c12 += outer(a1, b2); c13 += outer(a1, b3);
    c20 += outer(a2, b0); c21 += outer(a2, b1); c22 += outer(a2, b2); c23 += outer(a2, b3);
    c30 += outer(a3, b0); c31 += outer(a3, b1); c32 += outer(a3, b2); c33 += outer(a3, b3);
  }

  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let blocks = array<mat4x4f, 16>(c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33);
  for (var b = 0u; b < 16u; b++) {
    storeBlock(row0 + (b / 4u) * 4u, col0 + (b % 4u) * 4u, blocks[b]);
  }
}

// GEMM (register-blocked 8×16, for short M): y = act(x·wᵀ + bias). Each invocation owns 8 rows × 16
// columns of y as eight 4×4 accumulators; per step of 4 along K it loads 8 vec4s of x and 16 of w for 512
// multiply-adds. Half register16x16's accumulators at 8-row granularity: M = 50 (ViT-B/32) runs as
// 48 + 2 rows with twice the invocations along M to spread over the cores.
//
// Compiled after gemm-io-*.wgsl, gemm-epilogue.wgsl and gemm-register-blocks.wgsl.
// Dispatch: (ceil(N / (16·WG_X)), row groups ceil(rows / (8·WG_Y)) folded into y·z).

override WG_X: u32 = 4u;
override WG_Y: u32 = 1u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = params.firstRow + ((wid.y + wid.z * params.rowGroups) * WG_Y + lid.y) * 8u;
  let col0 = (wid.x * WG_X + lid.x) * 16u;
  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let x0 = rowStarts(row0, params.rows);
  let x1 = rowStarts(row0 + 4u, params.rows);
  let w0 = rowStarts(col0, params.n);
  let w1 = rowStarts(col0 + 4u, params.n);
  let w2 = rowStarts(col0 + 8u, params.n);
  let w3 = rowStarts(col0 + 12u, params.n);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();

  let k = params.k;
  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    let a0 = transpose(xBlock(x0, e));
    let a1 = transpose(xBlock(x1, e));
    let b0 = wBlock(w0, e);
    let b1 = wBlock(w1, e);
    let b2 = wBlock(w2, e);
    let b3 = wBlock(w3, e);
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
  }
  for (; e < k; e++) {
    let a0 = xColumn(x0, e);
    let a1 = xColumn(x1, e);
    let b0 = wColumn(w0, e);
    let b1 = wColumn(w1, e);
    let b2 = wColumn(w2, e);
    let b3 = wColumn(w3, e);
    c00 += outer(a0, b0); c01 += outer(a0, b1); c02 += outer(a0, b2); c03 += outer(a0, b3);
    c10 += outer(a1, b0); c11 += outer(a1, b1); c12 += outer(a1, b2); c13 += outer(a1, b3);
  }

  let blocks = array<mat4x4f, 8>(c00, c01, c02, c03, c10, c11, c12, c13);
  for (var b = 0u; b < 8u; b++) {
    storeBlock(row0 + (b / 4u) * 4u, col0 + (b % 4u) * 4u, blocks[b]);
  }
}

// GEMM, ladder step 5 (register-blocked 16×16): y = act(x·wᵀ + bias). Each invocation owns a 16×16 block
// of y as sixteen 4×4 accumulators and walks K four at a time: per step it loads 16 vec4s of x and 16 of w
// (both operands are contiguous along K in the nn.Linear layout) and does 1,024 multiply-adds, so every
// loaded value is reused 16 times without workgroup memory or barriers. What SwiftShader is fastest at.
//
// Compiled after gemm-io-*.wgsl (bindings x [rows, K], w [N, K], bias [N], y [rows, N], loaders),
// gemm-epilogue.wgsl (store()) and gemm-register-blocks.wgsl (4×4 block helpers).
// Dispatch: (ceil(N / (16·WG_X)), row groups ceil(rows / (16·WG_Y)) folded into y·z).

// 4×1: one 4-lane SIMD group per workgroup on SwiftShader, its lanes on the same 16 rows (they load the
// same x) and 16-row granularity along M (a 2×2 group measured ~20% slower and pads M to 32).
override WG_X: u32 = 4u;
override WG_Y: u32 = 1u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = params.firstRow + ((wid.y + wid.z * params.rowGroups) * WG_Y + lid.y) * 16u;
  let col0 = (wid.x * WG_X + lid.x) * 16u;
  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let x0 = rowStarts(row0, params.rows);
  let x1 = rowStarts(row0 + 4u, params.rows);
  let x2 = rowStarts(row0 + 8u, params.rows);
  let x3 = rowStarts(row0 + 12u, params.rows);
  let w0 = rowStarts(col0, params.n);
  let w1 = rowStarts(col0 + 4u, params.n);
  let w2 = rowStarts(col0 + 8u, params.n);
  let w3 = rowStarts(col0 + 12u, params.n);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();

  let k = params.k;
  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    let a0 = transpose(xBlock(x0, e));
    let a1 = transpose(xBlock(x1, e));
    let a2 = transpose(xBlock(x2, e));
    let a3 = transpose(xBlock(x3, e));
    let b0 = wBlock(w0, e);
    let b1 = wBlock(w1, e);
    let b2 = wBlock(w2, e);
    let b3 = wBlock(w3, e);
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
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

  // One storeBlock in a loop rather than sixteen inlined copies: the same speed, a third of the compile.
  let blocks = array<mat4x4f, 16>(c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33);
  for (var b = 0u; b < 16u; b++) {
    storeBlock(row0 + (b / 4u) * 4u, col0 + (b % 4u) * 4u, blocks[b]);
  }
}

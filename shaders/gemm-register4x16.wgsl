// GEMM (register-blocked 4×16, for few rows): y = act(x·wᵀ + bias). Each invocation owns 4 rows × 16
// columns of y as four 4×4 accumulators and walks K four at a time: per step 4 vec4 loads of x (reused by
// the 4 column blocks) and 16 of w, 256 multiply-adds. Four times the reuse of x that register4x4 gets at
// the same 4-row granularity, so the last few rows of a ViT-B/32 GEMM (M = 50 = 48 + 2) cost little.
//
// Compiled after gemm-io-*.wgsl, gemm-epilogue.wgsl and gemm-register-blocks.wgsl.
// Dispatch: (ceil(N / (16·WG_X)), row groups ceil(rows / (4·WG_Y)) folded into y·z).

override WG_X: u32 = 4u;
override WG_Y: u32 = 1u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = params.firstRow + ((wid.y + wid.z * params.rowGroups) * WG_Y + lid.y) * 4u;
  let col0 = (wid.x * WG_X + lid.x) * 16u;
  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let x0 = rowStarts(row0, params.rows);
  let w0 = rowStarts(col0, params.n);
  let w1 = rowStarts(col0 + 4u, params.n);
  let w2 = rowStarts(col0 + 8u, params.n);
  let w3 = rowStarts(col0 + 12u, params.n);
  var c0 = mat4x4f(); var c1 = mat4x4f(); var c2 = mat4x4f(); var c3 = mat4x4f();

  let k = params.k;
  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    let a = transpose(xBlock(x0, e));
    c0 += a * wBlock(w0, e); c1 += a * wBlock(w1, e); c2 += a * wBlock(w2, e); c3 += a * wBlock(w3, e);
  }
  for (; e < k; e++) {
    let a = xColumn(x0, e);
    c0 += outer(a, wColumn(w0, e)); c1 += outer(a, wColumn(w1, e)); c2 += outer(a, wColumn(w2, e)); c3 += outer(a, wColumn(w3, e));
  }
  storeBlock(row0, col0, c0); storeBlock(row0, col0 + 4u, c1); storeBlock(row0, col0 + 8u, c2); storeBlock(row0, col0 + 12u, c3);
}

// GEMM, ladder step 4 (register-blocked 8×8): y = act(x·wᵀ + bias). Each invocation owns an 8×8 block of
// y as four 4×4 accumulators and walks K four at a time (8 vec4 loads of x, 8 of w, 256 multiply-adds per
// step). Same scheme as gemm-register16x16.wgsl with half the reuse; read that header.
//
// Compiled after gemm-io-*.wgsl, gemm-epilogue.wgsl and gemm-register-blocks.wgsl.
// Dispatch: (ceil(N / (8·WG_X)), row groups ceil(rows / (8·WG_Y)) folded into y·z).

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = params.firstRow + ((wid.y + wid.z * params.rowGroups) * WG_Y + lid.y) * 8u;
  let col0 = (wid.x * WG_X + lid.x) * 8u;
  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let x0 = rowStarts(row0, params.rows);
  let x1 = rowStarts(row0 + 4u, params.rows);
  let w0 = rowStarts(col0, params.n);
  let w1 = rowStarts(col0 + 4u, params.n);
  var c00 = mat4x4f(); var c01 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f();

  let k = params.k;
  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    let a0 = transpose(xBlock(x0, e));
    let a1 = transpose(xBlock(x1, e));
    let b0 = wBlock(w0, e);
    let b1 = wBlock(w1, e);
    c00 += a0 * b0; c01 += a0 * b1;
    c10 += a1 * b0; c11 += a1 * b1;
  }
  for (; e < k; e++) {
    let a0 = xColumn(x0, e);
    let a1 = xColumn(x1, e);
    let b0 = wColumn(w0, e);
    let b1 = wColumn(w1, e);
    c00 += outer(a0, b0); c01 += outer(a0, b1);
    c10 += outer(a1, b0); c11 += outer(a1, b1);
  }

  storeBlock(row0, col0, c00); storeBlock(row0, col0 + 4u, c01);
  storeBlock(row0 + 4u, col0, c10); storeBlock(row0 + 4u, col0 + 4u, c11);
}

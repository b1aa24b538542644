// GEMM, ladder step 3 (register-blocked 4×4): y = act(x·wᵀ + bias). Each invocation owns a 4×4 block of y
// as one mat4x4f accumulator and walks K four at a time (4 vec4 loads of x, 4 of w, 64 multiply-adds per
// step), with no workgroup memory. Same scheme as gemm-register16x16.wgsl with a quarter of the reuse.
//
// Compiled after gemm-io-*.wgsl, gemm-epilogue.wgsl and gemm-register-blocks.wgsl.
// Dispatch: (ceil(N / (4·WG_X)), row groups ceil(rows / (4·WG_Y)) folded into y·z).

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = params.firstRow + ((wid.y + wid.z * params.rowGroups) * WG_Y + lid.y) * 4u;
  let col0 = (wid.x * WG_X + lid.x) * 4u;
  if (row0 >= params.rows || col0 >= params.n) {
    return;
  }
  let x0 = rowStarts(row0, params.rows);
  let w0 = rowStarts(col0, params.n);
  var c = mat4x4f();
  let k = params.k;
  var e = 0u;
  for (; e + 4u <= k; e += 4u) {
    c += transpose(xBlock(x0, e)) * wBlock(w0, e);
  }
  for (; e < k; e++) {
    c += outer(xColumn(x0, e), wColumn(w0, e));
  }
  storeBlock(row0, col0, c);
}

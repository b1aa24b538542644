// GEMM, ladder step 1 (naive): y = act(x·wᵀ + bias), one output per invocation, straight from global
// memory. The baseline every other variant is checked and timed against.
//
// Compiled after a gemm-io-*.wgsl file (bindings x [rows, K], w [N, K], bias [N], y [rows, N], and the
// loadX/loadW functions) and gemm-epilogue.wgsl (store(): bias + activation).
// Dispatch: (ceil(N / WG_X), row groups folded into y·z as ceil(rows / WG_Y)).

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let col = wid.x * WG_X + lid.x;
  let row = params.firstRow + (wid.y + wid.z * params.rowGroups) * WG_Y + lid.y;
  if (row >= params.rows || col >= params.n) {
    return;
  }
  let k = params.k;
  var acc = 0.0;
  for (var i = 0u; i < k; i++) {
    acc += loadX(row * k + i) * loadW(col * k + i);
  }
  store(row, col, acc);
}

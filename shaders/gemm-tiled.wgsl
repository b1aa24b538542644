// GEMM, ladder step 2 (workgroup-memory tiled): y = act(x·wᵀ + bias). Each TILE×TILE workgroup stages a
// TILE×TILE block of x and of w in workgroup memory, so every global element is read once per workgroup
// instead of once per output. What a hardware GPU wants; on SwiftShader the barriers cost more than the
// loads they save.
//
// Compiled after a gemm-io-*.wgsl file (bindings x [rows, K], w [N, K], bias [N], y [rows, N], loadX/loadW)
// and gemm-epilogue.wgsl (store()). Dispatch: (ceil(N / TILE), row groups ceil(rows / TILE) folded into y·z).

override TILE: u32 = 16u;

var<workgroup> xTile: array<f32, TILE * TILE>; // [TILE rows][TILE k]
var<workgroup> wTile: array<f32, TILE * TILE>; // [TILE cols][TILE k]

@compute @workgroup_size(TILE, TILE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let k = params.k;
  let rowBase = params.firstRow + (wid.y + wid.z * params.rowGroups) * TILE;
  let colBase = wid.x * TILE;
  // Staging: invocation (lid.x, lid.y) fetches element k0 + lid.x of x row rowBase + lid.y and of w row
  // colBase + lid.y, so consecutive invocations read consecutive addresses.
  let xRow = rowBase + lid.y;
  let wRow = colBase + lid.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < k; k0 += TILE) {
    let kk = k0 + lid.x;
    var xv = 0.0;
    var wv = 0.0;
    if (xRow < params.rows && kk < k) {
      xv = loadX(xRow * k + kk);
    }
    if (wRow < params.n && kk < k) {
      wv = loadW(wRow * k + kk);
    }
    xTile[lid.y * TILE + lid.x] = xv;
    wTile[lid.y * TILE + lid.x] = wv;
    workgroupBarrier();
    for (var i = 0u; i < TILE; i++) {
      acc += xTile[lid.y * TILE + i] * wTile[lid.x * TILE + i];
    }
    workgroupBarrier();
  }
  let row = rowBase + lid.y;
  let col = colBase + lid.x;
  if (row < params.rows && col < params.n) {
    store(row, col, acc);
  }
}

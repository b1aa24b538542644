// GEMM, ladder step 6, for hardware GPUs (workgroup-memory tiles + register blocks):
// y = act(x·wᵀ + bias). A 16×16 workgroup owns a 64×64 block of y; each K step of 16 it stages 64 rows of x
// and 64 rows of w (16 values each) in workgroup memory, transposed so k is the slow index, then every
// invocation accumulates its own 4×4 block from vec4 reads: 8 workgroup-memory vec4 reads per 64
// multiply-adds, and each global value is read once per workgroup. On SwiftShader the barriers make this
// slower than gemm-register16x16.wgsl; on a GPU the shared tile is what makes it fast.
//
// Compiled after gemm-io-*.wgsl (bindings x [rows, K], w [N, K], bias [N], y [rows, N], loadX/loadW),
// gemm-epilogue.wgsl (store()) and gemm-register-blocks.wgsl (outer(), storeBlock()).
// Dispatch: (ceil(N / 64), row groups ceil(rows / 64) folded into y·z).

const BLOCK = 64u; // rows (and columns) of y per workgroup: 16 invocations × 4
const DEPTH = 16u; // k per stage

// xStage[kk·16 + q] = x[rows 4q..4q+3 of the block, k0 + kk]; wStage likewise for columns.
var<workgroup> xStage: array<vec4f, DEPTH * 16u>;
var<workgroup> wStage: array<vec4f, DEPTH * 16u>;

// Stages element (r, kk) of a 64×16 slice: r = row within the block, kk = k within the stage.
fn stageIndex(r: u32, kk: u32) -> u32 {
  return kk * 16u + r / 4u;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) flat: u32) {
  let k = params.k;
  let rowBase = params.firstRow + (wid.y + wid.z * params.rowGroups) * BLOCK;
  let colBase = wid.x * BLOCK;
  // Staging: invocation `flat` fetches 4 consecutive k of one row: row flat / 4, k (flat % 4)·4 ..+3.
  let stageRow = flat / 4u;
  let stageK = (flat % 4u) * 4u;
  let xRow = rowBase + stageRow;
  let wRow = colBase + stageRow;
  var c = mat4x4f();
  for (var k0 = 0u; k0 < k; k0 += DEPTH) {
    var xv = vec4f();
    var wv = vec4f();
    for (var j = 0u; j < 4u; j++) {
      let kk = k0 + stageK + j;
      if (kk < k && xRow < params.rows) {
        xv[j] = loadX(xRow * k + kk);
      }
      if (kk < k && wRow < params.n) {
        wv[j] = loadW(wRow * k + kk);
      }
    }
    for (var j = 0u; j < 4u; j++) {
      let slot = stageIndex(stageRow, stageK + j);
      xStage[slot][stageRow % 4u] = xv[j];
      wStage[slot][stageRow % 4u] = wv[j];
    }
    workgroupBarrier();
    for (var kk = 0u; kk < DEPTH; kk++) {
      c += outer(xStage[kk * 16u + lid.y], wStage[kk * 16u + lid.x]);
    }
    workgroupBarrier();
  }
  storeBlock(rowBase + lid.y * 4u, colBase + lid.x * 4u, c);
}

// What the row-wise kernels over the last dimension share: layernorm.wgsl, softmax.wgsl and
// l2-normalize.wgsl are each compiled as  rows-common + kernel  (see src/kernels/rows.ts, which also picks
// the entry point per adapter). This file provides:
//
// - params (binding 0): rows = rows of x (leading batch dims flattened into rows), cols = the last
//   dimension, eps = the kernel's epsilon (written as 0 and unused where a kernel has none)
// - two of the three entry points (the third, one subgroup per row, is rows-subgroup.wgsl, compiled only
//   where the adapter has subgroups), which find their row and hand the index of its first element to the kernel:
//   `main` gives each row a workgroup whose invocations stride over the columns and reduce in workgroup
//   memory (hardware GPUs), and calls the kernel's  fn rowByWorkgroup(base: u32, cols: u32, lid: u32);
//   `rowPerInvocation` gives each row one invocation that loops, with no barriers (software adapters), and
//   calls the kernel's  fn rowByInvocation(base: u32, cols: u32).
//   Rows beyond 65,535 workgroups fold the dispatch into 2-D; the row is rebuilt from the workgroup id.
// - workgroupSum / workgroupMax (tree reductions for rowByWorkgroup) and SUM_BLOCK (for rowByInvocation
//   and rowBySubgroup)

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

// A power of two: the tree reduction halves it.
override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  rowByWorkgroup(row * params.cols, params.cols, lid);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn rowPerInvocation(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (row >= params.rows) {
    return;
  }
  rowByInvocation(row * params.cols, params.cols);
}

var<workgroup> partial: array<f32, WORKGROUP_SIZE>;

fn workgroupSum(value: f32, lid: u32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  // Everyone has read the total before the next call overwrites it.
  workgroupBarrier();
  return total;
}

fn workgroupMax(value: f32, lid: u32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      partial[lid] = max(partial[lid], partial[lid + stride]);
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

// rowByInvocation sums in blocks of SUM_BLOCK and then adds the blocks: a 100,000-wide row then rounds
// like ~700 additions instead of 100,000 (1e-5 relative error vs 2.7e-5 summed straight).
const SUM_BLOCK: u32 = 256u;

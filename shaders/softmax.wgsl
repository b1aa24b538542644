// Softmax over the last dimension: out[r, c] = exp(x[r, c] - max_r) / sum_c' exp(x[r, c'] - max_r)
//
// x:   rows × cols floats, row-major (leading batch dims flattened into rows)
// out: rows × cols floats
//
// A max pass, a sum pass, a write pass. Two entry points (src/kernels/rows.ts picks one per adapter):
// `main` gives each row a workgroup and reduces in workgroup memory (hardware GPUs); `rowPerInvocation`
// gives each row one invocation that loops, with no barriers (SwiftShader).
// Subtracting the row max keeps exp() from overflowing. A NaN anywhere in a row is added into its sum, so
// the whole row (and only that row) comes out NaN, as in torch.

struct Params {
  rows: u32,
  cols: u32,
}

// A power of two: the tree reduction halves it.
override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WORKGROUP_SIZE>;

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
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let cols = params.cols;
  let base = row * cols;

  // Starting from the row's first element needs no -inf literal (WGSL has none).
  var largest = x[base];
  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    largest = max(largest, x[base + c]);
  }
  let rowMax = workgroupMax(largest, lid);

  var sum = 0.0;
  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    let v = x[base + c];
    // exp() and max() may drop NaN (SwiftShader: max(NaN, 1) = 1, exp(NaN) = inf) and `v != v` may be
    // compiled as an ordered compare, so a NaN is found as !(v == v) and added to the sum explicitly;
    // -inf entries still give 0 as in torch.
    sum += exp(v - rowMax) + select(0.0, v, !(v == v));
  }
  let inverseSum = 1.0 / workgroupSum(sum, lid);

  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    out[base + c] = exp(x[base + c] - rowMax) * inverseSum;
  }
}

// rowPerInvocation sums in blocks of SUM_BLOCK and then adds the blocks: a 100,000-wide row then rounds
// like ~700 additions instead of 100,000 (1e-5 relative error vs 2.7e-5 summed straight).
const SUM_BLOCK: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn rowPerInvocation(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (row >= params.rows) {
    return;
  }
  let cols = params.cols;
  let base = row * cols;
  var rowMax = x[base];
  for (var c = 1u; c < cols; c++) {
    rowMax = max(rowMax, x[base + c]);
  }
  var sum = 0.0;
  for (var start = 0u; start < cols; start += SUM_BLOCK) {
    var blockSum = 0.0;
    for (var c = start; c < min(start + SUM_BLOCK, cols); c++) {
      let v = x[base + c];
      // NaN is added explicitly, as in main.
      blockSum += exp(v - rowMax) + select(0.0, v, !(v == v));
    }
    sum += blockSum;
  }
  let inverseSum = 1.0 / sum;
  for (var c = 0u; c < cols; c++) {
    out[base + c] = exp(x[base + c] - rowMax) * inverseSum;
  }
}

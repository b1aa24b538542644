// Layer normalization over the last dimension:
//   out[r, c] = (x[r, c] - mean_r) / sqrt(var_r + eps) * gamma[c] + beta[c]
//
// x:     rows × cols floats, row-major (leading batch dims flattened into rows)
// gamma: cols floats
// beta:  cols floats
// out:   rows × cols floats
//
// Two entry points (src/kernels/rows.ts picks one per adapter): `main` gives each row a workgroup whose
// invocations stride over the columns and add partial sums in workgroup memory (hardware GPUs);
// `rowPerInvocation` gives each row one invocation that loops, with no barriers (SwiftShader). The variance is summed around the mean in a second pass over the row (two-pass), which avoids
// the cancellation of E[x²] - E[x]² when the mean is large against the spread (ViT residual streams).
// Rows beyond 65,535 fold the dispatch into 2-D; the row is rebuilt from the workgroup id.

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

// A power of two: the tree reduction halves it.
override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

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

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let cols = params.cols;
  let base = row * cols;

  // Everything is measured from the row's first element (the "shifted data" trick): x - shift is exact
  // for nearby values, and the mean is never rounded to f32 at the row's magnitude, where one ulp of a
  // mean near 1000 would already cost 3e-5.
  let shift = x[base];
  var sum = 0.0;
  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    sum += x[base + c] - shift;
  }
  let shiftedMean = workgroupSum(sum, lid) / f32(cols);

  var squares = 0.0;
  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    let d = (x[base + c] - shift) - shiftedMean;
    squares += d * d;
  }
  let variance = workgroupSum(squares, lid) / f32(cols);
  let inverseStd = inverseSqrt(variance + params.eps);

  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    out[base + c] = ((x[base + c] - shift) - shiftedMean) * inverseStd * gamma[c] + beta[c];
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
  let shift = x[base];
  var sum = 0.0;
  for (var start = 0u; start < cols; start += SUM_BLOCK) {
    var blockSum = 0.0;
    for (var c = start; c < min(start + SUM_BLOCK, cols); c++) {
      blockSum += x[base + c] - shift;
    }
    sum += blockSum;
  }
  let shiftedMean = sum / f32(cols);

  var squares = 0.0;
  for (var start = 0u; start < cols; start += SUM_BLOCK) {
    var blockSum = 0.0;
    for (var c = start; c < min(start + SUM_BLOCK, cols); c++) {
      let d = (x[base + c] - shift) - shiftedMean;
      blockSum += d * d;
    }
    squares += blockSum;
  }
  let inverseStd = inverseSqrt(squares / f32(cols) + params.eps);

  for (var c = 0u; c < cols; c++) {
    out[base + c] = ((x[base + c] - shift) - shiftedMean) * inverseStd * gamma[c] + beta[c];
  }
}

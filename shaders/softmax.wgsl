// Softmax over the last dimension: out[r, c] = exp(x[r, c] - max_r) / sum_c' exp(x[r, c'] - max_r)
//
// params: rows, cols (binding 0, declared in rows-common.wgsl; eps unused)
// x:      rows × cols floats, row-major (leading batch dims flattened into rows)
// out:    rows × cols floats
//
// Compiled after rows-common.wgsl, whose entry points call rowByWorkgroup (one workgroup per row,
// hardware GPUs) or rowByInvocation (one invocation per row, SwiftShader) with the row's first index;
// rowBySubgroup, for adapters with subgroups, is in softmax-subgroup.wgsl.
// A max pass, a sum pass, a write pass. Subtracting the row max keeps exp() from overflowing. A NaN
// anywhere in a row is added into its sum, so the whole row (and only that row) comes out NaN, as in torch.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn rowByWorkgroup(base: u32, cols: u32, lid: u32) {
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

fn rowByInvocation(base: u32, cols: u32) {
  var rowMax = x[base];
  for (var c = 1u; c < cols; c++) {
    rowMax = max(rowMax, x[base + c]);
  }
  var sum = 0.0;
  for (var start = 0u; start < cols; start += SUM_BLOCK) {
    var blockSum = 0.0;
    for (var c = start; c < min(start + SUM_BLOCK, cols); c++) {
      let v = x[base + c];
      // NaN is added explicitly, as in rowByWorkgroup.
      blockSum += exp(v - rowMax) + select(0.0, v, !(v == v));
    }
    sum += blockSum;
  }
  let inverseSum = 1.0 / sum;
  for (var c = 0u; c < cols; c++) {
    out[base + c] = exp(x[base + c] - rowMax) * inverseSum;
  }
}

// Layer normalization over the last dimension:
//   out[r, c] = (x[r, c] - mean_r) / sqrt(var_r + eps) * gamma[c] + beta[c]
//
// params: rows, cols, eps (binding 0, declared in rows-common.wgsl)
// x:      rows × cols floats, row-major (leading batch dims flattened into rows)
// gamma:  cols floats
// beta:   cols floats
// out:    rows × cols floats
//
// Compiled after rows-common.wgsl, whose entry points call rowByWorkgroup (one workgroup per row,
// hardware GPUs) or rowByInvocation (one invocation per row, SwiftShader) with the row's first index;
// rowBySubgroup, for adapters with subgroups, is in layernorm-subgroup.wgsl.
// The variance is summed around the mean in a second pass over the row (two-pass), which avoids the
// cancellation of E[x²] - E[x]² when the mean is large against the spread (ViT residual streams).

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn rowByWorkgroup(base: u32, cols: u32, lid: u32) {
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

fn rowByInvocation(base: u32, cols: u32) {
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

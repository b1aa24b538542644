// L2 normalization over the last dimension, as torch.nn.functional.normalize(x, dim=-1):
//   out[r, c] = x[r, c] / max(sqrt(sum_c' x[r, c']²), eps)
//
// params: rows, cols, eps (binding 0, declared in rows-common.wgsl)
// x:      rows × cols floats, row-major (leading batch dims flattened into rows)
// out:    rows × cols floats
//
// Compiled after rows-common.wgsl, whose entry points call rowByWorkgroup (one workgroup per row,
// hardware GPUs) or rowByInvocation (one invocation per row, SwiftShader) with the row's first index;
// rowBySubgroup, for adapters with subgroups, is in l2-normalize-subgroup.wgsl.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn rowByWorkgroup(base: u32, cols: u32, lid: u32) {
  var squares = 0.0;
  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    let v = x[base + c];
    squares += v * v;
  }
  // select, not max(): max(NaN, eps) may return eps, and a NaN row must stay NaN (torch's clamp_min keeps it).
  let length = sqrt(workgroupSum(squares, lid));
  let norm = select(length, params.eps, length < params.eps);

  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    out[base + c] = x[base + c] / norm;
  }
}

fn rowByInvocation(base: u32, cols: u32) {
  var squares = 0.0;
  for (var start = 0u; start < cols; start += SUM_BLOCK) {
    var blockSum = 0.0;
    for (var c = start; c < min(start + SUM_BLOCK, cols); c++) {
      let v = x[base + c];
      blockSum += v * v;
    }
    squares += blockSum;
  }
  let length = sqrt(squares);
  let norm = select(length, params.eps, length < params.eps);
  for (var c = 0u; c < cols; c++) {
    out[base + c] = x[base + c] / norm;
  }
}

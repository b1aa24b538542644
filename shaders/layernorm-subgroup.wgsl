// LayerNorm's row as one subgroup (see layernorm.wgsl for the bindings and the math, rows-subgroup.wgsl
// for the entry point). The same shifted two-pass variance as rowByWorkgroup; each lane sums its columns
// in blocks of SUM_BLOCK, as rowByInvocation does, so a lane's long run of columns rounds like a few
// hundred additions.

fn rowBySubgroup(base: u32, cols: u32, lane: u32, lanes: u32) {
  let shift = x[base];
  let stride = SUM_BLOCK * lanes;
  var sum = 0.0;
  for (var start = 0u; start < cols; start += stride) {
    var blockSum = 0.0;
    for (var c = start + lane; c < min(start + stride, cols); c += lanes) {
      blockSum += x[base + c] - shift;
    }
    sum += blockSum;
  }
  let shiftedMean = subgroupAdd(sum) / f32(cols);

  var squares = 0.0;
  for (var start = 0u; start < cols; start += stride) {
    var blockSum = 0.0;
    for (var c = start + lane; c < min(start + stride, cols); c += lanes) {
      let d = (x[base + c] - shift) - shiftedMean;
      blockSum += d * d;
    }
    squares += blockSum;
  }
  let inverseStd = inverseSqrt(subgroupAdd(squares) / f32(cols) + params.eps);

  for (var c = lane; c < cols; c += lanes) {
    out[base + c] = ((x[base + c] - shift) - shiftedMean) * inverseStd * gamma[c] + beta[c];
  }
}

// L2 normalization's row as one subgroup (see l2-normalize.wgsl for the bindings and the math,
// rows-subgroup.wgsl for the entry point). Each lane sums its squares in blocks of SUM_BLOCK.

fn rowBySubgroup(base: u32, cols: u32, lane: u32, lanes: u32) {
  let stride = SUM_BLOCK * lanes;
  var squares = 0.0;
  for (var start = 0u; start < cols; start += stride) {
    var blockSum = 0.0;
    for (var c = start + lane; c < min(start + stride, cols); c += lanes) {
      let v = x[base + c];
      blockSum += v * v;
    }
    squares += blockSum;
  }
  // select, not max(), keeps a NaN row NaN (see l2-normalize.wgsl).
  let length = sqrt(subgroupAdd(squares));
  let norm = select(length, params.eps, length < params.eps);

  for (var c = lane; c < cols; c += lanes) {
    out[base + c] = x[base + c] / norm;
  }
}

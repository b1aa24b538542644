// Softmax's row as one subgroup (see softmax.wgsl for the bindings, the math and the NaN handling,
// rows-subgroup.wgsl for the entry point). Each lane sums its columns in blocks of SUM_BLOCK, as
// rowByInvocation does: a 100,000-wide row is 12,500 columns a lane on lavapipe.

fn rowBySubgroup(base: u32, cols: u32, lane: u32, lanes: u32) {
  var largest = x[base];
  for (var c = lane; c < cols; c += lanes) {
    largest = max(largest, x[base + c]);
  }
  let rowMax = subgroupMax(largest);

  let stride = SUM_BLOCK * lanes;
  var sum = 0.0;
  for (var start = 0u; start < cols; start += stride) {
    var blockSum = 0.0;
    for (var c = start + lane; c < min(start + stride, cols); c += lanes) {
      let v = x[base + c];
      // NaN is added explicitly, as in rowByWorkgroup.
      blockSum += exp(v - rowMax) + select(0.0, v, !(v == v));
    }
    sum += blockSum;
  }
  let inverseSum = 1.0 / subgroupAdd(sum);

  for (var c = lane; c < cols; c += lanes) {
    out[base + c] = exp(x[base + c] - rowMax) * inverseSum;
  }
}

// What the block-quantized operand files (gemm-io-q8*.wgsl, gemm-io-q4*.wgsl) share: finding an element's
// row, and the f16 scale of its block of 32 along K. Compiled after one of them, which declares w,
// QUANT_K, INV_K, VALUE_WORDS and ROW_WORDS.

// The row of element index e, e / QUANT_K: estimated in f32 and corrected by one either way (exact while
// rows < 2^22). An integer division by a pipeline constant is still a division per lane on SwiftShader,
// which has no vector integer divide; this is five vector operations.
fn rowOf(e: u32) -> u32 {
  var row = u32(f32(e) * INV_K);
  row = select(row, row - 1u, row * QUANT_K > e);
  return select(row, row + 1u, (row + 1u) * QUANT_K <= e);
}

// Scales follow the VALUE_WORDS words of values: two f16 a word, block b in the low half when b is even.
fn blockScale(rowBase: u32, i: u32) -> f32 {
  let block = i >> 5u;
  return unpack2x16float(w[rowBase + VALUE_WORDS + (block >> 1u)])[block & 1u];
}

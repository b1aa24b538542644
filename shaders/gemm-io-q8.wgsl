// GEMM operand access: block-quantized int8 weights (q8), any K. Same functions as gemm-io-f32.wgsl (read
// that header); rowOf and blockScale are in gemm-io-blocks.wgsl. w is dequantized in registers, so x, the
// products and the accumulators stay f32 and no shader-f16 is needed.
//
// w holds N rows of ROW_WORDS u32 words each (src/runtime/tensor.ts quantizedRowWords):
//   words [0, VALUE_WORDS):         the row's K int8 values, four per word, element i in byte i % 4
//                                   (two's complement; the last word zero-padded)
//   words [VALUE_WORDS, ROW_WORDS): one f16 scale per block of 32 values along K (the last block may be
//                                   short), two per word, block b in the low half when b is even
// value(row, i) = int8 · scale(row, i / 32).
//
// x: [rows, K] f32   w: N · ROW_WORDS u32   bias: N u32 words   y: [rows, N] f32

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;

// K as a pipeline constant (it equals params.k): the row stride and 1/K are constants.
override QUANT_K: u32 = 1u;
override VALUE_WORDS: u32 = (QUANT_K + 3u) / 4u;
override ROW_WORDS: u32 = VALUE_WORDS + ((QUANT_K + 31u) / 32u + 1u) / 2u;
override INV_K: f32 = 1.0 / f32(QUANT_K);

fn loadX(e: u32) -> f32 { return x[e]; }
fn loadW(e: u32) -> f32 {
  let row = rowOf(e);
  let i = e - row * QUANT_K;
  let rowBase = row * ROW_WORDS;
  // Move byte i % 4 to the top, then an arithmetic shift brings it back sign-extended.
  let q = bitcast<i32>(w[rowBase + (i >> 2u)] << (24u - 8u * (i & 3u))) >> 24u;
  return f32(q) * blockScale(rowBase, i);
}
fn loadX4(e: u32) -> vec4f { return vec4f(x[e], x[e + 1u], x[e + 2u], x[e + 3u]); }
fn loadW4(e: u32) -> vec4f { return vec4f(loadW(e), loadW(e + 1u), loadW(e + 2u), loadW(e + 3u)); }

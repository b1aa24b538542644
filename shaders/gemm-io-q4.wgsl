// GEMM operand access: block-quantized int4 weights (q4), any K. Same functions as gemm-io-f32.wgsl (read
// that header); rowOf and blockScale are in gemm-io-blocks.wgsl. w is dequantized in registers, so x, the
// products and the accumulators stay f32 and no shader-f16 is needed.
//
// w holds N rows of ROW_WORDS u32 words each (src/runtime/tensor.ts quantizedRowWords):
//   words [0, VALUE_WORDS):         the row's K int4 values, eight per word, element i in bits
//                                   4·(i % 8) .. +3, stored offset by 8 (0..15 means -8..7; padding 8)
//   words [VALUE_WORDS, ROW_WORDS): one f16 scale per block of 32 values along K (the last block may be
//                                   short), two per word, block b in the low half when b is even
// value(row, i) = (nibble - 8) · scale(row, i / 32).
//
// x: [rows, K] f32   w: N · ROW_WORDS u32   bias: N u32 words   y: [rows, N] f32

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;

override QUANT_K: u32 = 1u;
override VALUE_WORDS: u32 = (QUANT_K + 7u) / 8u;
override ROW_WORDS: u32 = VALUE_WORDS + ((QUANT_K + 31u) / 32u + 1u) / 2u;
override INV_K: f32 = 1.0 / f32(QUANT_K);

fn loadX(e: u32) -> f32 { return x[e]; }
fn loadW(e: u32) -> f32 {
  let row = rowOf(e);
  let i = e - row * QUANT_K;
  let rowBase = row * ROW_WORDS;
  let nibble = (w[rowBase + (i >> 3u)] >> (4u * (i & 7u))) & 15u;
  return (f32(nibble) - 8.0) * blockScale(rowBase, i);
}
fn loadX4(e: u32) -> vec4f { return vec4f(x[e], x[e + 1u], x[e + 2u], x[e + 3u]); }
fn loadW4(e: u32) -> vec4f { return vec4f(loadW(e), loadW(e + 1u), loadW(e + 2u), loadW(e + 3u)); }

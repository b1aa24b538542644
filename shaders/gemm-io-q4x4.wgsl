// GEMM operand access: q4 weights (layout in gemm-io-q4.wgsl), K % 4 == 0, so x binds as vec4s and the
// four weights of a vec4 load are one half-word and share one scale (blocks of 32 start on multiples of
// 4). Same functions as gemm-io-f32.wgsl (read that header).
//
// x: [rows, K/4] vec4f   w: N · ROW_WORDS u32   bias: N u32 words   y: [rows, N] f32

@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<u32>;

override QUANT_K: u32 = 4u;
override VALUE_WORDS: u32 = (QUANT_K + 7u) / 8u;
override ROW_WORDS: u32 = VALUE_WORDS + ((QUANT_K + 31u) / 32u + 1u) / 2u;
override INV_K: f32 = 1.0 / f32(QUANT_K);

fn loadX(e: u32) -> f32 { return x[e >> 2u][e & 3u]; }
fn loadW(e: u32) -> f32 {
  let row = rowOf(e);
  let i = e - row * QUANT_K;
  let rowBase = row * ROW_WORDS;
  let nibble = (w[rowBase + (i >> 3u)] >> (4u * (i & 7u))) & 15u;
  return (f32(nibble) - 8.0) * blockScale(rowBase, i);
}
// e is a multiple of 4.
fn loadX4(e: u32) -> vec4f { return x[e >> 2u]; }
fn loadW4(e: u32) -> vec4f {
  let row = rowOf(e);
  let i = e - row * QUANT_K;
  let rowBase = row * ROW_WORDS;
  let half = w[rowBase + (i >> 3u)] >> (4u * (i & 4u));
  let nibbles = (vec4u(half) >> vec4u(0u, 4u, 8u, 12u)) & vec4u(15u);
  return (vec4f(nibbles) - 8.0) * blockScale(rowBase, i);
}

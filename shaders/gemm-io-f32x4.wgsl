// GEMM operand access: f32 weights, K % 4 == 0, so every row starts on a vec4 and x, w bind as vec4s.
// Same bindings and functions as gemm-io-f32.wgsl (read that header); one vec4 load replaces four.
//
// x: [rows, K/4] vec4f   w: [N, K/4] vec4f   bias: N u32 words   y: [rows, N] f32

@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;

fn loadX(e: u32) -> f32 { return x[e >> 2u][e & 3u]; }
fn loadW(e: u32) -> f32 { return w[e >> 2u][e & 3u]; }
// e is a multiple of 4.
fn loadX4(e: u32) -> vec4f { return x[e >> 2u]; }
fn loadW4(e: u32) -> vec4f { return w[e >> 2u]; }

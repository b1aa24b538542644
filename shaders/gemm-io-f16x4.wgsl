// GEMM operand access: packed f16 weights, K % 4 == 0, so four halves are one vec2u and x binds as vec4s.
// Same bindings and functions as gemm-io-f32.wgsl (read that header).
//
// x: [rows, K/4] vec4f   w: [N, K/4] vec2u (4 halves each)   bias: N u32 words   y: [rows, N] f32

@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec2u>;

fn loadX(e: u32) -> f32 { return x[e >> 2u][e & 3u]; }
fn loadW(e: u32) -> f32 { return unpack2x16float(w[e >> 2u][(e >> 1u) & 1u])[e & 1u]; }
// e is a multiple of 4.
fn loadX4(e: u32) -> vec4f { return x[e >> 2u]; }
fn loadW4(e: u32) -> vec4f {
  let pair = w[e >> 2u];
  return vec4f(unpack2x16float(pair.x), unpack2x16float(pair.y));
}

// GEMM operand access: packed f16 weights, any K. Same bindings and functions as gemm-io-f32.wgsl (read
// that header) except w, which holds two halves per u32 (element e in word e >> 1, low half when e is
// even) and is widened with unpack2x16float, so no shader-f16 is needed.
//
// x: [rows, K] f32   w: ceil(N·K / 2) u32 words   bias: N u32 words   y: [rows, N] f32

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;

fn loadX(e: u32) -> f32 { return x[e]; }
fn loadW(e: u32) -> f32 { return unpack2x16float(w[e >> 1u])[e & 1u]; }
fn loadX4(e: u32) -> vec4f { return vec4f(x[e], x[e + 1u], x[e + 2u], x[e + 3u]); }
fn loadW4(e: u32) -> vec4f { return vec4f(loadW(e), loadW(e + 1u), loadW(e + 2u), loadW(e + 3u)); }

// GEMM operand access: f32 weights, any K (scalar loads).
//
// Every gemm-*.wgsl kernel body is compiled as  io + epilogue + body  (see src/kernels/gemm.ts): the body
// only calls loadX/loadW/loadX4/loadW4 and store(), so one body serves f32 and packed-f16 weights, with
// or without K % 4 == 0, and one epilogue serves every body. An io file binds x (1) and w (2); params (0),
// bias (3) and y (4) are declared once, in gemm-epilogue.wgsl.
//
// params: rows = batch·M (batch dims are folded into rows: the weight is shared), k = K, n = N,
//         rowGroups = workgroups along y before the row index spills into z (65,535 limit),
//         firstRow = the row this dispatch starts at (a second dispatch may finish the last few rows
//         with a smaller block); rows past `rows` are never stored
// x:    rows·K floats, row-major [rows, K]
// w:    N·K floats, row-major [N, K] (nn.Linear layout, so both operands are contiguous along K)
// bias: N values as u32 words (f32 bits, or f16 pairs; see gemm-epilogue.wgsl), one dummy word if absent
// y:    rows·N floats, row-major [rows, N]

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;

// e: element index into x / w.
fn loadX(e: u32) -> f32 { return x[e]; }
fn loadW(e: u32) -> f32 { return w[e]; }
// Four consecutive elements starting at e; e need not be a multiple of 4 here.
fn loadX4(e: u32) -> vec4f { return vec4f(x[e], x[e + 1u], x[e + 2u], x[e + 3u]); }
fn loadW4(e: u32) -> vec4f { return vec4f(w[e], w[e + 1u], w[e + 2u], w[e + 3u]); }

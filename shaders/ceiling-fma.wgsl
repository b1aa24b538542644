// Compute ceiling probe: each invocation runs ACCUMULATORS independent chains of vec4 FMAs and writes
// their sum, nothing else. No loads in the loop, no dependence between chains: the fastest variant
// (over workgroup sizes and accumulator counts) is the practical fp32 roofline of the adapter, the
// ceiling compute-bound kernels (GEMM, attention, the location encoder) are judged against.
//
//   start_j  = vec4f(i mod 1024) + vec4f(j, j + 8, j + 16, j + 24)       (i = global invocation index)
//   a_j      = start_j, then 4 · iterations times: a_j = fma(a_j, multiplier, addend)
//   out[i]   = Σ_j a_j                                                     (j < ACCUMULATORS)
//
// out: [invocations] vec4f
// Flops: invocations · iterations · 4 · ACCUMULATORS · 4 lanes · 2.
//
// Dispatch: invocations / WORKGROUP_SIZE workgroups along x (the wrapper keeps them whole and ≤ 65,535).
//
// Scalar is f32, or f16 under shader-f16: the wrapper puts `alias Scalar = …;` (and `enable f16;`) in
// front, so one body measures both and a device's f16 rate is known before any kernel is given f16
// arithmetic. In f16 the sums stay exact only below 2048: the f16 rate is timed with addend 0.
//
// Two tricks:
// - multiplier and addend come from the uniform, so no compiler can fold the chains; with multiplier 1
//   and addend 1 every value is a small integer and the result is exact (start + 4 · iterations), which
//   the wrapper checks, so a chain that was dropped or shortened shows as a wrong answer, not a fast one.
// - The chains are named variables, never an array, and each step is written out: SwiftShader's Subzero
//   JIT neither unrolls loops nor keeps arrays in registers. ACCUMULATORS is an override constant, so the
//   `if`s on it are resolved when the pipeline is built and cost nothing in the loop.

struct Params {
  iterations: u32,
  multiplier: f32,
  addend: f32,
}

override WORKGROUP_SIZE: u32 = 256;
override ACCUMULATORS: u32 = 4;   // 1, 2, 4 or 8

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let base = vec4<Scalar>(Scalar(i & 1023u)) + vec4<Scalar>(0.0, 8.0, 16.0, 24.0);
  let m = vec4<Scalar>(Scalar(params.multiplier));
  let c = vec4<Scalar>(Scalar(params.addend));
  var a0 = base;
  var a1 = base + vec4<Scalar>(1.0);
  var a2 = base + vec4<Scalar>(2.0);
  var a3 = base + vec4<Scalar>(3.0);
  var a4 = base + vec4<Scalar>(4.0);
  var a5 = base + vec4<Scalar>(5.0);
  var a6 = base + vec4<Scalar>(6.0);
  var a7 = base + vec4<Scalar>(7.0);
  for (var step = 0u; step < params.iterations; step++) {
    a0 = fma(a0, m, c);
    if (ACCUMULATORS > 1u) { a1 = fma(a1, m, c); }
    if (ACCUMULATORS > 2u) { a2 = fma(a2, m, c); a3 = fma(a3, m, c); }
    if (ACCUMULATORS > 4u) { a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c); }
    a0 = fma(a0, m, c);
    if (ACCUMULATORS > 1u) { a1 = fma(a1, m, c); }
    if (ACCUMULATORS > 2u) { a2 = fma(a2, m, c); a3 = fma(a3, m, c); }
    if (ACCUMULATORS > 4u) { a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c); }
    a0 = fma(a0, m, c);
    if (ACCUMULATORS > 1u) { a1 = fma(a1, m, c); }
    if (ACCUMULATORS > 2u) { a2 = fma(a2, m, c); a3 = fma(a3, m, c); }
    if (ACCUMULATORS > 4u) { a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c); }
    a0 = fma(a0, m, c);
    if (ACCUMULATORS > 1u) { a1 = fma(a1, m, c); }
    if (ACCUMULATORS > 2u) { a2 = fma(a2, m, c); a3 = fma(a3, m, c); }
    if (ACCUMULATORS > 4u) { a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c); }
  }
  // Summed in f32, where the total of eight f16 chains is still exact.
  var sum = vec4f(a0);
  if (ACCUMULATORS > 1u) { sum += vec4f(a1); }
  if (ACCUMULATORS > 2u) { sum += vec4f(a2) + vec4f(a3); }
  if (ACCUMULATORS > 4u) { sum += vec4f(a4) + vec4f(a5) + vec4f(a6) + vec4f(a7); }
  out[i] = sum;
}

// GEMM epilogue: y[row, col] = act(acc + bias[col]) + residual[row, col], fused so the product never makes
// a second trip through memory, and the transformer's residual add is not a dispatch of its own (it read
// both operands and wrote the sum once more: 2.4 % of a ViT-B/32 layer on lavapipe, bench/model/layer-ops).
// Declares the bindings every variant shares (params, bias, y, residual; shapes in gemm-io-f32.wgsl); the
// gemm-io-*.wgsl file compiled with it binds x and w. residual is rows × n floats like y when RESIDUAL = 1,
// one ignored word otherwise.
//
// bias is bound as u32 words so one binding takes either dtype: BIAS = 1 reads f32 bits, BIAS = 2 reads
// packed f16 (element n in word n >> 1), BIAS = 0 ignores the dummy word bound in its place.

struct Params {
  rows: u32,
  k: u32,
  n: u32,
  rowGroups: u32,
  firstRow: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read> bias: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override ACTIVATION: u32 = 0u; // 0 none, 1 relu, 2 gelu (exact erf form, torch's default), 3 quick_gelu
override BIAS: u32 = 0u;
override RESIDUAL: u32 = 0u;

@group(0) @binding(5) var<storage, read> residual: array<f32>;

fn biasAt(col: u32) -> f32 {
  if (BIAS == 1u) {
    return bitcast<f32>(bias[col]);
  }
  if (BIAS == 2u) {
    return unpack2x16float(bias[col >> 1u])[col & 1u];
  }
  return 0.0;
}

// erfc(z) for z >= 0 with relative error < 1.2e-7 (Chebyshev fit, Numerical Recipes 6.2). WGSL has no
// erf; going through erfc keeps gelu's far negative tail accurate instead of 1 - 1.
fn erfcPositive(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
             t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + poly);
}

fn activate(v: f32) -> f32 {
  switch ACTIVATION {
    // select keeps NaN (NaN < 0 is false); max(v, 0) may return either operand for NaN.
    case 1u: { return select(v, 0.0, v < 0.0); }
    case 2u: {
      // gelu(v) = v/2 · erfc(-v/√2)
      let u = -v * 0.70710678118654752;
      let tail = erfcPositive(abs(u));
      return 0.5 * v * select(2.0 - tail, tail, u >= 0.0);
    }
    case 3u: { return v / (1.0 + exp(-1.702 * v)); }
    default: { return v; }
  }
}

fn store(row: u32, col: u32, acc: f32) {
  let at = row * params.n + col;
  var value = activate(acc + biasAt(col));
  if (RESIDUAL == 1u) {
    value += residual[at];
  }
  y[at] = value;
}

// Batched matrix product with either operand transposed, for the concept module's training step:
//
//   out[z] = alpha · op(A[z]) · op(B[z])  (+ bias[z] added to every row)  (+ out[z] when accumulating)
//
//   op(A) is M×K: A stored [M, K] row-major, or [K, M] when TRANS_A
//   op(B) is K×N: B stored [K, N] row-major, or [N, K] when TRANS_B (nn.Linear weights: x · Wᵀ)
//
// a:    floats, batch z starts at aOffset + z·aStride
// b:    floats, batch z starts at bOffset + z·bStride
// bias: floats, N per batch at biasOffset + z·biasStride (read only when flags & 1)
// out:  floats [M, N] per batch at cOffset + z·cStride (read back first when flags & 2)
//
// Offsets let one flat buffer hold every parameter (and one every gradient), so the optimizer is one
// dispatch. Each invocation owns a 4×4 block of out in registers; the gradient shapes here (batch × 512,
// 512 × 512, concepts × 512) are small enough that this beats tiling through workgroup memory on
// SwiftShader and is plenty on real GPUs.

struct Params {
  m: u32,
  n: u32,
  k: u32,
  batch: u32,
  alpha: f32,
  flags: u32,
  aOffset: u32,
  bOffset: u32,
  cOffset: u32,
  biasOffset: u32,
  aStride: u32,
  bStride: u32,
  cStride: u32,
  biasStride: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn loadA(base: u32, i: u32, kk: u32) -> f32 {
  if (TRANS_A) {
    return a[base + kk * params.m + i];
  }
  return a[base + i * params.k + kk];
}

fn loadB(base: u32, kk: u32, j: u32) -> f32 {
  if (TRANS_B) {
    return b[base + j * params.k + kk];
  }
  return b[base + kk * params.n + j];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let z = gid.z;
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (z >= params.batch || row0 >= params.m || col0 >= params.n) {
    return;
  }
  let aBase = params.aOffset + z * params.aStride;
  let bBase = params.bOffset + z * params.bStride;
  // Rows and columns past the edge repeat the last one; their results are never stored.
  var rows: array<u32, 4>;
  var cols: array<u32, 4>;
  for (var q = 0u; q < 4u; q++) {
    rows[q] = min(row0 + q, params.m - 1u);
    cols[q] = min(col0 + q, params.n - 1u);
  }
  var acc: array<vec4f, 4>;
  for (var kk = 0u; kk < params.k; kk++) {
    let bv = vec4f(loadB(bBase, kk, cols[0]), loadB(bBase, kk, cols[1]), loadB(bBase, kk, cols[2]), loadB(bBase, kk, cols[3]));
    acc[0] += loadA(aBase, rows[0], kk) * bv;
    acc[1] += loadA(aBase, rows[1], kk) * bv;
    acc[2] += loadA(aBase, rows[2], kk) * bv;
    acc[3] += loadA(aBase, rows[3], kk) * bv;
  }
  let cBase = params.cOffset + z * params.cStride;
  let biasBase = params.biasOffset + z * params.biasStride;
  for (var q = 0u; q < 4u; q++) {
    let i = row0 + q;
    if (i >= params.m) {
      break;
    }
    for (var p = 0u; p < 4u; p++) {
      let j = col0 + p;
      if (j >= params.n) {
        break;
      }
      var value = params.alpha * acc[q][p];
      if ((params.flags & 1u) != 0u) {
        value += bias[biasBase + j];
      }
      let index = cBase + i * params.n + j;
      if ((params.flags & 2u) != 0u) {
        value += out[index];
      }
      out[index] = value;
    }
  }
}

// ---- main_vec4: the same product when M, N, K, every offset and every stride are multiples of 4 -----
// Each k-step loads a 4×4 block of op(A) and of op(B) as four vec4s each and multiplies them as mat4x4s,
// whichever way each operand is stored: 64 multiply-adds per 8 loads, against 16 per 8 above.

@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out4: array<vec4f>;

@compute @workgroup_size(8, 8)
fn main_vec4(@builtin(global_invocation_id) gid: vec3u) {
  let z = gid.z;
  let i = gid.y * 4u;
  let j = gid.x * 4u;
  if (z >= params.batch || i >= params.m || j >= params.n) {
    return;
  }
  let m = params.m;
  let n = params.n;
  let k = params.k;
  let aBase = params.aOffset + z * params.aStride;
  let bBase = params.bOffset + z * params.bStride;
  // acc column q is output row i + q (over columns j..j+3).
  var acc = mat4x4f();
  for (var kk = 0u; kk < k; kk += 4u) {
    // am column q = row i + q of op(A) over k = kk..kk+3.
    var am: mat4x4f;
    if (TRANS_A) {
      am = transpose(mat4x4f(
        a4[(aBase + kk * m + i) / 4u], a4[(aBase + (kk + 1u) * m + i) / 4u],
        a4[(aBase + (kk + 2u) * m + i) / 4u], a4[(aBase + (kk + 3u) * m + i) / 4u]));
    } else {
      am = mat4x4f(
        a4[(aBase + i * k + kk) / 4u], a4[(aBase + (i + 1u) * k + kk) / 4u],
        a4[(aBase + (i + 2u) * k + kk) / 4u], a4[(aBase + (i + 3u) * k + kk) / 4u]);
    }
    // bm column t = row kk + t of op(B) over columns j..j+3.
    var bm: mat4x4f;
    if (TRANS_B) {
      bm = transpose(mat4x4f(
        b4[(bBase + j * k + kk) / 4u], b4[(bBase + (j + 1u) * k + kk) / 4u],
        b4[(bBase + (j + 2u) * k + kk) / 4u], b4[(bBase + (j + 3u) * k + kk) / 4u]));
    } else {
      bm = mat4x4f(
        b4[(bBase + kk * n + j) / 4u], b4[(bBase + (kk + 1u) * n + j) / 4u],
        b4[(bBase + (kk + 2u) * n + j) / 4u], b4[(bBase + (kk + 3u) * n + j) / 4u]);
    }
    acc += bm * am;
  }
  let cBase = params.cOffset + z * params.cStride;
  var offset = vec4f(0.0);
  if ((params.flags & 1u) != 0u) {
    offset = bias4[(params.biasOffset + z * params.biasStride + j) / 4u];
  }
  for (var q = 0u; q < 4u; q++) {
    let index = (cBase + (i + q) * n + j) / 4u;
    var value = params.alpha * acc[q] + offset;
    if ((params.flags & 2u) != 0u) {
      value += out4[index];
    }
    out4[index] = value;
  }
}

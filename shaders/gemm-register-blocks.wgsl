// 4×4 block helpers for the register-blocked GEMM kernels (gemm-register*.wgsl), compiled after a
// gemm-io-*.wgsl file and gemm-epilogue.wgsl.
//
// A 4×4 block of y lives in one mat4x4f, c[j][i] = y[row i, col j] of the block (column j of the matrix
// is output column j). Blocks are named variables, never arrays: SwiftShader's Subzero JIT neither
// unrolls loops nor promotes arrays to registers, and an array-of-accumulators version of the 16×16
// kernel measured about 1.3× slower. On SwiftShader a mat4x4f is 16 SIMD registers (one per component,
// lanes are invocations), so transposing a block is free renaming, and transpose(x block) · (w block) is
// 64 multiply-adds.

// Element offsets of the first element of 4 consecutive rows starting at `first`, clamped to the last
// row: edge invocations compute duplicate rows and the store skips them, so no load needs a branch.
fn rowStarts(first: u32, count: u32) -> vec4u {
  let last = count - 1u;
  return vec4u(min(first, last), min(first + 1u, last), min(first + 2u, last), min(first + 3u, last)) * params.k;
}

// Columns are x values along k: xs[i] = x[row i, e..e+3].
fn xBlock(starts: vec4u, e: u32) -> mat4x4f {
  return mat4x4f(loadX4(starts.x + e), loadX4(starts.y + e), loadX4(starts.z + e), loadX4(starts.w + e));
}

fn wBlock(starts: vec4u, e: u32) -> mat4x4f {
  return mat4x4f(loadW4(starts.x + e), loadW4(starts.y + e), loadW4(starts.z + e), loadW4(starts.w + e));
}

// One k (the K % 4 leftovers) as an outer product: values over 4 rows times values over 4 columns.
fn xColumn(starts: vec4u, e: u32) -> vec4f {
  return vec4f(loadX(starts.x + e), loadX(starts.y + e), loadX(starts.z + e), loadX(starts.w + e));
}

fn wColumn(starts: vec4u, e: u32) -> vec4f {
  return vec4f(loadW(starts.x + e), loadW(starts.y + e), loadW(starts.z + e), loadW(starts.w + e));
}

fn outer(xs: vec4f, ws: vec4f) -> mat4x4f {
  return mat4x4f(xs * ws.x, xs * ws.y, xs * ws.z, xs * ws.w);
}

fn storeBlock(row0: u32, col0: u32, c: mat4x4f) {
  for (var j = 0u; j < 4u; j++) {
    if (col0 + j < params.n) {
      for (var i = 0u; i < 4u; i++) {
        if (row0 + i < params.rows) {
          store(row0 + i, col0 + j, c[j][i]);
        }
      }
    }
  }
}

// L2 normalization over the last dimension, as torch.nn.functional.normalize(x, dim=-1):
//   out[r, c] = x[r, c] / max(sqrt(sum_c' x[r, c']²), eps)
//
// x:   rows × cols floats, row-major (leading batch dims flattened into rows)
// out: rows × cols floats
//
// Two entry points (src/kernels/rows.ts picks one per adapter): `main` gives each row a workgroup whose
// invocations stride over the columns and add partial sums in workgroup memory (hardware GPUs);
// `rowPerInvocation` gives each row one invocation that loops, with no barriers (SwiftShader).

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

// A power of two: the tree reduction halves it.
override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WORKGROUP_SIZE>;

fn workgroupSum(value: f32, lid: u32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let cols = params.cols;
  let base = row * cols;

  var squares = 0.0;
  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    let v = x[base + c];
    squares += v * v;
  }
  // select, not max(): max(NaN, eps) may return eps, and a NaN row must stay NaN (torch's clamp_min keeps it).
  let length = sqrt(workgroupSum(squares, lid));
  let norm = select(length, params.eps, length < params.eps);

  for (var c = lid; c < cols; c += WORKGROUP_SIZE) {
    out[base + c] = x[base + c] / norm;
  }
}

// rowPerInvocation sums in blocks of SUM_BLOCK and then adds the blocks: a 100,000-wide row then rounds
// like ~700 additions instead of 100,000 (1e-5 relative error vs 2.7e-5 summed straight).
const SUM_BLOCK: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn rowPerInvocation(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (row >= params.rows) {
    return;
  }
  let cols = params.cols;
  let base = row * cols;
  var squares = 0.0;
  for (var start = 0u; start < cols; start += SUM_BLOCK) {
    var blockSum = 0.0;
    for (var c = start; c < min(start + SUM_BLOCK, cols); c++) {
      let v = x[base + c];
      blockSum += v * v;
    }
    squares += blockSum;
  }
  let length = sqrt(squares);
  let norm = select(length, params.eps, length < params.eps);
  for (var c = 0u; c < cols; c++) {
    out[base + c] = x[base + c] / norm;
  }
}

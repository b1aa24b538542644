// Residual add: out[i] = a[i] + b[i].
//
// a:   n floats (any shape)
// b:   n floats (same shape as a)
// out: n floats
//
// The dispatch may be folded into 2-D when n / WORKGROUP_SIZE exceeds 65,535 workgroups; the linear
// index is rebuilt from the workgroup id so any n up to the binding limit works.

struct Params {
  n: u32,
}

override WORKGROUP_SIZE: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i < params.n) {
    out[i] = a[i] + b[i];
  }
}

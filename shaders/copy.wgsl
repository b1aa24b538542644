// Bandwidth probe: out[i] = a[i] for n vec4s (16 bytes each), nothing else. What it reaches is the
// practical memory roofline of the adapter, the ceiling a memory-bound kernel (gallery search) is
// judged against: one read and one write per element, vectorized, no reuse to exploit.
//
// a:   n vec4f
// out: n vec4f
//
// Dispatch: linear, folded into 2-D past 65,535 workgroups (index = wid.x + wid.y · nwg.x).

struct Params {
  n: u32,
}

override WORKGROUP_SIZE: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i < params.n) {
    out[i] = a[i];
  }
}

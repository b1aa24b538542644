// Bandwidth ceiling probe: out[e] = a[e] for n vec4s, each invocation moving VECTORS of them. Like
// copy.wgsl, but with more work per invocation: software adapters spend more on starting an invocation
// than on moving 16 bytes, so the best of a few VECTORS counts is what a shader can stream, the ceiling
// memory-bound kernels (gallery search, copies) are judged against.
//
// a:   n vec4f
// out: n vec4f
//
// Each workgroup moves one block of WORKGROUP_SIZE · VECTORS vec4s; invocation t of it takes elements
// block + t, block + t + WORKGROUP_SIZE, ... (neighbouring invocations touch neighbouring addresses, what
// a GPU coalesces; a CPU lane sees unit stride across the SIMD width). n is a whole number of blocks.
//
// Dispatch: n / (WORKGROUP_SIZE · VECTORS) workgroups, folded into 2-D past 65,535
// (block index = wid.x + wid.y · nwg.x).

override WORKGROUP_SIZE: u32 = 256;
override VECTORS: u32 = 4;

@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE * VECTORS + lid;
  for (var k = 0u; k < VECTORS; k++) {
    let e = first + k * WORKGROUP_SIZE;
    out[e] = a[e];
  }
}

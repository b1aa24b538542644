// im2col for a non-overlapping patch convolution (Conv2d with stride = kernel = P):
//   cols[b·patches + py·gridW + px, c·P·P + ky·P + kx] = pixels[b, c, py·P + ky, px·P + kx]
//
// pixels: batch × channels × height × width floats (NCHW, row-major)
// cols:   (batch · gridH · gridW) × (channels · P · P) floats, row-major; a row is one patch, its columns in
//         the Conv2d weight's (c, ky, kx) order, so the convolution becomes cols · weight[D, C·P·P]ᵀ
//
// One invocation per output element; consecutive invocations write consecutive columns, and within one
// kernel row (ky) they also read consecutive pixels. Past 65,535 workgroups the dispatch folds into 2-D.

struct Params {
  // cols elements: invocations past it do nothing
  total: u32,
  channels: u32,
  height: u32,
  width: u32,
  patchSize: u32,
  gridW: u32,
  // gridH · gridW
  patches: u32,
}

override WORKGROUP_SIZE: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pixels: array<f32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (e >= params.total) {
    return;
  }
  let p = params.patchSize;
  let area = p * p;
  let columns = params.channels * area;
  let row = e / columns;
  let k = e % columns;
  let c = k / area;
  let ky = (k % area) / p;
  let kx = k % p;
  let b = row / params.patches;
  let patchIndex = row % params.patches;
  let y = (patchIndex / params.gridW) * p + ky;
  let x = (patchIndex % params.gridW) * p + kx;
  cols[e] = pixels[((b * params.channels + c) * params.height + y) * params.width + x];
}

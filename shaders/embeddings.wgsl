// ViT input embeddings: prepend the class token and add position embeddings.
//   out[b, 0, d]     = classEmbedding[d] + positions[0, d]
//   out[b, t + 1, d] = patches[b, t, d]  + positions[t + 1, d]
//
// patches:        batch × tokens × D floats (tokens = patches per image)
// classEmbedding: D floats
// positions:      (tokens + 1) × D floats
// out:            batch × (tokens + 1) × D floats
//
// One invocation per output element. Past 65,535 workgroups the dispatch folds into 2-D.

struct Params {
  // out elements: invocations past it do nothing
  total: u32,
  tokens: u32,
  width: u32,
}

override WORKGROUP_SIZE: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> patches: array<f32>;
@group(0) @binding(2) var<storage, read> classEmbedding: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (e >= params.total) {
    return;
  }
  let d = e % params.width;
  let position = (e / params.width) % (params.tokens + 1u);
  let b = e / (params.width * (params.tokens + 1u));
  var value: f32;
  if (position == 0u) {
    value = classEmbedding[d];
  } else {
    value = patches[(b * params.tokens + position - 1u) * params.width + d];
  }
  out[e] = value + positions[position * params.width + d];
}

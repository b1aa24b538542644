// Row gather, optionally plus a position row: the text tower's token + position embedding, and the
// pooling of one row per sequence (the end token's).
//
//   out[r, c] = table[ids[r], c] + (ADD_POSITIONS ? positions[r % seq, c] : 0)
//
// ids:       rows i32, each in [0, vocab)
// table:     vocab × dim, f32, or f16 packed two per u32 word when TABLE_F16 (element i in word i >> 1,
//            low half when i is even; dim is even so a row never starts mid-word)
// positions: seq × dim f32 (ADD_POSITIONS), else a dummy binding
// out:       rows × dim f32
//
// One invocation per output element; the dispatch is folded into 2-D past 65,535 workgroups. An id
// outside [0, vocab) writes NaN instead of reading another row: the wrapper cannot see ids that already
// live on the GPU, and a NaN is loud where a wrong row would be silent.

struct Params {
  rows: u32,
  dim: u32,
  vocab: u32,
  seq: u32,
}

override WORKGROUP_SIZE: u32 = 256;
override TABLE_F16: bool = false;
override ADD_POSITIONS: bool = true;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read> positions: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn tableValue(index: u32) -> f32 {
  if (TABLE_F16) {
    let pair = unpack2x16float(table[index >> 1u]);
    return select(pair.x, pair.y, (index & 1u) == 1u);
  }
  return bitcast<f32>(table[index]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.rows * params.dim) {
    return;
  }
  let row = i / params.dim;
  let col = i % params.dim;
  let id = ids[row];
  if (id < 0 || u32(id) >= params.vocab) {
    // A var, not a constant: a NaN constant expression is a shader-creation error.
    var nanBits = 0x7fc00000u;
    out[i] = bitcast<f32>(nanBits);
    return;
  }
  var value = tableValue(u32(id) * params.dim + col);
  if (ADD_POSITIONS) {
    value += positions[(row % params.seq) * params.dim + col];
  }
  out[i] = value;
}

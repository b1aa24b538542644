// Gallery search, pass 2 of 2: merges groups of FAN_IN partial results into one, per query. The wrapper
// repeats it (P → ⌈P / FAN_IN⌉ → … → 1) until each query has a single list: its final top-k and the
// (max, Σ exp(x - max)) pair whose log-sum-exp normalizes the probabilities.
//
// inValues:   [P, Q, k] f32, sorted lists (higher logit first, equal logits by lower row)
// inRows:     [P, Q, k] u32, global gallery rows of those logits (NO_ROW pads a short list)
// inStats:    [P, Q] vec4f (max, Σ exp(x - max), non-finite flag, 0)
// outValues:  [⌈P / FAN_IN⌉, Q, k] f32
// outRows:    [⌈P / FAN_IN⌉, Q, k] u32
// outStats:   [⌈P / FAN_IN⌉, Q] vec4f
//
// Dispatch: ⌈⌈P / FAN_IN⌉ · Q / WORKGROUP_SIZE⌉ workgroups (folded into 2-D past 65,535).
//
// One invocation per (output list, query) does a FAN_IN-way merge of sorted lists: k steps, each taking the
// best of the FAN_IN list heads. The work is tiny next to pass 1, so simplicity wins over parallelism.

struct Params {
  lists: u32,
  queries: u32,
  k: u32,
  outLists: u32,
}

override WORKGROUP_SIZE: u32 = 64;
override FAN_IN: u32 = 16;  // ≤ MAX_FAN_IN

const MAX_FAN_IN = 32u;
const LOWEST = -0x1.fffffep+127f;  // lowest finite f32
const NO_ROW = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inValues: array<f32>;
@group(0) @binding(2) var<storage, read> inRows: array<u32>;
@group(0) @binding(3) var<storage, read> inStats: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> outValues: array<f32>;
@group(0) @binding(5) var<storage, read_write> outRows: array<u32>;
@group(0) @binding(6) var<storage, read_write> outStats: array<vec4f>;

fn better(value: f32, row: u32, otherValue: f32, otherRow: u32) -> bool {
  return value > otherValue || (value == otherValue && row < otherRow);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The dispatch may be folded into 2-D (more than 65,535 workgroups); rebuild the linear index.
  let id = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (id >= params.outLists * params.queries) { return; }
  let out = id / params.queries;
  let q = id % params.queries;
  let k = params.k;
  let first = out * FAN_IN;
  let count = min(FAN_IN, params.lists - first);

  var heads: array<u32, MAX_FAN_IN>;
  for (var slot = 0u; slot < k; slot++) {
    var bestValue = LOWEST;
    var bestRow = NO_ROW;
    var bestList = MAX_FAN_IN;
    for (var i = 0u; i < count; i++) {
      let head = heads[i];
      if (head >= k) { continue; }
      let at = ((first + i) * params.queries + q) * k + head;
      let value = inValues[at];
      let row = inRows[at];
      if (bestList == MAX_FAN_IN || better(value, row, bestValue, bestRow)) {
        bestValue = value;
        bestRow = row;
        bestList = i;
      }
    }
    let at = (out * params.queries + q) * k + slot;
    outValues[at] = bestValue;
    outRows[at] = bestRow;
    if (bestList < MAX_FAN_IN) { heads[bestList]++; }
  }

  var m = LOWEST;
  var flag = 0.0;
  for (var i = 0u; i < count; i++) {
    let stats = inStats[(first + i) * params.queries + q];
    m = max(m, stats.x);
    flag = max(flag, stats.z);
  }
  var s = 0.0;
  for (var i = 0u; i < count; i++) {
    let stats = inStats[(first + i) * params.queries + q];
    if (stats.y > 0.0) { s += stats.y * exp(stats.x - m); }
  }
  outStats[out * params.queries + q] = vec4f(m, s, flag, 0.0);
}

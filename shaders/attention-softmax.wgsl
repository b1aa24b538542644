// The online softmax step both attention kernels share (attention.wgsl, attention-subgroup64.wgsl), for one
// block of 4 queries × 4 keys. Compiled before the kernel, which declares CAUSAL.
//
// scores: column r holds query r's scores of the 4 keys (scale·log2(e) already folded in), so every
// exponential is an exp2. Keys at or past keyEnd, and with CAUSAL keys after the query, are masked.
// The running max moves once per block; the caller rescales its accumulators by `correction` and adds
// the values weighted by `weights` (column r: query r's 4 weights).

// The running max starts here rather than at -inf (WGSL has no infinity literal) and masked scores take
// this value: exp2(LOWEST - anything finite) is 0.
const LOWEST: f32 = -3.0e38;

struct SoftmaxStep {
  weights: mat4x4f,
  correction: vec4f,
}

fn horizontalMax(v: vec4f) -> f32 {
  return max(max(v.x, v.y), max(v.z, v.w));
}

fn softmaxStep(scores: mat4x4f, keys: vec4u, keyEnd: u32, queries: vec4u, seq: u32,
    runningMax: ptr<function, vec4f>, runningSum: ptr<function, vec4f>) -> SoftmaxStep {
  var step: SoftmaxStep;
  for (var r = 0u; r < 4u; r++) {
    let visible = (keys < vec4u(keyEnd)) & (keys <= vec4u(select(seq, queries[r], CAUSAL)));
    let s = select(vec4f(LOWEST), scores[r], visible);
    let newMax = max((*runningMax)[r], horizontalMax(s));
    // exp2 and max may drop NaN (SwiftShader's do), and `s != s` may compile as an ordered compare;
    // !(s == s) finds NaN scores so they poison the row as in torch.
    let p = select(exp2(s - newMax), s, !(s == s));
    step.correction[r] = exp2((*runningMax)[r] - newMax);
    (*runningSum)[r] = (*runningSum)[r] * step.correction[r] + (p.x + p.y + p.z + p.w);
    (*runningMax)[r] = newMax;
    step.weights[r] = p;
  }
  return step;
}

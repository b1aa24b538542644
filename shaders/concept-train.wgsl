// The elementwise and row-wise pieces of one concept-module training step (the products are in
// concept-matmul.wgsl). Notation, for a batch of B (image, location) pairs and K concepts:
//
//   X, Y  [B, D]   image / location embeddings          U = X·W_imgᵀ + b_img,  V = Y·W_locᵀ + b_loc
//   A, Bℓ [B, K]   logits U·C_effᵀ/τ, V·C_effᵀ/τ         S = softmax(A), T = softmax(Bℓ) (rows)
//   R, Q  [B, K]   √S, √T                                BC = R·Qᵀ [B, B] (Bhattacharyya coefficients)
//   loss = ½·mean_i CE(BC_i·/τc, i) + ½·mean_j CE(BC_·j/τc, j) + μ·mean_i Σ_k (S_ik − T_ik)(A_ik − Bℓ_ik)
//
// The last term is the symmetric KL divergence between S_i and T_i written in logits (the log-sum-exp
// terms cancel because both distributions sum to one). Every reduction runs in a fixed order, so a
// step is bit-for-bit repeatable. Pairs of same-shaped tensors share one buffer ("AB" = [A; Bℓ]).
//
// Entry points:
//   gather_pairs:   XY [2, B, D] = pairs[z, order[offset + r]]        pairs [2, N, D], order [N] u32
//   softmax_sqrt:   ST = softmax(AB), RQ = √ST, by rows               AB, ST, RQ [2·B, K]
//   pair_loss:      G = ∂loss/∂BC [B, B], gdots [2, B] = (Σ_j G_ij BC_ij, Σ_i G_ij BC_ij),
//                   losses[3·step + (0, 1, 2)] = (total, contrastive, divergence)   (one workgroup)
//   concept_grad:   dAB [2, B, K] = ∂loss/∂[A; Bℓ] from ST, AB, RQ, GQR = [G·Q; Gᵀ·R], gdots
//   column_sum:     sums[outOffset + (z − offset)·D + c] = Σ_r dUV[z, r, c] for `count` sides from z = offset
//   add_delta:      ceff [K·D] = concepts + values[deltaOffset ..]
//   adam / sgd:     values[i] -= update(grads[i]) for i in [offset, offset + count) of the flat parameters

struct Params {
  batch: u32,
  dim: u32,
  concepts: u32,
  count: u32,
  offset: u32,
  step: u32,
  invTauC: f32,
  mu: f32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  stepSize: f32,
  invSqrtBias2: f32,
  weightDecay: f32,
  outOffset: u32,
}

override WORKGROUP_SIZE: u32 = 64;
override MAX_BATCH: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;

// ---- gather_pairs -------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> pairs: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> gathered: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn gather_pairs(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  let d = params.dim;
  let perSide = params.batch * d;
  if (i >= 2u * perSide) {
    return;
  }
  let z = i / perSide;
  let r = (i % perSide) / d;
  let c = i % d;
  let source = order[params.offset + r];
  gathered[i] = pairs[(z * params.count + source) * d + c];
}

// ---- softmax_sqrt -------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> logitsIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> probsOut: array<f32>;
@group(0) @binding(3) var<storage, read_write> rootsOut: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_sqrt(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (row >= params.count) {
    return;
  }
  let k = params.concepts;
  let base = row * k;
  var rowMax = -3.0e38;
  for (var c = 0u; c < k; c++) {
    rowMax = max(rowMax, logitsIn[base + c]);
  }
  var sum = 0.0;
  for (var c = 0u; c < k; c++) {
    sum += exp(logitsIn[base + c] - rowMax);
  }
  let inverseSum = 1.0 / sum;
  for (var c = 0u; c < k; c++) {
    let p = exp(logitsIn[base + c] - rowMax) * inverseSum;
    probsOut[base + c] = p;
    rootsOut[base + c] = sqrt(p);
  }
}

// ---- pair_loss ----------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> bc: array<f32>;
@group(0) @binding(2) var<storage, read> logitsAB: array<f32>;
@group(0) @binding(3) var<storage, read> probsST: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradBC: array<f32>;
@group(0) @binding(5) var<storage, read_write> gdots: array<f32>;
@group(0) @binding(6) var<storage, read_write> losses: array<f32>;

var<workgroup> rowLse: array<f32, MAX_BATCH>;
var<workgroup> colLse: array<f32, MAX_BATCH>;
var<workgroup> terms: array<f32, MAX_BATCH>;
var<workgroup> divergence: array<f32, MAX_BATCH>;

fn contrastiveGrad(i: u32, j: u32) -> f32 {
  let n = params.batch;
  let logit = bc[i * n + j] * params.invTauC;
  let diagonal = select(0.0, 1.0, i == j);
  let fromRow = exp(logit - rowLse[i]) - diagonal;
  let fromCol = exp(logit - colLse[j]) - diagonal;
  return (fromRow + fromCol) * params.invTauC / (2.0 * f32(n));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn pair_loss(@builtin(local_invocation_index) lid: u32) {
  let n = params.batch;
  let k = params.concepts;
  for (var i = lid; i < n; i += WORKGROUP_SIZE) {
    var rowMax = -3.0e38;
    var colMax = -3.0e38;
    for (var j = 0u; j < n; j++) {
      rowMax = max(rowMax, bc[i * n + j] * params.invTauC);
      colMax = max(colMax, bc[j * n + i] * params.invTauC);
    }
    var rowSum = 0.0;
    var colSum = 0.0;
    for (var j = 0u; j < n; j++) {
      rowSum += exp(bc[i * n + j] * params.invTauC - rowMax);
      colSum += exp(bc[j * n + i] * params.invTauC - colMax);
    }
    rowLse[i] = rowMax + log(rowSum);
    colLse[i] = colMax + log(colSum);
    terms[i] = rowLse[i] + colLse[i] - 2.0 * bc[i * n + i] * params.invTauC;
    var div = 0.0;
    for (var c = 0u; c < k; c++) {
      let a = i * k + c;
      let b = (n + i) * k + c;
      div += (probsST[a] - probsST[b]) * (logitsAB[a] - logitsAB[b]);
    }
    divergence[i] = div;
  }
  workgroupBarrier();
  for (var i = lid; i < n; i += WORKGROUP_SIZE) {
    var rowDot = 0.0;
    var colDot = 0.0;
    for (var j = 0u; j < n; j++) {
      let g = contrastiveGrad(i, j);
      gradBC[i * n + j] = g;
      rowDot += g * bc[i * n + j];
      colDot += contrastiveGrad(j, i) * bc[j * n + i];
    }
    gdots[i] = rowDot;
    gdots[n + i] = colDot;
  }
  if (lid == 0u) {
    var contrastive = 0.0;
    var div = 0.0;
    for (var i = 0u; i < n; i++) {
      contrastive += terms[i];
      div += divergence[i];
    }
    contrastive /= 2.0 * f32(n);
    div /= f32(n);
    losses[3u * params.step] = contrastive + params.mu * div;
    losses[3u * params.step + 1u] = contrastive;
    losses[3u * params.step + 2u] = div;
  }
}

// ---- concept_grad -------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> gradST: array<f32>;
@group(0) @binding(2) var<storage, read> gradAB: array<f32>;
@group(0) @binding(3) var<storage, read> gradRQ: array<f32>;
@group(0) @binding(4) var<storage, read> gqr: array<f32>;
@group(0) @binding(5) var<storage, read> dots: array<f32>;
@group(0) @binding(6) var<storage, read_write> dAB: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn concept_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  let n = params.batch;
  if (i >= n) {
    return;
  }
  let k = params.concepts;
  let a0 = i * k;
  let b0 = (n + i) * k;
  var sd = 0.0;
  var td = 0.0;
  for (var c = 0u; c < k; c++) {
    let d = gradAB[a0 + c] - gradAB[b0 + c];
    sd += gradST[a0 + c] * d;
    td += gradST[b0 + c] * d;
  }
  let weight = params.mu / f32(n);
  let rowDot = dots[i];
  let colDot = dots[n + i];
  for (var c = 0u; c < k; c++) {
    let s = gradST[a0 + c];
    let t = gradST[b0 + c];
    let d = gradAB[a0 + c] - gradAB[b0 + c];
    dAB[a0 + c] = 0.5 * (gradRQ[a0 + c] * gqr[a0 + c] - s * rowDot) + weight * ((s - t) + s * (d - sd));
    dAB[b0 + c] = 0.5 * (gradRQ[b0 + c] * gqr[b0 + c] - t * colDot) + weight * ((t - s) - t * (d - td));
  }
}

// ---- column_sum ---------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> rowsIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn column_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  let d = params.dim;
  let n = params.batch;
  if (i >= params.count * d) {
    return;
  }
  let z = params.offset + i / d;
  let c = i % d;
  var acc = 0.0;
  for (var r = 0u; r < n; r++) {
    acc += rowsIn[(z * n + r) * d + c];
  }
  sums[params.outOffset + i] = acc;
}

// ---- add_delta ----------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> baseConcepts: array<f32>;
@group(0) @binding(2) var<storage, read> deltaValues: array<f32>;
@group(0) @binding(3) var<storage, read_write> effective: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn add_delta(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.count) {
    return;
  }
  effective[i] = baseConcepts[i] + deltaValues[params.offset + i];
}

// ---- adam / sgd ---------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment2: array<f32>;

// torch.optim.Adam's arithmetic, term for term: m̂/(√v̂ + eps) computed as m·stepSize/(√v/√bc2 + eps).
@compute @workgroup_size(WORKGROUP_SIZE)
fn adam(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let local = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (local >= params.count) {
    return;
  }
  let i = params.offset + local;
  let g = grads[i] + params.weightDecay * values[i];
  let m = params.beta1 * moment1[i] + (1.0 - params.beta1) * g;
  let v = params.beta2 * moment2[i] + (1.0 - params.beta2) * g * g;
  moment1[i] = m;
  moment2[i] = v;
  values[i] -= params.stepSize * m / (sqrt(v) * params.invSqrtBias2 + params.eps);
}

// Plain SGD with optional momentum (torch.optim.SGD, dampening 0): buf = β·buf + g; p -= lr·buf.
@compute @workgroup_size(WORKGROUP_SIZE)
fn sgd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let local = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (local >= params.count) {
    return;
  }
  let i = params.offset + local;
  let g = grads[i] + params.weightDecay * values[i];
  var update = g;
  if (params.step > 0u) {
    update = params.beta1 * moment1[i] + g;
  }
  moment1[i] = update;
  values[i] -= params.lr * update;
}

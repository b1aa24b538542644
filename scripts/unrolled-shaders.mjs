#!/usr/bin/env node
// Writes the two shaders whose inner loops are spelled out, one named value per block, because lavapipe
// indexes a private array with a loop counter lane by lane in memory:
//   shaders/gemm-subgroup64x16.wgsl      16 row quads × 4 column quads of accumulators
//   shaders/attention-subgroup64.wgsl    16 chunks of 4 head dims, each a broadcast from a constant lane
//   shaders/attention-subgroup64w4.wgsl  the same for 4-lane groups
// Edit the text here, then:
//   node scripts/unrolled-shaders.mjs          # rewrite both files
//   node scripts/unrolled-shaders.mjs --check  # exit 1 if a file differs from what this writes (npm test)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const range = (n) => [...Array(n).keys()];

// C = 8 (64×32, 2,048 accumulators a lane) measured no faster than 64×16 at any ViT shape on lavapipe
// (B/32 qkv 18.8 against 21.3 GFLOPS, L/14 qkv 23.0 against 31.7): the accumulators outgrow L1.
function gemmSubgroup64(C) {
  const R = 16; // row quads; C column quads
  const lines = [C === 4 ? `// GEMM for 8-lane SIMD, 64×16 per invocation: gemm-subgroup32x16.wgsl (read its header) with twice the rows.
// On lavapipe every per-lane load is a loop over the 8 lanes, and w's 16 vec4 loads per step are most of
// them; sharing each w load between 64 rows instead of 32 halves them per multiply-add (per step of 4 along
// K a lane loads 8 vec4s of x and 16 of w for 4,096 multiply-adds). The 1,024 accumulators of a lane live on
// the stack. A workgroup is one group of 8 lanes, and the x rows go round by subgroupBroadcast from
// constant lanes. For M = 50 (ViT-B/32) one block covers every row; at 257 rows, 4 blocks and a 1-row tail.
// Written by scripts/unrolled-shaders.mjs: edit it there.
//
// Needs \`subgroups\` and subgroups of at least 8 lanes, the workgroup's 8 invocations being subgroup lanes
// 0..7. Compiled after gemm-io-*.wgsl, gemm-epilogue.wgsl, gemm-register-blocks.wgsl and
// gemm-subgroup-blocks.wgsl. Dispatch: (ceil(N / 128), row groups ceil(rows / 64) folded into y·z).` :
`// GEMM for 8-lane SIMD, 64×${4 * C} per invocation: gemm-subgroup64x16.wgsl (read its header) with ${C / 4}× the
// columns, so each x row a lane receives meets ${4 * C} columns of w (per step of 4 along K: 8 vec4s of x and
// ${4 * C} of w for ${(64 * 16 * C).toLocaleString('en-US')} multiply-adds). ${(64 * 4 * C).toLocaleString('en-US')} accumulators a lane. Written by scripts/unrolled-shaders.mjs.
// Dispatch: (ceil(N / ${32 * C}), row groups ceil(rows / 64) folded into y·z).`, `
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
    @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = params.firstRow + (wid.y + wid.z * params.rowGroups) * 64u;
  let col0 = (wid.x * 8u + lid.x) * ${4 * C}u;
  let k = params.k;
  let lastRow = params.rows - 1u;`];
  for (const i of range(8)) lines.push(`  let xRow${i} = min(row0 + ${8 * i}u + lane, lastRow) * k;`);
  for (const j of range(C)) lines.push(`  let w${j} = rowStarts(col0 + ${4 * j}u, params.n);`);
  for (const i of range(R)) lines.push('  ' + range(C).map((j) => `var c${i}_${j} = mat4x4f();`).join(' '));
  lines.push('', '  var e = 0u;', '  for (; e + 4u <= k; e += 4u) {');
  for (const i of range(8)) lines.push(`    let x${i} = loadX4(xRow${i} + e);`);
  for (const j of range(C)) lines.push(`    let b${j} = wBlock(w${j}, e);`);
  for (const i of range(8)) lines.push(`    let a${2 * i} = broadcastLow(x${i});`, `    let a${2 * i + 1} = broadcastHigh(x${i});`);
  for (const i of range(R)) lines.push('    ' + range(C).map((j) => `c${i}_${j} += a${i} * b${j};`).join(' '));
  lines.push('  }');
  for (const i of range(R)) lines.push(`  let t${i} = rowStarts(row0 + ${4 * i}u, params.rows);`);
  lines.push('  for (; e < k; e++) {');
  for (const j of range(C)) lines.push(`    let b${j} = wColumn(w${j}, e);`);
  for (const i of range(R)) {
    lines.push(`    let a${i} = xColumn(t${i}, e);`);
    lines.push('    ' + range(C).map((j) => `c${i}_${j} += outer(a${i}, b${j});`).join(' '));
  }
  lines.push('  }', '', '  if (row0 >= params.rows || col0 >= params.n) {', '    return;', '  }');
  lines.push(`  let blocks = array<mat4x4f, ${R * C}>(${range(R).flatMap((i) => range(C).map((j) => `c${i}_${j}`)).join(', ')});`);
  lines.push(`  for (var b = 0u; b < ${R * C}u; b++) {`);
  lines.push(`    storeBlock(row0 + (b / ${C}u) * 4u, col0 + (b % ${C}u) * 4u, blocks[b]);`);
  lines.push('  }', '}');
  return lines.join('\n') + '\n';
}

// L lanes a workgroup: 8 for lavapipe's 256-bit registers, 4 for SwiftShader's 128-bit ones.
function attentionSubgroup64(L) {
  const C = 16; // chunks of 4 dims: head dim 64
  const Q = 4 * L; // queries a workgroup
  const parts = C / L; // chunks of each key a lane loads
  const broadcast = (from, lane) => `mat4x4f(${range(4).map((t) => `subgroupBroadcast(${from}[${t}], ${lane}u)`).join(', ')})`;
  const lines = [`// Fused multi-head self-attention for ${L}-lane SIMD with subgroups (${L === 8 ? 'lavapipe' : 'SwiftShader'}), head dim 64: the result of
// attention.wgsl (read its header for the formula, the layouts, the online softmax and NaN):
//   out[b, i, h·64 + c] = sum_j softmax_j(scale · q_i · k_j) · v_j[c]     (only j ≤ i when CAUSAL)
//
// qkv: batch × seq × 3·D floats as vec4s (D = heads·64, so every head vector starts on a vec4)
// out: batch × seq × D floats as vec4s
//
// A workgroup is one group of ${L} lanes and owns ${Q} queries of one (batch, head); lane l owns queries
// 4l .. 4l+3 of them, held as 16 mat4x4f (one per chunk of 4 head dims, column r = query r), as in
// attention.wgsl. The trick: the ${L} lanes need the same keys and values, so instead of each lane loading
// all 16 chunks of 4 keys (a loop over the lanes per load on a CPU device), lane l loads chunks
// ${range(parts).map((p) => (p ? `${p * L} + l` : 'l')).join(', ')} of each, and the group passes them round with subgroupBroadcast from constant lanes, a
// register extract and splat. Per step of 4 keys a lane makes ${2 * 4 * parts} vec4 loads, where attention.wgsl makes 128,
// for the same 2,048 multiply-adds. The chunk loops are written out (by scripts/unrolled-shaders.mjs: edit it
// there) so that the query and accumulator blocks are named values, never an array indexed by a counter.
//
// NaN: as attention.wgsl, except that with CAUSAL a masked key's v meets a zero weight for every query of
// the workgroup's ${Q} (not only the query's own 4-key block), so a NaN v reaches those as 0·NaN.
//
// Needs \`subgroups\` and subgroups of at least ${L} lanes, the workgroup's ${L} invocations being subgroup lanes
// 0..${L - 1}. Compiled after attention-softmax.wgsl (with \`enable subgroups;\` put first). Dispatch: batch · heads ·
// ceil(seq / ${Q}) workgroups of ${L}, folded into x·y.

struct Params {
  seq: u32,
  heads: u32,
  // batch · heads · ceil(seq / ${Q}): workgroups past it do nothing.
  blocks: u32,
  // scale · log2(e)
  scaleLog2: f32,
}

override CAUSAL: bool = false;

const HEAD_DIM: u32 = 64u;
const QUERIES: u32 = ${Q}u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let block = wid.x + wid.y * nwg.x;
  // The same for the whole workgroup, so no lane leaves the others behind at a broadcast.
  if (block >= params.blocks) {
    return;
  }
  let seq = params.seq;
  let heads = params.heads;
  let groups = (seq + QUERIES - 1u) / QUERIES;
  let firstQuery = (block % groups) * QUERIES;
  let head = (block / groups) % heads;
  let b = block / (groups * heads);

  // In vec4s: a token row is 3·D/4 long, a head 16.
  let width = heads * (HEAD_DIM / 4u);
  let rowStride = 3u * width;
  let headStart = b * seq * rowStride + head * (HEAD_DIM / 4u);
  let lastToken = vec4u(seq - 1u);
  let queries = vec4u(firstQuery + 4u * lane) + vec4u(0u, 1u, 2u, 3u);
  let queryStarts = vec4u(headStart) + min(queries, lastToken) * rowStride;
`];
  for (const c of range(C)) {
    lines.push(`  let q${c} = mat4x4f(${['x', 'y', 'z', 'w'].map((r) => `qkv[queryStarts.${r} + ${c}u]`).join(', ')}) * params.scaleLog2;`);
  }
  for (const c of range(C)) lines.push(`  var acc${c} = mat4x4f();`);
  lines.push(`
  var runningMax = vec4f(LOWEST);
  var runningSum = vec4f(0.0);
  let keyEnd = select(seq, min(firstQuery + QUERIES, seq), CAUSAL);
  for (var firstKey = 0u; firstKey < keyEnd; firstKey += 4u) {
    let keys = vec4u(firstKey) + vec4u(0u, 1u, 2u, 3u);
    let keyStarts = vec4u(headStart + width) + min(keys, vec4u(keyEnd - 1u)) * rowStride;
    // This lane's share: chunks ${range(parts).map((p) => (p ? `${p * L} + lane` : 'lane')).join(', ')} of the 4 keys.
${range(parts).map((p) => `    let k${p} = mat4x4f(${['x', 'y', 'z', 'w'].map((r) => `qkv[keyStarts.${r} + ${p ? `${p * L}u + ` : ''}lane]`).join(', ')});`).join('\n')}
    // scores[r][t] = q_r · k_t (column r holds query r's scores of the 4 keys)
    var scores = mat4x4f();`);
  for (const c of range(C)) lines.push(`    scores += transpose(${broadcast(`k${Math.floor(c / L)}`, c % L)}) * q${c};`);
  lines.push(`
    let step = softmaxStep(scores, keys, keyEnd, queries, seq, &runningMax, &runningSum);
    let correction = step.correction;
    let weights = step.weights;

    let valueStarts = keyStarts + vec4u(width);
${range(parts).map((p) => `    let v${p} = mat4x4f(${['x', 'y', 'z', 'w'].map((r) => `qkv[valueStarts.${r} + ${p ? `${p * L}u + ` : ''}lane]`).join(', ')});`).join('\n')}
    // Column r: query r's accumulator rescaled, plus the 4 values weighted by its 4 weights.`);
  for (const c of range(C)) {
    lines.push(`    acc${c} = mat4x4f(${range(4).map((r) => `acc${c}[${r}] * correction.${'xyzw'[r]}`).join(', ')}) + ${broadcast(`v${Math.floor(c / L)}`, c % L)} * weights;`);
  }
  lines.push(`  }

  let inverseSum = 1.0 / runningSum;
  let blocks = array<mat4x4f, 16>(${range(C).map((c) => `acc${c}`).join(', ')});
  for (var r = 0u; r < 4u; r++) {
    let i = queries[r];
    if (i < seq) {
      let outStart = (b * seq + i) * width + head * (HEAD_DIM / 4u);
      for (var c = 0u; c < 16u; c++) {
        out[outStart + c] = blocks[c][r] * inverseSum[r];
      }
    }
  }
}`);
  return lines.join('\n') + '\n';
}

const shaders = join(dirname(fileURLToPath(import.meta.url)), '..', 'shaders');
const files = { 'gemm-subgroup64x16.wgsl': gemmSubgroup64(4), 'attention-subgroup64.wgsl': attentionSubgroup64(8), 'attention-subgroup64w4.wgsl': attentionSubgroup64(4) };
const check = process.argv.includes('--check');
let stale = 0;
for (const [name, text] of Object.entries(files)) {
  const path = join(shaders, name);
  if (!check) {
    writeFileSync(path, text);
    continue;
  }
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {}
  if (current !== text) {
    console.error(`shaders/${name} differs from what scripts/unrolled-shaders.mjs writes: edit the script and run it`);
    stale++;
  }
}
process.exit(stale ? 1 : 0);

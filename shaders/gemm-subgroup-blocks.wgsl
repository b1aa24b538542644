// Shared by the subgroup GEMM kernels (gemm-subgroup*.wgsl): x rows passed between the 8 lanes of a group.
// Compiled after gemm-register-blocks.wgsl, with `enable subgroups;` first.

// Rows r0..r0+3 of what the group's lanes loaded into `mine` (lane j holds row j), as an x block.
fn sharedBlock(mine: vec4f, base: u32, r0: u32) -> mat4x4f {
  return transpose(mat4x4f(subgroupShuffle(mine, base + r0), subgroupShuffle(mine, base + r0 + 1u),
    subgroupShuffle(mine, base + r0 + 2u), subgroupShuffle(mine, base + r0 + 3u)));
}

// For a workgroup that is one group of 8 lanes (subgroup lanes 0..7): rows 0..3 or 4..7 of what those lanes
// loaded, from constant lanes.
fn broadcastLow(mine: vec4f) -> mat4x4f {
  return transpose(mat4x4f(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u)));
}
fn broadcastHigh(mine: vec4f) -> mat4x4f {
  return transpose(mat4x4f(subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u)));
}

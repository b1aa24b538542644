// The subgroup entry point of the row-wise kernels. Compiled only where the adapter has subgroups, as
//   enable subgroups; + rows-common + rows-subgroup + kernel + kernel's -subgroup file
// (src/kernels/rows.ts), and calls the kernel's  fn rowBySubgroup(base: u32, cols: u32, lane: u32, lanes: u32).
//
// One workgroup per row, WORKGROUP_SIZE = the adapter's smallest subgroup size, so that the workgroup is
// one subgroup: the reductions are subgroupAdd / subgroupMax, with no barriers and no workgroup memory.
// SwiftShader runs 4 lanes, lavapipe 8.
//
// The lanes are counted rather than taken from subgroup_size, which keeps the kernel correct whatever
// subgroup size the driver picks: a subgroup wider than the workgroup has idle lanes, which
// subgroup_size would count and the column stride would skip; a workgroup split over several subgroups
// has each of them walk the whole row and write the same values (up to rounding).

@compute @workgroup_size(WORKGROUP_SIZE)
fn rowPerSubgroup(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let lanes = subgroupAdd(1u);
  let lane = subgroupExclusiveAdd(1u);
  rowBySubgroup(row * params.cols, params.cols, lane, lanes);
}

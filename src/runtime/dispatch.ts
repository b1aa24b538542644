/**
 * Workgroup counts for a 1-D problem of `n` items at `perWorkgroup` items each, folded into two
 * dimensions when it exceeds the 65,535-per-dimension limit. Shaders recover the linear index as
 * `wid.x + wid.y * nwg.x` (see shaders/elementwise.wgsl).
 */
export function linearWorkgroups(n: number, perWorkgroup: number, maxPerDimension = 65535): [number, number] {
  const groups = Math.ceil(n / perWorkgroup);
  if (groups <= maxPerDimension) return [groups, 1];
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y];
}

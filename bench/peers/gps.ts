/** `points` GPS rows [lat, lon] spread over the globe by two coprime strides (the same in every system). */
export function gpsPoints(points: number): Float32Array {
  const gps = new Float32Array(points * 2);
  for (let i = 0; i < points; i++) {
    gps[2 * i] = ((i * 37) % 171) - 85;
    gps[2 * i + 1] = ((i * 91) % 359) - 179.5;
  }
  return gps;
}

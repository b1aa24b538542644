// GeoCLIP location features: Equal Earth projection of (lat, lon) in degrees, then random Fourier
// features for each of the three capsules (sigma 2^0, 2^4, 2^8), all in one pass:
//
//   v        = EqualEarth(lat, lon) * SF / 180                       (2 floats per point)
//   t[c, j]  = v · b[c, j]                                           (phase in turns)
//   outC[n]  = [cos(2π t[c, 0..E)), sin(2π t[c, 0..E))]              (2E floats, cos half first)
//
// gps:  N × 2 floats, row n = (lat, lon) in degrees; validated on the host
// b:    3 × E × 2 floats, capsule c's stored RFF matrix b [E, 2] (nn.Linear-like layout, never resampled)
// out0, out1, out2: N × 2E floats each, one per capsule, ready to be the input of that capsule's MLP
//
// One invocation per (point n, frequency j); it recomputes the projection of its point (about the cost
// of its three feature pairs) so no invocation waits on another and no workgroup memory is needed. The
// whole kernel is under 1% of the location encoder's time; the MLPs are the work.
//
// The trick: WGSL's sin/cos/asin promise only 2^-11 absolute error, and SwiftShader delivers about
// that. With sigma 2^8 the phase reaches about 2,000 turns, so a 1e-4 relative error in the projection
// would move it by a fifth of a turn. Every transcendental here is therefore computed by hand: the
// phase is kept in turns and reduced before any polynomial, and asin is polished by Newton steps.

struct Params {
  n: u32,        // points
  encoded: u32,  // E, frequencies per capsule
}

override WORKGROUP_SIZE: u32 = 256;

const A1: f32 = 1.340264;
const A2: f32 = -0.081106;
const A3: f32 = 0.000893;
const A4: f32 = 0.003796;
const SF: f32 = 66.50336;
const SQRT3: f32 = 1.7320508075688772;
const DEG_TO_RAD: f32 = 0.017453292519943295;
const TWO_PI: f32 = 6.283185307179586;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gps: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out0: array<f32>;
@group(0) @binding(4) var<storage, read_write> out1: array<f32>;
@group(0) @binding(5) var<storage, read_write> out2: array<f32>;

fn equalEarth(latDeg: f32, lonDeg: f32) -> vec2f {
  let sinLat = cosSinTurns(latDeg / 360.0).y;
  let s = SQRT3 / 2.0 * sinLat;
  let theta = asinAccurate(s);
  let cosTheta = sqrt(1.0 - s * s);  // cos(asin(s)); 1 - s² >= 0.25, so no cancellation
  let t2 = theta * theta;
  let t6 = t2 * t2 * t2;
  let denominator = 3.0 * (9.0 * A4 * t6 * t2 + 7.0 * A3 * t6 + 3.0 * A2 * t2 + A1);
  let x = (2.0 * SQRT3 * (lonDeg * DEG_TO_RAD) * cosTheta) / denominator;
  let y = theta * (A4 * t6 * t2 + A3 * t6 + A2 * t2 + A1);
  return vec2f(x, y) * (SF / 180.0);
}

// [cos, sin] of 2π·turns to about 1e-7 absolute for any phase f32 can hold: reduce to one turn, then to
// an eighth of a turn around the nearest quadrant, then Taylor polynomials (|a| <= π/4), then rotate.
// The built-in sin/cos only promise 2^-11 absolute, which the sigma 2^8 capsule would amplify.
fn cosSinTurns(turns: f32) -> vec2f {
  let r = turns - round(turns);
  let quadrant = round(4.0 * r);
  let a = TWO_PI * (r - 0.25 * quadrant);
  let a2 = a * a;
  let s = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 * (1.0 / 362880.0)))));
  let c = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40320.0 + a2 * (-1.0 / 3628800.0)))));
  let q = (i32(quadrant) + 4) % 4;
  if (q == 0) {
    return vec2f(c, s);
  }
  if (q == 1) {
    return vec2f(-s, c);
  }
  if (q == 2) {
    return vec2f(-c, -s);
  }
  return vec2f(s, -c);
}

// asin for |s| <= sqrt(3)/2 (|θ| <= π/3): the built-in as a first guess, polished by two Newton steps
// on sin(θ) = s with the accurate sine above.
fn asinAccurate(s: f32) -> f32 {
  var theta = asin(s);
  for (var step = 0; step < 2; step++) {
    let cs = cosSinTurns(theta / TWO_PI);
    theta -= (cs.y - s) / cs.x;
  }
  return theta;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  let e = params.encoded;
  if (i >= params.n * e) {
    return;
  }
  let row = i / e;
  let j = i % e;
  let v = equalEarth(gps[2u * row], gps[2u * row + 1u]);
  let base = row * 2u * e + j;

  let b0 = vec2f(b[2u * j], b[2u * j + 1u]);
  let f0 = cosSinTurns(dot(v, b0));
  out0[base] = f0.x;
  out0[base + e] = f0.y;

  let b1 = vec2f(b[2u * (e + j)], b[2u * (e + j) + 1u]);
  let f1 = cosSinTurns(dot(v, b1));
  out1[base] = f1.x;
  out1[base + e] = f1.y;

  let b2 = vec2f(b[2u * (2u * e + j)], b[2u * (2u * e + j) + 1u]);
  let f2 = cosSinTurns(dot(v, b2));
  out2[base] = f2.x;
  out2[base + e] = f2.y;
}

import source from '../../shaders/im2col.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';
import { linear } from './gemm.js';

const WORKGROUP_SIZE = 256;

interface PatchGeometry {
  batch: number;
  channels: number;
  height: number;
  width: number;
  gridH: number;
  gridW: number;
}

function patchGeometry(op: string, shape: readonly number[], patch: number): PatchGeometry {
  if (shape.length !== 4) throw new ShapeError(`${op}: pixels must be [batch, channels, height, width]; got ${formatShape(shape)}`);
  if (!Number.isInteger(patch) || patch < 1) throw new ShapeError(`${op}: patch must be a positive integer; got ${patch}`);
  const [batch, channels, height, width] = shape as [number, number, number, number];
  if (height % patch !== 0 || width % patch !== 0) {
    throw new ShapeError(`${op}: pixels ${formatShape(shape)} do not tile into ${patch}×${patch} patches (height and width must be multiples of ${patch})`);
  }
  return { batch, channels, height, width, gridH: height / patch, gridW: width / patch };
}

/**
 * Cuts images into non-overlapping patches: pixels [B, C, H, W] → [B, (H/P)·(W/P), C·P·P], each row one
 * patch (row-major over the patch grid) with columns in Conv2d weight order (c, ky, kx).
 */
export function im2col(pixels: Tensor, patch: number): Tensor {
  if (pixels.dtype !== 'f32') throw new ShapeError(`im2col: pixels must be f32; got ${pixels}`);
  const g = patchGeometry('im2col', pixels.shape, patch);
  const patches = g.gridH * g.gridW;
  const cols = pixels.gpu.empty([g.batch, patches, g.channels * patch * patch], 'f32', 'im2col.out');
  pixels.gpu.dispatch({
    label: 'im2col',
    code: source,
    constants: { WORKGROUP_SIZE },
    uniforms: new Uint32Array([cols.size, g.channels, g.height, g.width, patch, g.gridW, patches, 0]),
    buffers: [pixels, cols],
    workgroups: linearWorkgroups(cols.size, WORKGROUP_SIZE),
  });
  return cols;
}

/**
 * The ViT patch embedding, Conv2d(C, D, kernel = stride = P) flattened to tokens: pixels [B, C, H, W],
 * weight [D, C, P, P] (f32 or packed f16), bias [D] → [B, (H/P)·(W/P), D]. Runs as im2col + linear.
 */
export function patchEmbed(pixels: Tensor, weight: Tensor, patch: number, bias?: Tensor): Tensor {
  const g = patchGeometry('patchEmbed', pixels.shape, patch);
  const [dim, wc, wh, ww] = weight.shape as [number, number, number, number];
  if (weight.rank !== 4 || wc !== g.channels || wh !== patch || ww !== patch) {
    throw new ShapeError(
      `patchEmbed: weight must be [D, ${g.channels}, ${patch}, ${patch}] for pixels ${formatShape(pixels.shape)} and patch ${patch}; got ${formatShape(weight.shape)}`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== dim)) {
    throw new ShapeError(`patchEmbed: bias must be [${dim}] to match weight ${formatShape(weight.shape)}; got ${formatShape(bias.shape)}`);
  }
  const cols = im2col(pixels, patch);
  try {
    return linear(cols, weight.reshape([dim, g.channels * patch * patch]), { bias });
  } finally {
    // Safe before the GEMM runs: the pool hands the buffer out again only to later dispatches.
    cols.release();
  }
}

/** Plain-TS im2col with the same layout as im2col(). */
export function im2colReference(pixels: Float32Array, shape: readonly number[], patch: number): Float32Array {
  const g = patchGeometry('im2colReference', shape, patch);
  const columns = g.channels * patch * patch;
  const out = new Float32Array(g.batch * g.gridH * g.gridW * columns);
  let e = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let py = 0; py < g.gridH; py++) {
      for (let px = 0; px < g.gridW; px++) {
        for (let c = 0; c < g.channels; c++) {
          for (let ky = 0; ky < patch; ky++) {
            for (let kx = 0; kx < patch; kx++) {
              out[e++] = pixels[((b * g.channels + c) * g.height + py * patch + ky) * g.width + px * patch + kx]!;
            }
          }
        }
      }
    }
  }
  return out;
}

/** Plain-TS strided convolution in float64, laid out as patchEmbed()'s output [B, patches, D]. */
export function patchEmbedReference(
  pixels: Float32Array,
  shape: readonly number[],
  weight: ArrayLike<number>,
  dim: number,
  patch: number,
  bias?: ArrayLike<number>,
): Float32Array {
  const g = patchGeometry('patchEmbedReference', shape, patch);
  const out = new Float32Array(g.batch * g.gridH * g.gridW * dim);
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let py = 0; py < g.gridH; py++) {
      for (let px = 0; px < g.gridW; px++) {
        for (let d = 0; d < dim; d++) {
          let sum = bias ? bias[d]! : 0;
          for (let c = 0; c < g.channels; c++) {
            for (let ky = 0; ky < patch; ky++) {
              for (let kx = 0; kx < patch; kx++) {
                const pixel = pixels[((b * g.channels + c) * g.height + py * patch + ky) * g.width + px * patch + kx]!;
                sum += pixel * weight[((d * g.channels + c) * patch + ky) * patch + kx]!;
              }
            }
          }
          out[o++] = sum;
        }
      }
    }
  }
  return out;
}

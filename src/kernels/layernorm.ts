import source from '../../shaders/layernorm.wgsl';
import subgroupSource from '../../shaders/layernorm-subgroup.wgsl';
import { formatShape, ShapeError, type Tensor } from '../runtime/index.js';
import { checkF32, dispatchRows, rowLength } from './rows.js';

/**
 * LayerNorm over the last dimension, as torch.nn.LayerNorm(cols, eps): x [...batch, D], gamma [D],
 * beta [D] → [...batch, D].
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  checkF32('layerNorm', { x, gamma, beta });
  const cols = rowLength('layerNorm', x);
  if (gamma.size !== cols || beta.size !== cols || gamma.rank !== 1 || beta.rank !== 1) {
    throw new ShapeError(
      `layerNorm: gamma ${formatShape(gamma.shape)} and beta ${formatShape(beta.shape)} must both be [${cols}] to match x ${formatShape(x.shape)}`,
    );
  }
  return dispatchRows('layerNorm', { source, subgroupSource }, x, { inputs: [gamma, beta], eps });
}

/** Plain-TS LayerNorm in float64 (two-pass), rounded to f32 at the end. */
export function layerNormReference(x: Float32Array, cols: number, gamma: Float32Array, beta: Float32Array, eps = 1e-5): Float32Array {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += x[base + c]!;
    const mean = sum / cols;
    let squares = 0;
    for (let c = 0; c < cols; c++) squares += (x[base + c]! - mean) ** 2;
    const inverseStd = 1 / Math.sqrt(squares / cols + eps);
    for (let c = 0; c < cols; c++) out[base + c] = (x[base + c]! - mean) * inverseStd * gamma[c]! + beta[c]!;
  }
  return out;
}

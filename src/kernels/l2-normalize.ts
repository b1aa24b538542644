import source from '../../shaders/l2-normalize.wgsl';
import subgroupSource from '../../shaders/l2-normalize-subgroup.wgsl';
import type { Tensor } from '../runtime/index.js';
import { checkF32, dispatchRows } from './rows.js';

/**
 * x / max(‖x‖₂, eps) over the last dimension, as torch.nn.functional.normalize(x, dim=-1):
 * x [...batch, D] → [...batch, D]. GeoCLIP compares unit vectors, so image, text and GPS embeddings pass here.
 */
export function l2Normalize(x: Tensor, eps = 1e-12): Tensor {
  checkF32('l2Normalize', { x });
  return dispatchRows('l2Normalize', { source, subgroupSource }, x, { eps });
}

/** Plain-TS L2 normalization in float64 over rows of `cols`, rounded to f32 at the end. */
export function l2NormalizeReference(x: Float32Array, cols: number, eps = 1e-12): Float32Array {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let squares = 0;
    for (let c = 0; c < cols; c++) squares += x[base + c]! ** 2;
    const norm = Math.max(Math.sqrt(squares), eps);
    for (let c = 0; c < cols; c++) out[base + c] = x[base + c]! / norm;
  }
  return out;
}

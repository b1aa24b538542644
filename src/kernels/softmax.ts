import source from '../../shaders/softmax.wgsl';
import subgroupSource from '../../shaders/softmax-subgroup.wgsl';
import type { Tensor } from '../runtime/index.js';
import { checkF32, dispatchRows } from './rows.js';

/** Softmax over the last dimension: x [...batch, N] → [...batch, N]. A NaN in a row makes that row NaN. */
export function softmax(x: Tensor): Tensor {
  checkF32('softmax', { x });
  return dispatchRows('softmax', { source, subgroupSource }, x);
}

/** Plain-TS max-subtracted softmax in float64 over rows of `cols`, rounded to f32 at the end. */
export function softmaxReference(x: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let largest = -Infinity;
    let sawNaN = false;
    for (let c = 0; c < cols; c++) {
      const v = x[base + c]!;
      if (Number.isNaN(v)) sawNaN = true;
      largest = Math.max(largest, v);
    }
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x[base + c]! - largest);
    for (let c = 0; c < cols; c++) out[base + c] = sawNaN ? NaN : Math.exp(x[base + c]! - largest) / sum;
  }
  return out;
}

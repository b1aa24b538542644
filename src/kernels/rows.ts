import { ShapeError, type Tensor } from '../runtime/index.js';

/**
 * The `Params { rows: u32, cols: u32, eps: f32 }` uniform shared by the row-wise kernels
 * (layernorm, softmax, l2-normalize).
 */
export function rowParams(rows: number, cols: number, eps = 0): Uint32Array {
  const words = new Uint32Array(4);
  words[0] = rows;
  words[1] = cols;
  new Float32Array(words.buffer)[2] = eps;
  return words;
}

/** Throws a ShapeError naming every operand that is not f32. */
export function checkF32(op: string, tensors: Record<string, Tensor>): void {
  const wrong = Object.entries(tensors).filter(([, t]) => t.dtype !== 'f32');
  if (wrong.length > 0) {
    throw new ShapeError(`${op}: expects f32 tensors, got ${wrong.map(([name, t]) => `${name} ${t}`).join(', ')}`);
  }
}

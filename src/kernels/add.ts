import source from '../../shaders/add.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';

const WORKGROUP_SIZE = 256;

/** out = a + b, elementwise (the transformer's residual connection). Shapes must match exactly. */
export function add(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`add: shapes differ, a ${formatShape(a.shape)} vs b ${formatShape(b.shape)}`);
  }
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new ShapeError(`add: expects f32 tensors, got ${a} and ${b}`);
  const result = out ?? a.gpu.empty(a.shape, 'f32', 'add.out');
  if (result.size !== a.size) throw new ShapeError(`add: out ${formatShape(result.shape)} does not hold ${formatShape(a.shape)}`);
  a.gpu.dispatch({
    label: 'add',
    code: source,
    constants: { WORKGROUP_SIZE },
    uniforms: new Uint32Array([a.size, 0, 0, 0]),
    buffers: [a, b, result],
    workgroups: linearWorkgroups(a.size, WORKGROUP_SIZE),
  });
  return result;
}

export function addReference(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

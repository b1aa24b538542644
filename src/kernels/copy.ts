import source from '../../shaders/copy.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';

const WORKGROUP_SIZE = 256;

/**
 * out = a through a compute shader (vec4 loads and stores): the bandwidth probe benchmarks put beside
 * memory-bound kernels. f32 tensors whose element count is a multiple of 4.
 */
export function copyKernel(a: Tensor, out?: Tensor): Tensor {
  if (a.dtype !== 'f32') throw new ShapeError(`copyKernel: expects an f32 tensor, got ${a}`);
  if (a.size % 4 !== 0) throw new ShapeError(`copyKernel: element count ${a.size} of ${formatShape(a.shape)} is not a multiple of 4`);
  const result = out ?? a.gpu.empty(a.shape, 'f32', 'copy.out');
  if (result.dtype !== 'f32' || result.size !== a.size) throw new ShapeError(`copyKernel: out ${formatShape(result.shape)}:${result.dtype} does not hold ${formatShape(a.shape)}:f32`);
  if (result.buffer === a.buffer) throw new ShapeError('copyKernel: out shares its buffer with the input');
  const vectors = a.size / 4;
  a.gpu.dispatch({
    label: 'copy',
    code: source,
    constants: { WORKGROUP_SIZE },
    uniforms: new Uint32Array([vectors, 0, 0, 0]),
    buffers: [a, result],
    workgroups: linearWorkgroups(vectors, WORKGROUP_SIZE, a.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return result;
}

/** Bytes a copy of `elements` f32 values moves: each read once and written once. */
export function copyBytes(elements: number): number {
  return elements * 4 * 2;
}

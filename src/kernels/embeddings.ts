import source from '../../shaders/embeddings.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';
import { checkF32 } from './rows.js';

const WORKGROUP_SIZE = 256;

/**
 * The ViT's token sequence: patches [B, P, D], classEmbedding [D], positions [P+1, D] → [B, P+1, D],
 * row 0 = class + positions[0], row t+1 = patches[t] + positions[t+1].
 */
export function visionEmbeddings(patches: Tensor, classEmbedding: Tensor, positions: Tensor): Tensor {
  checkF32('visionEmbeddings', { patches, classEmbedding, positions });
  const describe = () =>
    `patches ${formatShape(patches.shape)}, classEmbedding ${formatShape(classEmbedding.shape)}, positions ${formatShape(positions.shape)}`;
  if (patches.rank !== 3) throw new ShapeError(`visionEmbeddings: patches must be [batch, tokens, D]; got ${describe()}`);
  const [batch, tokens, width] = patches.shape as [number, number, number];
  if (classEmbedding.rank !== 1 || classEmbedding.shape[0] !== width) {
    throw new ShapeError(`visionEmbeddings: classEmbedding must be [${width}]; got ${describe()}`);
  }
  if (positions.rank !== 2 || positions.shape[0] !== tokens + 1 || positions.shape[1] !== width) {
    throw new ShapeError(`visionEmbeddings: positions must be [${tokens + 1}, ${width}] (tokens + class); got ${describe()}`);
  }
  const out = patches.gpu.empty([batch, tokens + 1, width], 'f32', 'visionEmbeddings.out');
  patches.gpu.dispatch({
    label: 'visionEmbeddings',
    code: source,
    constants: { WORKGROUP_SIZE },
    uniforms: new Uint32Array([out.size, tokens, width, 0]),
    buffers: [patches, classEmbedding, positions, out],
    workgroups: linearWorkgroups(out.size, WORKGROUP_SIZE),
  });
  return out;
}

export function visionEmbeddingsReference(
  patches: Float32Array,
  batch: number,
  tokens: number,
  width: number,
  classEmbedding: Float32Array,
  positions: Float32Array,
): Float32Array {
  const out = new Float32Array(batch * (tokens + 1) * width);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t <= tokens; t++) {
      for (let d = 0; d < width; d++) {
        const token = t === 0 ? classEmbedding[d]! : patches[(b * tokens + t - 1) * width + d]!;
        out[(b * (tokens + 1) + t) * width + d] = token + positions[t * width + d]!;
      }
    }
  }
  return out;
}

import source from '../../shaders/token-embedding.wgsl';
import { formatShape, linearWorkgroups, ShapeError, type Tensor } from '../runtime/index.js';

const WORKGROUP_SIZE = 256;

/**
 * Token + position embedding: ids [...batch, S] (i32) → [...batch, S, D] with
 * out[..., s, :] = table[ids[..., s], :] + positions[s, :]. table [V, D] is f32 or packed f16;
 * positions [P, D] f32 with P ≥ S (a shorter sequence uses the first S rows). Ids outside [0, V) give NaN
 * rows (the GPU cannot throw; callers holding the ids on the host check them first).
 */
export function tokenEmbedding(ids: Tensor, table: Tensor, positions: Tensor): Tensor {
  const seq = ids.shape[ids.rank - 1];
  const dim = table.shape[1];
  if (positions.dtype !== 'f32' || positions.rank !== 2 || positions.shape[1] !== dim || seq === undefined || positions.shape[0]! < seq) {
    throw new ShapeError(
      `tokenEmbedding: positions ${positions} must be f32 [≥${seq ?? '?'}, ${dim ?? '?'}] for ids ${formatShape(ids.shape)} and table ${formatShape(table.shape)}`,
    );
  }
  return gather('tokenEmbedding', ids, table, positions, seq);
}

/** Row gather: indices [...batch] (i32) → [...batch, D] with out[i, :] = table[indices[i], :]; table [R, D]. */
export function gatherRows(table: Tensor, indices: Tensor): Tensor {
  return gather('gatherRows', indices, table, null, 1);
}

function gather(label: string, ids: Tensor, table: Tensor, positions: Tensor | null, seq: number): Tensor {
  if (ids.dtype !== 'i32') throw new ShapeError(`${label}: ids must be i32, got ${ids}`);
  if (table.rank !== 2 || (table.dtype !== 'f32' && table.dtype !== 'f16')) {
    throw new ShapeError(`${label}: table must be f32 or f16 [rows, dim], got ${table}`);
  }
  const [vocab, dim] = table.shape as [number, number];
  if (table.dtype === 'f16' && dim % 2 !== 0) {
    throw new ShapeError(`${label}: an f16 table needs an even row length so rows start on whole words, got ${formatShape(table.shape)}`);
  }
  const rows = ids.size;
  const out = ids.gpu.empty([...ids.shape, dim], 'f32', `${label}.out`);
  ids.gpu.dispatch({
    label,
    code: source,
    constants: { WORKGROUP_SIZE, TABLE_F16: table.dtype === 'f16' ? 1 : 0, ADD_POSITIONS: positions ? 1 : 0 },
    uniforms: new Uint32Array([rows, dim, vocab, seq]),
    // Without positions the table stands in for the unused binding.
    buffers: [ids, table, positions ?? table, out],
    workgroups: linearWorkgroups(rows * dim, WORKGROUP_SIZE),
  });
  return out;
}

/**
 * Plain-TS tokenEmbedding / gatherRows: ids [rows] against table [V, dim]; with positions [≥seq, dim],
 * row r adds positions[r % seq]. Out-of-range ids give NaN rows, as on the GPU.
 */
export function tokenEmbeddingReference(
  ids: Int32Array,
  table: Float32Array,
  dim: number,
  positions?: { values: Float32Array; seq: number },
): Float32Array {
  const vocab = table.length / dim;
  const out = new Float32Array(ids.length * dim);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r]!;
    for (let c = 0; c < dim; c++) {
      if (id < 0 || id >= vocab) {
        out[r * dim + c] = NaN;
        continue;
      }
      const position = positions ? positions.values[(r % positions.seq) * dim + c]! : 0;
      out[r * dim + c] = Math.fround(table[id * dim + c]! + position);
    }
  }
  return out;
}

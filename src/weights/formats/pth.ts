import type { ByteSource } from '../../io/bytes.js';
import { shapeElements, WEIGHT_DTYPE_BYTES, type TensorInfo, type WeightDType } from '../dtypes.js';
import { WeightsError } from '../../io/errors.js';
import { DEFAULT_UNPICKLE_LIMITS, PickleGlobal, PickleTuple, typeName, unpickle, type PickleValue, type UnpickleLimits } from './pickle.js';
import { BaseWeightSource } from '../source.js';
import { checkCrc, crc32, ZipArchive, type ZipEntry } from './zip.js';


/**
 * PyTorch `.pth` (torch.save ≥ 1.6): a zip holding `<root>/data.pkl` (the pickled object, tensors as
 * `_rebuild_tensor_v2(storage, offset, size, stride, …)` with storages as persistent ids) and one entry
 * `<root>/data/<key>` of raw little-endian bytes per storage.
 *
 * Names: a state dict gives its keys; nested dicts (e.g. {'state_dict': {...}}) join keys with '.';
 * a bare tensor (torch.save(tensor)) is named after the archive's root folder, e.g. `logit_scale`.
 * Non-tensor values (epoch counters, strings) are skipped and listed in `skipped`.
 */

const STORAGE_DTYPES: Record<string, WeightDType> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

/** The only globals a state-dict pickle may name. */
const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((name) => `torch.${name}`),
]);

interface StorageRef {
  readonly kind: 'storage';
  key: string;
  dtype: WeightDType;
  /** Elements the pickle says the storage holds. */
  numel: number;
}

interface TensorRecord {
  readonly kind: 'tensor';
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}

interface PthTensor extends TensorInfo {
  record: TensorRecord;
  contiguous: boolean;
}

export class PthSource extends BaseWeightSource {
  /** Storages up to this size are CRC-checked whole on first use, whatever part of them is read. */
  static wholeCheckBytes = 16 << 20;
  /** Bounds on reading data.pkl (bytes, values, memo) and on walking what it holds (depth, values visited). */
  static limits: Partial<UnpickleLimits & WalkLimits> = {};
  readonly format = 'pytorch' as const;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  private readonly verified = new Set<string>();
  private readonly crcState = new Map<string, { next: number; crc: number }>();

  private constructor(
    bytes: ByteSource,
    private readonly zip: ZipArchive,
    private readonly root: string,
    private readonly table: Map<string, PthTensor>,
    /** Names of non-tensor values in the pickle, which are not weights. */
    readonly skipped: string[],
  ) {
    super(bytes);
    this.tensors = new Map([...table].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape }]));
  }

  static async open(bytes: ByteSource): Promise<PthSource> {
    const file = bytes.name;
    const zip = await ZipArchive.open(bytes);
    const pickles = [...zip.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
    if (pickles.length !== 1) {
      throw new WeightsError(`${file}: a PyTorch zip holds exactly one '<root>/data.pkl', found ${pickles.length} (entries: ${[...zip.entries.keys()].slice(0, 5).join(', ')})`);
    }
    const root = pickles[0]!.slice(0, -'/data.pkl'.length);
    const byteorder = zip.entries.has(`${root}/byteorder`) ? new TextDecoder().decode(await zip.read(`${root}/byteorder`)).trim() : 'little';
    if (byteorder !== 'little') throw new WeightsError(`${file}: tensors were saved ${byteorder}-endian; geolens reads only little-endian checkpoints`);

    const storages = new Map<string, StorageRef>();
    const where = `${file}: ${root}/data.pkl`;
    const limits = { ...DEFAULT_UNPICKLE_LIMITS, ...PthSource.limits };
    const pickleSize = zip.entry(pickles[0]!).size;
    if (pickleSize > limits.maxBytes) throw new WeightsError(`${where}: pickle of ${pickleSize} bytes exceeds the limit of ${limits.maxBytes} bytes (maxBytes)`);
    const value = unpickle(await zip.read(pickles[0]!), {
      allowGlobal: (module, name) => ALLOWED_GLOBALS.has(`${module}.${name}`),
      persistentLoad: (id) => loadStorage(id, storages, where) as unknown as PickleValue,
      reduce: (callable, args) => reduce(callable, args, where),
      build: (target, state) => {
        // OrderedDict state is its `_metadata` attribute (module versions): not weights.
        if (target instanceof Map && (state === null || state instanceof Map)) return target;
        throw new WeightsError(`${where}: pickle sets state on a ${typeName(target)}, which a state dict never does`);
      },
    }, where, limits);

    const table = new Map<string, PthTensor>();
    const skipped: string[] = [];
    collect(value, root, table, skipped, where, limits);
    for (const [name, tensor] of table) await checkTensor(name, tensor, zip, root, file);
    return new PthSource(bytes, zip, root, table, skipped);
  }

  protected async rawRange(name: string, info: TensorInfo, start: number, count: number, into?: Uint8Array): Promise<Uint8Array> {
    const tensor = this.table.get(name)!;
    const { storage, offset, shape, stride } = tensor.record;
    const entry = this.zip.entry(`${this.root}/data/${storage.key}`);
    const base = await this.zip.dataStart(entry);
    const size = WEIGHT_DTYPE_BYTES[info.dtype];
    if (!this.verified.has(entry.name) && entry.size <= PthSource.wholeCheckBytes && !(tensor.contiguous && offset + start === 0 && count * size === entry.size)) {
      // A small storage read in part (a view, a chunk): check the whole storage once, so a corrupted byte
      // never loads silently. Bigger storages are checked when read front to back (uploads do that).
      checkCrc(await this.bytes.read(base, entry.size), entry, this.bytes.name);
      this.verified.add(entry.name);
    }
    if (tensor.contiguous) {
      const first = (offset + start) * size;
      const data = await this.bytes.read(base + first, count * size, into);
      this.trackCrc(entry, first, data);
      return data;
    }
    // A strided view: read the span it touches once, then gather in row-major order.
    const span = await this.readSpan(entry, base, tensor);
    const out = into ?? new Uint8Array(count * size);
    const index = new Array<number>(shape.length).fill(0);
    let rest = start;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
    }
    const first = span.first;
    for (let i = 0; i < count; i++) {
      let element = offset - first;
      for (let d = 0; d < shape.length; d++) element += index[d]! * stride[d]!;
      out.set(span.bytes.subarray(element * size, (element + 1) * size), i * size);
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++index[d]! < shape[d]!) break;
        index[d] = 0;
      }
    }
    return out;
  }

  private async readSpan(entry: ZipEntry, base: number, tensor: PthTensor): Promise<{ first: number; bytes: Uint8Array }> {
    const size = WEIGHT_DTYPE_BYTES[tensor.dtype];
    const { offset, shape, stride } = tensor.record;
    const last = offset + shape.reduce((sum, d, i) => sum + (d - 1) * stride[i]!, 0);
    const bytes = await this.bytes.read(base + offset * size, (last - offset + 1) * size);
    this.trackCrc(entry, offset * size, bytes);
    return { first: offset, bytes };
  }

  /** Feeds reads that walk a storage front to back into its CRC-32; the last piece settles it. */
  private trackCrc(entry: ZipEntry, byteOffset: number, data: Uint8Array): void {
    if (this.verified.has(entry.name)) return;
    let state = this.crcState.get(entry.name);
    if (byteOffset === 0) state = { next: 0, crc: 0 };
    if (!state || state.next !== byteOffset) return;
    state.crc = crc32(data, state.crc);
    state.next += data.byteLength;
    this.crcState.set(entry.name, state);
    if (state.next === entry.size) {
      this.crcState.delete(entry.name);
      checkCrc(data, entry, this.bytes.name, state.crc);
      this.verified.add(entry.name);
    }
  }
}

function loadStorage(id: PickleValue, storages: Map<string, StorageRef>, where: string): StorageRef {
  // ('storage', torch.FloatStorage, key, location, numel)
  if (!(id instanceof PickleTuple) || id.length !== 5 || id[0] !== 'storage') {
    throw new WeightsError(`${where}: persistent id must be ('storage', type, key, location, numel), got a ${typeName(id)}${Array.isArray(id) ? ` of ${id.length}` : ''}`);
  }
  const [, type, key, location, numel] = id;
  if (!(type instanceof PickleGlobal) || type.module !== 'torch' || !STORAGE_DTYPES[type.name]) {
    throw new WeightsError(`${where}: storage type must be one of torch.${Object.keys(STORAGE_DTYPES).join('/')}, got ${typeName(type)}`);
  }
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) throw new WeightsError(`${where}: storage key ${JSON.stringify(key)} is not a plain name`);
  if (typeof location !== 'string') throw new WeightsError(`${where}: storage '${key}' location must be a string`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new WeightsError(`${where}: storage '${key}' has invalid size ${String(numel)}`);
  const dtype = STORAGE_DTYPES[type.name]!;
  const known = storages.get(key);
  if (known) {
    if (known.dtype !== dtype || known.numel !== numel) throw new WeightsError(`${where}: storage '${key}' is described twice differently`);
    return known;
  }
  const storage: StorageRef = { kind: 'storage', key, dtype, numel };
  storages.set(key, storage);
  return storage;
}

function reduce(callable: PickleGlobal, args: PickleValue[], where: string): PickleValue {
  switch (callable.qualified) {
    case 'collections.OrderedDict':
      if (args.length !== 0) throw new WeightsError(`${where}: OrderedDict called with ${args.length} arguments; torch.save writes it empty`);
      return new Map();
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args.length < 6 || args.length > 7) throw new WeightsError(`${where}: _rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
      const [storage, offset, size, stride] = args;
      if (!isStorage(storage)) throw new WeightsError(`${where}: _rebuild_tensor_v2 expects a storage first, got ${typeName(storage)}`);
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new WeightsError(`${where}: tensor storage offset ${String(offset)} is invalid`);
      const shape = intTuple(size, 'size', where);
      const strides = intTuple(stride, 'stride', where);
      if (shape.length !== strides.length) throw new WeightsError(`${where}: tensor size (${shape.join(', ')}) and stride (${strides.join(', ')}) differ in rank`);
      const record: TensorRecord = { kind: 'tensor', storage, offset, shape, stride: strides };
      return record as unknown as PickleValue;
    }
    case 'torch._utils._rebuild_parameter': {
      // (data, requires_grad, backward_hooks): a Parameter is its data here.
      const [data] = args;
      if (!isTensor(data)) throw new WeightsError(`${where}: _rebuild_parameter expects a tensor, got ${typeName(data)}`);
      return data as unknown as PickleValue;
    }
    default:
      throw new WeightsError(`${where}: ${callable.qualified} cannot be called`);
  }
}

function intTuple(value: PickleValue, what: string, where: string): number[] {
  if (!(value instanceof PickleTuple) || !value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
    throw new WeightsError(`${where}: tensor ${what} must be a tuple of non-negative integers`);
  }
  return [...value] as number[];
}

function isStorage(value: unknown): value is StorageRef {
  return typeof value === 'object' && value !== null && (value as StorageRef).kind === 'storage';
}

function isTensor(value: unknown): value is TensorRecord {
  return typeof value === 'object' && value !== null && (value as TensorRecord).kind === 'tensor';
}

export interface WalkLimits {
  /** Nesting of dicts and lists around a tensor (a state dict has 1–3). */
  maxDepth: number;
  /** Values visited by the walk; shared references are visited once per path to them (a state dict of N tensors takes about N). */
  maxVisits: number;
  /** Paths by which one list or dict may be reached (a dict saved under two names is reached by two). */
  maxShares: number;
}

export const DEFAULT_WALK_LIMITS: Readonly<WalkLimits> = { maxDepth: 64, maxVisits: 1_000_000, maxShares: 16 };

/**
 * Names every tensor in the unpickled value: dict keys and list indices joined with '.'. Iterative, with
 * the path's containers tracked (a container inside itself is refused) and a budget of visits, since a
 * few hundred bytes of pickle can describe a graph of shared references whose paths number 2^40.
 */
function collect(value: PickleValue, root: string, table: Map<string, PthTensor>, skipped: string[], where: string, limits: Partial<WalkLimits> = {}): void {
  const { maxDepth, maxVisits, maxShares } = { ...DEFAULT_WALK_LIMITS, ...limits };
  const reached = new Map<object, number>();
  // Names are built only when needed (a tensor, a skipped value, an error): most visits of a hostile
  // graph are containers, and spelling each one's path would cost as much as the walk itself.
  interface Visit { value: PickleValue; parent: Visit | null; key: string; depth: number }
  const nameOf = (visit: Visit): string => {
    const keys: string[] = [];
    for (let v: Visit | null = visit; v && v.parent; v = v.parent) keys.push(v.key);
    return keys.length === 0 ? root : keys.reverse().join('.');
  };
  const work: (Visit | { leave: object })[] = [{ value, parent: null, key: '', depth: 0 }];
  const onPath = new Set<object>();
  let visits = 0;
  while (work.length > 0) {
    const frame = work.pop()!;
    if ('leave' in frame) {
      onPath.delete(frame.leave);
      continue;
    }
    const { value: item, depth } = frame;
    if (++visits > maxVisits) throw new WeightsError(`${where}: the pickle's values take more than ${maxVisits} steps to walk (limit maxVisits; shared references repeat them), which no state dict needs`);
    if (isTensor(item)) {
      const name = nameOf(frame);
      if (table.has(name)) throw new WeightsError(`${where}: two tensors are named '${name}'`);
      const { shape, stride } = item;
      let expected = 1;
      let contiguous = true;
      for (let d = shape.length - 1; d >= 0; d--) {
        if (shape[d]! !== 1 && stride[d] !== expected) contiguous = false;
        expected *= shape[d]!;
      }
      table.set(name, { dtype: item.storage.dtype, shape, record: item, contiguous });
      continue;
    }
    const isList = Array.isArray(item) && !(item instanceof Uint8Array);
    if (!(item instanceof Map) && !isList) {
      skipped.push(nameOf(frame));
      continue;
    }
    const container = item as object;
    if (onPath.has(container)) throw new WeightsError(`${where}: '${nameOf(frame)}' contains itself (a self-referencing ${typeName(item)}), which no state dict does`);
    if (depth >= maxDepth) throw new WeightsError(`${where}: values nest deeper than ${maxDepth} levels at '${nameOf(frame)}' (limit maxDepth)`);
    const times = (reached.get(container) ?? 0) + 1;
    if (times > maxShares) {
      throw new WeightsError(`${where}: one ${typeName(item)} is reached by more than ${maxShares} paths (last '${nameOf(frame)}'; limit maxShares): shared references that multiply the work, which no state dict needs`);
    }
    reached.set(container, times);
    onPath.add(container);
    work.push({ leave: container });
    // Pushed last to first, so tensors keep the pickle's order.
    if (item instanceof Map) {
      const entries = [...item];
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        if (typeof key !== 'string' && typeof key !== 'number') throw new WeightsError(`${where}: dict key of type ${typeName(key)} cannot name a tensor`);
        work.push({ value: child, parent: frame, key: String(key), depth: depth + 1 });
      }
    } else {
      const list = item as PickleValue[];
      for (let i = list.length - 1; i >= 0; i--) work.push({ value: list[i]!, parent: frame, key: String(i), depth: depth + 1 });
    }
  }
}

async function checkTensor(name: string, tensor: PthTensor, zip: ZipArchive, root: string, file: string): Promise<void> {
  const { storage, offset, shape, stride } = tensor.record;
  const count = shapeElements(shape, `${file}: tensor '${name}'`);
  const entryName = `${root}/data/${storage.key}`;
  if (!zip.entries.has(entryName)) throw new WeightsError(`${file}: tensor '${name}' needs storage '${entryName}', which the zip lacks`);
  const entry = zip.entry(entryName);
  const bytes = storage.numel * WEIGHT_DTYPE_BYTES[storage.dtype];
  if (entry.size !== bytes) {
    throw new WeightsError(`${file}: storage '${entryName}' holds ${entry.size} bytes but the pickle says ${storage.numel} ${storage.dtype} elements (${bytes} bytes)`);
  }
  if (count === 0) return;
  // A view may skip elements, never repeat them: a stride of 0 (expand) or strides that make elements
  // overlap would let a small storage stand for a tensor bigger than the file.
  if (count > storage.numel) {
    throw new WeightsError(`${file}: tensor '${name}' of shape [${shape.join(', ')}] has ${count} elements but its storage holds ${storage.numel}: an expanded or overlapping view, which geolens refuses`);
  }
  const dims = shape.map((size, i) => ({ size, stride: stride[i]! })).filter((d) => d.size > 1).sort((a, b) => a.stride - b.stride);
  let span = 1;
  for (const d of dims) {
    if (d.stride < span) {
      throw new WeightsError(`${file}: tensor '${name}' of shape [${shape.join(', ')}] with stride [${stride.join(', ')}] reuses storage elements (stride ${d.stride} < ${span}): an expanded or overlapping view, which geolens refuses`);
    }
    span = d.stride * (d.size - 1) + span;
  }
  const last = offset + shape.reduce((sum, d, i) => sum + (d - 1) * stride[i]!, 0);
  if (!Number.isSafeInteger(last) || last >= storage.numel) {
    throw new WeightsError(`${file}: tensor '${name}' of shape [${shape.join(', ')}] (offset ${offset}, stride [${stride.join(', ')}]) reaches element ${last} of a storage of ${storage.numel}`);
  }
  await zip.dataStart(entry);
}

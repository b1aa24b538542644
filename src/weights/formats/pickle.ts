import { WeightsError } from '../../io/errors.js';

/**
 * A restricted unpickler for what `torch.save(state_dict)` writes, and nothing more. It never calls
 * anything by name: a GLOBAL is accepted only when `allowGlobal` vouches for it, REDUCE and BUILD are
 * handed to callbacks that build plain data, and every opcode that could construct arbitrary objects
 * (INST, OBJ, NEWOBJ, EXT*, text PERSID) is refused. Unknown opcodes are refused too.
 */

/** A module-level name a pickle referred to, e.g. torch._utils._rebuild_tensor_v2. */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A pickled tuple; kept apart from lists only so messages can say which was found. */
export class PickleTuple extends Array<PickleValue> {}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | PickleGlobal
  | { readonly [key: string]: unknown };

export interface UnpickleHooks {
  /** Says whether a global may be referenced (it will only ever be passed to `reduce`). */
  allowGlobal(module: string, name: string): boolean;
  /** REDUCE: `callable(*args)` for an allowed global, returning plain data. */
  reduce(callable: PickleGlobal, args: PickleValue[]): PickleValue;
  /** BINPERSID: the tuple torch writes for each storage. */
  persistentLoad(id: PickleValue): PickleValue;
  /** BUILD: `target.__setstate__(state)`; return the updated target. */
  build?(target: PickleValue, state: PickleValue): PickleValue;
}

const OPCODE_NAMES: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x50: 'PERSID', 0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x70: 'PUT',
  0x67: 'GET', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER', 0x8b: 'LONG4',
};

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

/**
 * Work bounds of one unpickle. A state dict's pickle is a few hundred bytes per tensor, so the defaults
 * are far above any real checkpoint (ViT-L/14: ~100 KB, ~10k values) and far below what exhausts a process.
 */
export interface UnpickleLimits {
  /** Bytes of pickle accepted at all. */
  maxBytes: number;
  /** Values pushed on the stack, in total (every opcode that makes or fetches a value counts one). */
  maxObjects: number;
  /** Memo entries (PUT / MEMOIZE). */
  maxMemo: number;
  /** Memo fetches (GET): each is a shared reference that a walk would otherwise visit again. */
  maxMemoRefs: number;
  /**
   * Nesting of lists, tuples and dicts as they are built. Deep chains are refused early because keeping
   * them alive is itself slow (the collector traces the whole chain at every pass); the walk over the
   * result checks depth again, exactly.
   */
  maxDepth: number;
}

export const DEFAULT_UNPICKLE_LIMITS: Readonly<UnpickleLimits> = {
  maxBytes: 256 << 20,
  maxObjects: 10_000_000,
  maxMemo: 1_000_000,
  maxMemoRefs: 1_000_000,
  maxDepth: 64,
};

export function unpickle(data: Uint8Array, hooks: UnpickleHooks, where: string, limits: Partial<UnpickleLimits> = {}): PickleValue {
  const bound = { ...DEFAULT_UNPICKLE_LIMITS, ...limits };
  if (data.byteLength > bound.maxBytes) throw new WeightsError(`${where}: pickle of ${data.byteLength} bytes exceeds the limit of ${bound.maxBytes} bytes (maxBytes)`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  // Stack positions of the MARKs, innermost last: popping to a mark costs nothing to find it.
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let objects = 0;
  let memoRefs = 0;
  const depths = new WeakMap<object, number>();
  const depthOf = (value: PickleValue): number => (typeof value === 'object' && value !== null ? (depths.get(value) ?? 1) : 0);
  /** Records that `items` now sit inside `container`; refuses nesting beyond maxDepth. */
  const nest = (container: object, items: readonly PickleValue[]): void => {
    let depth = depths.get(container) ?? 1;
    for (const item of items) depth = Math.max(depth, depthOf(item) + 1);
    if (depth > bound.maxDepth) fail(`nests lists, tuples or dicts deeper than ${bound.maxDepth} levels (limit maxDepth)`);
    depths.set(container, depth);
  };
  let p = 0;

  const fail = (message: string, at = p): never => {
    throw new WeightsError(`${where}: pickle ${message} (at byte ${at})`);
  };
  const push = (value: StackItem): void => {
    if (++objects > bound.maxObjects) fail(`makes more than ${bound.maxObjects} values (limit maxObjects)`);
    if (value === MARK) marks.push(stack.length);
    stack.push(value);
  };
  const remember = (key: number): void => {
    if (!memo.has(key) && memo.size >= bound.maxMemo) fail(`stores more than ${bound.maxMemo} memo entries (limit maxMemo)`);
    memo.set(key, top());
  };
  const need = (n: number): number => {
    if (n < 0 || p + n > data.length) fail(`is truncated: ${n} more bytes needed, ${data.length - p} left`);
    const at = p;
    p += n;
    return at;
  };
  const u8 = (): number => data[need(1)]!;
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): number => {
    const at = need(8);
    const value = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
    if (!Number.isSafeInteger(value)) fail(`length ${value} out of range`, at);
    return value;
  };
  const text = (n: number): string => {
    const at = need(n);
    try {
      return decoder.decode(data.subarray(at, at + n));
    } catch {
      return fail('string is not valid UTF-8', at);
    }
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, p);
    if (end < 0) fail('GLOBAL name lacks its newline');
    const value = text(end - p);
    p++;
    return value;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('pops an empty stack');
    const item = stack[stack.length - 1];
    if (item === MARK) fail('pops a MARK as a value');
    stack.pop();
    return item as PickleValue;
  };
  const top = (): PickleValue => {
    const item = stack[stack.length - 1];
    if (item === undefined || item === MARK) fail('needs a value on the stack');
    return item as PickleValue;
  };
  const popToMark = (): PickleValue[] => {
    const at = marks.pop();
    if (at === undefined) fail('has no MARK to pop to');
    const items = stack.splice(at!) as PickleValue[];
    items.shift();
    return items;
  };
  const tuple = (items: PickleValue[]): PickleTuple => {
    const t = new PickleTuple();
    nest(t, items);
    // A loop, not push(...items): a spread of a few hundred thousand items overflows the call stack.
    for (const item of items) t.push(item);
    return t;
  };
  const global = (module: string, name: string, at: number): PickleGlobal => {
    if (!hooks.allowGlobal(module, name)) {
      fail(`refers to the global '${module}.${name}', which is not something torch.save(state_dict) writes; geolens refuses to load it (it never runs code from a checkpoint)`, at);
    }
    return new PickleGlobal(module, name);
  };
  const setItems = (target: PickleValue, items: PickleValue[], at: number): void => {
    if (!(target instanceof Map)) fail(`sets items on a ${typeName(target)}, not a dict`, at);
    if (items.length % 2) fail('SETITEMS with an odd number of values', at);
    nest(target as object, items);
    for (let i = 0; i < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i]!, items[i + 1]!);
  };
  const append = (target: PickleValue, items: PickleValue[], at: number): void => {
    if (!Array.isArray(target) || target instanceof PickleTuple) fail(`appends to a ${typeName(target)}, not a list`, at);
    nest(target as object, items);
    for (const item of items) (target as PickleValue[]).push(item);
  };

  while (p < data.length) {
    const at = p;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('protocol above 5', at);
        break;
      case 0x95: // FRAME: only a length hint
        u64();
        break;
      case 0x28: push(MARK); break;
      case 0x29: push(tuple([])); break;
      case 0x5d: push([]); break;
      case 0x7d: push(new Map()); break;
      case 0x74: push(tuple(popToMark())); break;
      case 0x85: push(tuple([pop()])); break;
      case 0x86: { const b = pop(); const a = pop(); push(tuple([a, b])); break; }
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(tuple([a, b, c])); break; }
      case 0x6c: { const items = popToMark(); nest(items, items); push(items); break; } // LIST
      case 0x64: { const items = popToMark(); const d = new Map(); setItems(d, items, at); push(d); break; } // DICT
      case 0x61: { const item = pop(); append(top(), [item], at); break; } // APPEND
      case 0x65: { const items = popToMark(); append(top(), items, at); break; } // APPENDS
      case 0x73: { const value = pop(); const key = pop(); setItems(top(), [key, value], at); break; } // SETITEM
      case 0x75: { const items = popToMark(); setItems(top(), items, at); break; } // SETITEMS
      case 0x71: remember(u8()); break; // BINPUT
      case 0x72: remember(u32()); break; // LONG_BINPUT
      case 0x94: remember(memo.size); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`gets memo entry ${key}, which was never put`, at);
        if (++memoRefs > bound.maxMemoRefs) fail(`fetches memo entries more than ${bound.maxMemoRefs} times (limit maxMemoRefs)`, at);
        push(memo.get(key)!);
        break;
      }
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x4a: push(view.getInt32(need(4), true)); break; // BININT
      case 0x8a: { // LONG1: little-endian two's complement
        const n = u8();
        const start = need(n);
        let value = 0n;
        for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[start + i]!);
        if (n > 0 && data[start + n - 1]! & 0x80) value -= 1n << BigInt(8 * n);
        push(value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value);
        break;
      }
      case 0x47: push(view.getFloat64(need(8), false)); break; // BINFLOAT
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64())); break; // BINUNICODE8
      case 0x55: push(text(u8())); break; // SHORT_BINSTRING
      case 0x54: push(text(u32())); break; // BINSTRING
      case 0x43: case 0x42: case 0x8e: { // SHORT_BINBYTES, BINBYTES, BINBYTES8
        const n = op === 0x43 ? u8() : op === 0x42 ? u32() : u64();
        const start = need(n);
        push(data.slice(start, start + n));
        break;
      }
      case 0x88: push(true); break;
      case 0x89: push(false); break;
      case 0x4e: push(null); break;
      case 0x63: { const module = line(); const name = line(); push(global(module, name, at)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings', at);
        push(global(module as string, name as string, at));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PickleGlobal)) fail(`calls a ${typeName(callable)}, not an allowed global`, at);
        if (!(args instanceof PickleTuple)) fail(`calls ${(callable as PickleGlobal).qualified} with a ${typeName(args)} instead of an argument tuple`, at);
        push(hooks.reduce(callable as PickleGlobal, [...(args as PickleTuple)]));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const target = pop();
        if (!hooks.build) fail('uses BUILD, which is not allowed here', at);
        push(hooks.build!(target, state));
        break;
      }
      case 0x51: push(hooks.persistentLoad(pop())); break; // BINPERSID
      case 0x30: pop(); break; // POP
      case 0x31: popToMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x2e: { // STOP
        const result = pop();
        if (stack.length !== 0) fail(`stops with ${stack.length} values left on the stack`, at);
        if (p !== data.length) fail(`has ${data.length - p} bytes after STOP`, at);
        return result;
      }
      default: {
        const name = OPCODE_NAMES[op];
        fail(name ? `uses opcode ${name}, which torch.save(state_dict) never writes and geolens refuses` : `has unknown opcode 0x${op.toString(16).padStart(2, '0')}`, at);
      }
    }
  }
  return fail('ends without STOP');
}

export function typeName(value: unknown): string {
  if (value === null) return 'None';
  if (value instanceof PickleTuple) return 'tuple';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Map) return 'dict';
  if (value instanceof PickleGlobal) return `global ${value.qualified}`;
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value;
}

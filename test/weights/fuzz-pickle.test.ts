import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseGalleryCsv } from '../../src/model/geoclip/gallery.js';
import { GeolensError } from '../../src/runtime/index.js';
import { MemoryByteSource, PthSource } from '../../src/weights/index.js';
import { seededRandom } from '../support/numeric.js';
import { PickleWriter, pthZip } from './pth-builder.js';

/**
 * Joins the byte-level fuzz (fuzz.test.ts) at the next level up: random programs of pickle opcodes, with
 * well-formed arguments, so the unpickler's structure building, memo, globals, REDUCE/BUILD and the tensor
 * walk are reached, not only its byte checks; and character-level mutations of a real gallery CSV.
 * Allowed outcomes: a GeolensError, or a result checked here (every tensor reads as many values as its
 * shape says; every CSV value equals an independent decimal reading). Seeded, bounded, a few seconds.
 */

const TIME_LIMIT_MS = 2000;
const STORAGE = new Float32Array(Array.from({ length: 16 }, (_, i) => i * 0.5 - 3));

type Random = () => number;

/** One random opcode with plausible arguments, appended to the writer. */
function randomOp(w: PickleWriter, random: Random): void {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const small = () => Math.floor(random() * 6);
  switch (Math.floor(random() * 24)) {
    case 0: w.op(0x28); break; // MARK
    case 1: w.op(0x5d); break; // EMPTY_LIST
    case 2: w.op(0x7d); break; // EMPTY_DICT
    case 3: w.op(0x29); break; // EMPTY_TUPLE
    case 4: w.op(pick([0x74, 0x85, 0x86, 0x87])); break; // TUPLE, TUPLE1-3
    case 5: w.op(pick([0x61, 0x65])); break; // APPEND, APPENDS
    case 6: w.op(pick([0x73, 0x75, 0x64, 0x6c])); break; // SETITEM, SETITEMS, DICT, LIST
    case 7: w.put(small()); break;
    case 8: w.get(small()); break;
    case 9: w.op(0x94); break; // MEMOIZE
    case 10: w.str(pick(['storage', 'cpu', '0', 'weight', 'a.b', 'w'])); break;
    case 11: w.int(pick([0, 1, 2, 3, 4, 16, 1 << 20, -1])); break;
    case 12: w.op(0x4b, small()); break; // BININT1
    case 13: {
      const [module, name] = pick([['torch._utils', '_rebuild_tensor_v2'], ['collections', 'OrderedDict'], ['torch', 'FloatStorage'], ['torch._utils', '_rebuild_parameter'], ['os', 'system'], ['builtins', 'eval']]);
      w.global(module!, name!);
      break;
    }
    case 14: w.op(0x52); break; // REDUCE
    case 15: w.op(0x62); break; // BUILD
    case 16: w.op(0x51); break; // BINPERSID
    case 17: w.op(pick([0x88, 0x89, 0x4e])); break; // True, False, None
    case 18: w.op(pick([0x30, 0x31, 0x32])); break; // POP, POP_MARK, DUP
    case 19: w.tensor('0', 16, small(), [small(), small()], [small(), small()]); break;
    case 20: w.tensor('0', pick([16, 15, 1 << 30]), 0, [4, 4], [4, 1]); break;
    case 21: w.op(pick([0x69, 0x6f, 0x81, 0x82, 0x50, 0x4c, 0x8b, 0x96, 0x97, 0xff])); break; // refused opcodes
    case 22: w.op(0x47, ...Array.from({ length: 8 }, () => Math.floor(random() * 256))); break; // BINFLOAT
    default: w.op(0x7d).str('t').tensor('0', 16, 0, [4, 4], [4, 1]).op(0x73); break; // a valid {'t': tensor}
  }
}

/**
 * A state-dict-shaped program: {key: value, …} with values drawn from tensors with random (often hostile)
 * offsets, shapes and strides, lists and dicts of them, memo references to earlier values, and now and
 * then a random opcode spliced in.
 */
function stateDictProgram(w: PickleWriter, random: Random): void {
  const small = () => Math.floor(random() * 5);
  let memo = 0;
  const value = (depth: number): void => {
    const r = random();
    if (r < 0.45 || depth > 2) {
      if (random() < 0.75) {
        // A view that fits: [a, b] row-major or transposed, at an offset that keeps it inside.
        const a = 1 + small();
        const b = 1 + Math.floor(random() * Math.floor(16 / a));
        const transposed = random() < 0.3;
        w.tensor('0', 16, Math.floor(random() * (17 - a * b)), transposed ? [b, a] : [a, b], transposed ? [1, b] : [b, 1]);
      } else {
        w.tensor('0', random() < 0.9 ? 16 : 15, small(), Array.from({ length: 1 + small() % 3 }, small), Array.from({ length: 1 + small() % 3 }, small));
      }
    } else if (r < 0.6 && memo > 0) {
      w.get(Math.floor(random() * memo));
      return;
    } else if (r < 0.8) {
      w.op(0x5d, 0x28);
      for (let i = small(); i > 0; i--) value(depth + 1);
      w.op(0x65);
    } else if (r < 0.9) {
      w.op(0x7d, 0x28);
      for (let i = small(); i > 0; i--) { w.str(`k${i}`); value(depth + 1); }
      w.op(0x75);
    } else {
      w.int(small());
    }
    w.put(memo++);
    if (random() < 0.1) randomOp(w, random);
  };
  w.op(0x7d, 0x28);
  for (let i = 1 + small(); i > 0; i--) {
    w.str(`layer${i}.weight`);
    value(0);
  }
  w.op(0x75);
}

async function withTimeout<T>(work: Promise<T>, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: ${label} took over ${TIME_LIMIT_MS} ms`)), TIME_LIMIT_MS)));
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

test('fuzz: 3,000 random pickle programs (opcodes, memo, globals, REDUCE, views) are refused with a GeolensError or read right', async () => {
  const random = seededRandom(41);
  const storage = new Uint8Array(STORAGE.buffer);
  let refused = 0;
  let loaded = 0;
  let tensors = 0;
  const started = performance.now();
  for (let run = 0; run < 3000; run++) {
    const w = new PickleWriter();
    const ops = 1 + Math.floor(random() * (run % 10 === 0 ? 400 : 40));
    if (run % 2) for (let i = 0; i < ops; i++) randomOp(w, random);
    else stateDictProgram(w, random);
    const bytes = pthZip({ 'data.pkl': w.bytes(), 'data/0': storage });
    const label = `run ${run} (${ops} opcodes)`;
    const result = await withTimeout((async () => {
      const source = await PthSource.open(new MemoryByteSource(bytes, 'fuzz.pth'));
      for (const [name, info] of source.tensors) {
        const values = await source.readF32(name);
        assert.is(values.length, info.shape.reduce((a, b) => a * b, 1), `${label}: ${name} length`);
        // Every value comes from the storage: views never invent data.
        for (const v of values) assert.ok(STORAGE.includes(v), `${label}: ${name} holds ${v}, not a storage value`);
        tensors++;
      }
      return source;
    })().then(() => true, (error: unknown) => {
      if (error instanceof GeolensError) return false;
      throw new Error(`${label}: not a GeolensError: ${(error as Error).stack ?? error}`);
    }), label);
    if (result) loaded++;
    else refused++;
  }
  console.log(`\n    pickle fuzz: 3000 programs, ${refused} refused with a GeolensError, ${loaded} loaded (${tensors} tensors checked), ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(loaded > 300 && refused > 1500, `both outcomes reached: ${loaded} loaded, ${refused} refused`);
});

/** An independent reading of a LAT,LON CSV: the header names the columns; each cell is a plain decimal. */
function referenceCsv(text: string): number[] | null {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length < 2) return null;
  const header = lines[0]!.split(',').map((h) => h.trim().replace(/^"|"$/g, '').toUpperCase());
  const lat = header.indexOf('LAT');
  const lon = header.indexOf('LON');
  if (lat < 0 || lon < 0) return null;
  const out: number[] = [];
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    const values = [cells[lat], cells[lon]].map((cell) => {
      const t = (cell ?? '').trim().replace(/^"|"$/g, '');
      return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? parseFloat(t) : NaN;
    });
    if (!values.every(Number.isFinite) || Math.abs(values[0]!) > 90 || Math.abs(values[1]!) > 180) return null;
    out.push(Math.fround(values[0]!), Math.fround(values[1]!));
  }
  return out;
}

test('fuzz: 3,000 character mutations of the real gallery CSV are refused with a GeolensError or read as decimals', () => {
  const original = readFileSync('../shared/data/geoclip/coordinates_100K.csv', 'utf8').split('\n').slice(0, 60).join('\n') + '\n';
  const random = seededRandom(43);
  const alphabet = ['0', '1', '9', '.', '-', '+', 'e', 'E', 'x', 'b', 'o', '_', ',', '\n', '\r', '"', ' ', 'I', 'n', 'f', 'N', 'a', '\0', '\u00a0', 'é', '0x1', 'Infinity', '1e999'];
  let refused = 0;
  let parsed = 0;
  const started = performance.now();
  for (let run = 0; run < 3000; run++) {
    let text = original;
    for (let m = 0; m < 1 + Math.floor(random() * 3); m++) {
      const at = Math.floor(random() * text.length);
      const what = alphabet[Math.floor(random() * alphabet.length)]!;
      const kind = Math.floor(random() * 3);
      text = kind === 0 ? text.slice(0, at) + what + text.slice(at) : kind === 1 ? text.slice(0, at) + what + text.slice(at + 1) : text.slice(0, at) + text.slice(at + 1);
    }
    let result: Float32Array | null = null;
    try {
      result = parseGalleryCsv(text);
    } catch (error) {
      if (!(error instanceof GeolensError)) throw new Error(`run ${run}: not a GeolensError: ${(error as Error).stack}`);
      refused++;
      continue;
    }
    parsed++;
    const reference = referenceCsv(text);
    assert.ok(reference, `run ${run}: parsed a file the reference refuses:\n${JSON.stringify(text.slice(0, 200))}`);
    assert.equal(Array.from(result), reference, `run ${run}: values`);
  }
  console.log(`\n    CSV fuzz: 3000 mutations, ${refused} refused with a GeolensError, ${parsed} parsed and checked, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(parsed > 100 && refused > 100);
});

test.run();

import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { halfToFloat } from '../../src/runtime/index.js';
import { GeolensError } from '../../src/runtime/index.js';
import { openWeights, ZipArchive, MemoryByteSource, type RangedWeightSource } from '../../src/weights/index.js';
import { seededRandom } from '../support/numeric.js';
import { FIXTURES } from './support.js';

/**
 * Mutates valid files thousands of times (byte flips, special bytes, truncations, insertions, deletions,
 * biased toward headers and pickles where the parsing happens) and loads every tensor of each. Allowed:
 * a GeolensError, or a load that is right. "Right" is checked independently of the readers:
 *  - safetensors: header re-parsed here, every tensor decoded here from the bytes its offsets name;
 *  - .pth: a mutation inside a storage's bytes must never load values that differ from the original
 *    (the CRC catches it); every load returns as many values as its shape says.
 * Each load must finish within a time limit (no hang).
 */

const TIME_LIMIT_MS = 2000;

interface Counts {
  loads: number;
  refused: number;
}

function mutate(original: Uint8Array, random: () => number, focusEnd: number): { bytes: Uint8Array; at: number; kind: string } {
  const pick = (n: number) => Math.floor(random() * n);
  // Two thirds of the mutations land where the parsing happens.
  const at = random() < 0.67 ? pick(Math.min(focusEnd, original.length)) : pick(original.length);
  const kind = ['flip', 'special', 'truncate', 'insert', 'delete', 'multi'][pick(6)]!;
  const specials = [0x00, 0xff, 0x7f, 0x80, 0x22, 0x2c, 0x7b, 0x7d, 0x5b, 0x5d, 0x30, 0x39, 0x2d, 0x2e, 0x52, 0x51, 0x63, 0x4b, 0x4a, 0x8a];
  let bytes = original.slice();
  switch (kind) {
    case 'flip':
      bytes[at] ^= 1 << pick(8);
      break;
    case 'special':
      bytes[at] = specials[pick(specials.length)]!;
      break;
    case 'truncate':
      bytes = bytes.slice(0, at);
      break;
    case 'insert': {
      const out = new Uint8Array(bytes.length + 1);
      out.set(bytes.subarray(0, at));
      out[at] = specials[pick(specials.length)]!;
      out.set(bytes.subarray(at), at + 1);
      bytes = out;
      break;
    }
    case 'delete':
      bytes = new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
      break;
    case 'multi':
      for (let i = 0; i < 4; i++) bytes[pick(Math.min(focusEnd, bytes.length))] = pick(256);
      break;
  }
  return { bytes, at, kind };
}

async function withTimeout<T>(work: Promise<T>, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${label} took over ${TIME_LIMIT_MS} ms`)), TIME_LIMIT_MS);
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Loads every tensor; returns null when refused with a GeolensError, rethrows anything else. */
async function loadAll(bytes: Uint8Array): Promise<{ source: RangedWeightSource; values: Map<string, Float32Array> } | null> {
  try {
    const source = await openWeights(bytes);
    const values = new Map<string, Float32Array>();
    for (const name of source.tensors.keys()) values.set(name, await source.readF32(name));
    return { source, values };
  } catch (error) {
    if (error instanceof GeolensError) return null;
    throw error;
  }
}

/** Independent safetensors decoding of what a loaded file should hold. */
function decodeSafetensors(bytes: Uint8Array): Map<string, { dtype: string; shape: number[]; values: Float32Array }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { dtype: string; shape: number[]; values: Float32Array }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = entry.data_offsets;
    const base = 8 + length + begin;
    const size = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }[entry.dtype]!;
    const n = (end - begin) / size;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const p = base + i * size;
      switch (entry.dtype) {
        case 'F32': values[i] = view.getFloat32(p, true); break;
        case 'F16': values[i] = halfToFloat(view.getUint16(p, true)); break;
        case 'BF16': {
          const scratch = new DataView(new ArrayBuffer(4));
          scratch.setUint16(2, view.getUint16(p, true), true);
          values[i] = scratch.getFloat32(0, true);
          break;
        }
        case 'F64': values[i] = view.getFloat64(p, true); break;
        case 'I64': values[i] = Number(view.getBigInt64(p, true)); break;
        case 'I32': values[i] = view.getInt32(p, true); break;
        case 'I16': values[i] = view.getInt16(p, true); break;
        case 'I8': values[i] = view.getInt8(p); break;
        case 'U8': values[i] = view.getUint8(p); break;
        case 'BOOL': values[i] = view.getUint8(p) ? 1 : 0; break;
      }
    }
    out.set(name, { dtype: entry.dtype, shape: entry.shape, values });
  }
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

async function fuzzSafetensors(file: string, runs: number, seed: number, counts: Counts): Promise<void> {
  const original = new Uint8Array(readFileSync(file));
  const headerEnd = 8 + new DataView(original.buffer, original.byteOffset).getUint32(0, true);
  const random = seededRandom(seed);
  for (let run = 0; run < runs; run++) {
    const { bytes, at, kind } = mutate(original, random, headerEnd);
    const label = `${file} run ${run} (${kind} at ${at})`;
    const loaded = await withTimeout(loadAll(bytes), label);
    if (!loaded) {
      counts.refused++;
      continue;
    }
    counts.loads++;
    const expected = decodeSafetensors(bytes);
    assert.equal([...loaded.values.keys()].sort(), [...expected.keys()].sort(), `${label}: names`);
    for (const [name, want] of expected) {
      const info = loaded.source.tensors.get(name)!;
      assert.is(info.dtype, want.dtype, `${label}: ${name} dtype`);
      assert.equal(info.shape, want.shape, `${label}: ${name} shape`);
      assert.is(want.values.length, want.shape.reduce((a, b) => a * b, 1), `${label}: ${name} byte length fits shape`);
      assert.ok(sameBits(loaded.values.get(name)!, want.values), `${label}: ${name} values differ from the bytes its offsets name`);
    }
  }
}

async function fuzzPth(file: string, runs: number, seed: number, counts: Counts): Promise<void> {
  const original = new Uint8Array(readFileSync(file));
  const clean = (await loadAll(original))!;
  // Byte ranges of every storage's data, and where the pickle ends (the focus of mutations).
  const zip = await ZipArchive.open(new MemoryByteSource(original));
  const storages: [number, number][] = [];
  let pickleEnd = 0;
  for (const entry of zip.entries.values()) {
    const start = await zip.dataStart(entry);
    if (entry.name.includes('/data/')) storages.push([start, start + entry.size]);
    if (entry.name.endsWith('data.pkl')) pickleEnd = start + entry.size;
  }
  const random = seededRandom(seed);
  for (let run = 0; run < runs; run++) {
    // Mutations alternate between the pickle region and the whole file (central directory included).
    const { bytes, at, kind } = mutate(original, random, run % 2 ? pickleEnd : original.length);
    const label = `${file} run ${run} (${kind} at ${at})`;
    const loaded = await withTimeout(loadAll(bytes), label);
    if (!loaded) {
      counts.refused++;
      continue;
    }
    counts.loads++;
    for (const [name, values] of loaded.values) {
      const shape = loaded.source.tensors.get(name)!.shape;
      assert.is(values.length, shape.reduce((a, b) => a * b, 1), `${label}: ${name} length`);
    }
    const inStorage = (kind === 'flip' || kind === 'special') && storages.some(([s, e]) => at >= s && at < e);
    if (inStorage && bytes[at] !== original[at]) {
      for (const [name, values] of loaded.values) {
        const before = clean.values.get(name);
        assert.ok(before && sameBits(values, before), `${label}: corrupted storage byte loaded silently into '${name}'`);
      }
    }
  }
}

test('fuzz: 2,600 mutations of valid safetensors and .pth files never crash, hang or load wrong values silently', async () => {
  const counts: Counts = { loads: 0, refused: 0 };
  const started = performance.now();
  await fuzzSafetensors(`${FIXTURES}/mixed.safetensors`, 800, 1, counts);
  await fuzzSafetensors(`${FIXTURES}/halves.safetensors`, 400, 2, counts);
  await fuzzPth(`${FIXTURES}/mixed.pth`, 600, 3, counts);
  await fuzzPth(`${FIXTURES}/module.pth`, 300, 4, counts);
  await fuzzPth('../shared/data/geoclip/logit_scale_weights.pth', 300, 5, counts);
  await fuzzPth(`${FIXTURES}/mixed_zip64.pth`, 200, 6, counts);
  const total = counts.loads + counts.refused;
  console.log(`\n    fuzz: ${total} mutations, ${counts.refused} refused with a GeolensError, ${counts.loads} loaded and verified, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(total >= 2000);
});

test.run();

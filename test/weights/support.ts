import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { WeightSource } from '../../src/weights/index.js';

export const FIXTURES = 'test/fixtures/weights';

export interface Expected {
  dtype: string;
  shape: number[];
  values: Float32Array;
}

/** What PyTorch read from a fixture, as dumped by scripts/fixtures/weights_*.py (float32 bytes in base64). */
export function loadExpected(path: string): Map<string, Expected> {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, { dtype: string; shape: number[]; f32: string }>;
  const out = new Map<string, Expected>();
  for (const [name, entry] of Object.entries(raw)) {
    const bytes = Buffer.from(entry.f32, 'base64');
    const values = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(values.buffer).set(bytes);
    out.set(name, { dtype: entry.dtype, shape: entry.shape, values });
  }
  return out;
}

/** Bitwise equality of f32 arrays (NaN payloads aside), reporting the first differing element. */
export function assertSameF32(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.is(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Object.is(a, e)) assert.unreachable(`${label}[${i}]: got ${a}, expected ${e}`);
  }
}

/** Every tensor of `source` matches `expected`: names, dtypes, shapes and values. */
export async function assertMatches(source: WeightSource, expected: Map<string, Expected>, label: string): Promise<void> {
  assert.equal([...source.tensors.keys()].sort(), [...expected.keys()].sort(), `${label}: tensor names`);
  for (const [name, want] of expected) {
    const info = source.tensors.get(name)!;
    assert.is(info.dtype, want.dtype, `${label}: ${name} dtype`);
    assert.equal(info.shape, want.shape, `${label}: ${name} shape`);
    assertSameF32(await source.readF32(name), want.values, `${label}: ${name}`);
  }
}

/** Runs `fn` and returns the error it threw (failing when it did not throw). */
export async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

/** A safetensors file in memory, written here independently of the reader (for malformed-input tests). */
export function writeSafetensors(tensors: Record<string, { dtype: string; shape: number[]; data?: Uint8Array }>, extraHeader: Record<string, unknown> = {}): Uint8Array {
  const sizes: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
  const header: Record<string, unknown> = {};
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const length = t.data?.byteLength ?? t.shape.reduce((a, b) => a * b, 1) * (sizes[t.dtype] ?? 4);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + length] };
    blobs.push(t.data ?? new Uint8Array(length).map((_, i) => (i * 37 + offset) & 0x3f));
    offset += length;
  }
  Object.assign(header, extraHeader);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const encoded = new TextEncoder().encode(json);
  const file = new Uint8Array(8 + encoded.byteLength + offset);
  new DataView(file.buffer).setUint32(0, encoded.byteLength, true);
  file.set(encoded, 8);
  let at = 8 + encoded.byteLength;
  for (const blob of blobs) {
    file.set(blob, at);
    at += blob.byteLength;
  }
  return file;
}

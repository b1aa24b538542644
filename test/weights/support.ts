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

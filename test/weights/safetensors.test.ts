import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ShapeError } from '../../src/runtime/index.js';
import { MissingTensorError, openWeights, uploadWeight, WeightsError } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { assertMatches, assertSameF32, FIXTURES, loadExpected, rejection } from './support.js';

const MIXED = `${FIXTURES}/mixed.safetensors`;
const HALVES = `${FIXTURES}/halves.safetensors`;

test('safetensors from a path: every dtype and odd shape reads as PyTorch reads it', async () => {
  const source = await openWeights(MIXED);
  await assertMatches(source, loadExpected(`${FIXTURES}/mixed.expected.json`), 'mixed');
  assert.is(source.format, 'safetensors');
  assert.is(source.metadata.note, 'geolens fixture');
  assert.is((await source.readF32('logit_scale'))[0], Math.fround(3.681034803390503));
  await source.close();
});

test('safetensors from memory equals safetensors from a path', async () => {
  const source = await openWeights(new Uint8Array(readFileSync(MIXED)));
  await assertMatches(source, loadExpected(`${FIXTURES}/mixed.expected.json`), 'memory');
  await source.close();
});

test('readF32Range and readRaw return pieces of a tensor', async () => {
  const source = await openWeights(MIXED);
  const full = await source.readF32('big.row');
  assertSameF32(await source.readF32Range('big.row', 1000, 77), full.subarray(1000, 1077), 'range');
  // The stored bytes of half.odd, found from the file's own header (not through the reader under test).
  const file = readFileSync(MIXED);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const [begin, end] = header['half.odd']!.data_offsets;
  const stored = file.subarray(8 + headerLength + begin, 8 + headerLength + end);
  assert.is(stored.byteLength, 66, 'half.odd is 3x11 f16');
  const raw = await source.readRaw('half.odd', 3, 2);
  assert.equal([...raw], [...stored.subarray(6, 10)], 'elements 3..4');
  const whole = await source.readRaw('half.odd', 0, 33);
  assert.equal([...whole], [...stored], 'all 33 elements');
  assert.instance(await rejection(() => source.readRaw('half.odd', 30, 4)), WeightsError);
  await source.close();
});

test('uploadWeight streams f32, f16 and bf16 to f32 and packed f16 GPU tensors', async () => {
  const gpu = await testGpu();
  const source = await openWeights(HALVES);
  const expected = loadExpected(`${FIXTURES}/halves.expected.json`);
  for (const name of ['w16', 'b16', 'w32']) {
    const want = expected.get(name)!;
    const asF32 = await uploadWeight(gpu, source, name, { shape: want.shape });
    assert.equal(asF32.shape, want.shape);
    assertSameF32(await asF32.read(), want.values, `${name} as f32`);
    const asF16 = await uploadWeight(gpu, source, name, { dtype: 'f16', chunkBytes: 16 });
    assert.is(asF16.dtype, 'f16');
    // F16 keeps its bits; bf16 and f32 round to nearest half, as torch's .half() does.
    const halves = Float32Array.from(want.values, (v) => halfRound(v));
    assertSameF32(await asF16.read(), halves, `${name} as f16`);
    asF32.release();
    asF16.release();
  }
  // Chunks that split the tensor unevenly still land in place.
  const big = await openWeights(MIXED);
  const row = await uploadWeight(gpu, big, 'big.row', { chunkBytes: 40 });
  assertSameF32(await row.read(), await big.readF32('big.row'), 'big.row in 10-element chunks');
  const scalar = await uploadWeight(gpu, big, 'logit_scale', { shape: [1] });
  assert.equal(scalar.shape, [1]);
  assert.is((await scalar.read())[0], Math.fround(3.681034803390503));
  await source.close();
  await big.close();
});

test('uploadWeight names the tensor and both shapes on mismatch, and the tensor when missing', async () => {
  const gpu = await testGpu();
  const source = await openWeights(HALVES);
  const wrong = await rejection(() => uploadWeight(gpu, source, 'w16', { shape: [5, 9] }));
  assert.instance(wrong, ShapeError);
  assert.match(wrong.message, /'w16'.*\[9, 5\].*\[5, 9\]/);
  const missing = await rejection(() => uploadWeight(gpu, source, 'w17'));
  assert.instance(missing, MissingTensorError);
  assert.match(missing.message, /'w17'/);
  await source.close();
});

function halfRound(value: number): number {
  // Independent of the code under test: Math.f16round where Node has it, else the runtime's converter.
  const f16round = (Math as { f16round?: (x: number) => number }).f16round;
  if (f16round) return f16round(value);
  return halfViaBits(value);
}

function halfViaBits(value: number): number {
  // Round-to-nearest-even through the exact binary expansion; slow but obviously right.
  if (!Number.isFinite(value) || value === 0) return value;
  const sign = value < 0 ? -1 : 1;
  const a = Math.abs(value);
  if (a >= 65520) return sign * Infinity;
  const exponent = Math.max(Math.floor(Math.log2(a)), -14);
  const step = 2 ** (exponent - 10);
  const q = a / step;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && r % 2 === 1) r -= 1;
  return sign * r * step;
}

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { l2Normalize } from '../../src/kernels/l2-normalize.js';
import { LocationEncoder } from '../../src/model/geoclip/location-encoder.js';
import { sha256 } from '../../src/io/sha256.js';
import { GeolensError } from '../../src/runtime/index.js';
import { openWeights } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose } from '../support/numeric.js';
import { ENCODER_FILE, ensureLocationFixtures, GENERATED, readFixture, renamed } from './geoclip-fixtures.js';

test('full-size location encoder on 1,000 real gallery points matches PyTorch to 1e-4', async () => {
  ensureLocationFixtures();
  const gpu = await testGpu();
  const source = await openWeights(ENCODER_FILE);
  let started = performance.now();
  const encoder = await LocationEncoder.load(gpu, source);
  console.log(`  load 37.8 MB: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await source.close();
  assert.is(encoder.encodedSize, 256);
  assert.is(encoder.hiddenSize, 1024);
  assert.is(encoder.embeddingSize, 512);
  const fixture = await readFixture(`${GENERATED}/geoclip-location-1000.safetensors`);
  started = performance.now();
  const input = gpu.upload(fixture.gps!, [1000, 2]);
  const rawTensor = encoder.encode(input);
  const raw = await rawTensor.read();
  const seconds = (performance.now() - started) / 1000;
  let worst = 0;
  for (let i = 0; i < raw.length; i++) worst = Math.max(worst, Math.abs(raw[i]! - fixture.raw![i]!));
  console.log(`  location encoder, 1,000 points: max |GPU - PyTorch| = ${worst.toExponential(2)}, ${seconds.toFixed(1)} s, ${(encoder.flops(1000) / seconds / 1e9).toFixed(2)} GFLOPS`);
  assertClose(raw, fixture.raw!, 0, 1e-4, 'raw location features');
  const normalized = await l2Normalize(rawTensor).read();
  assertClose(normalized, fixture.normalized!, 0, 1e-4, 'normalized location embeddings');
  encoder.release();
});

test('f16 weights stay within 5e-4 of PyTorch (100 points)', async () => {
  ensureLocationFixtures();
  const gpu = await testGpu();
  const source = await openWeights(ENCODER_FILE);
  const encoder = await LocationEncoder.load(gpu, source, { dtype: 'f16' });
  await source.close();
  const fixture = await readFixture(`${GENERATED}/geoclip-location-1000.safetensors`);
  const raw = await encoder.encode(gpu.upload(fixture.gps!.subarray(0, 200), [100, 2])).read();
  const expected = fixture.raw!.subarray(0, 100 * 512);
  let worst = 0;
  for (let i = 0; i < raw.length; i++) worst = Math.max(worst, Math.abs(raw[i]! - expected[i]!));
  console.log(`  location encoder, f16 weights: max |GPU - PyTorch| = ${worst.toExponential(2)}`);
  assertClose(raw, expected, 0, 5e-4, 'f16-weight location features');
  encoder.release();
});

test('location encoder loads the Hugging Face prefix and names the bad tensor or row', async () => {
  ensureLocationFixtures();
  const gpu = await testGpu();
  const source = await openWeights(ENCODER_FILE);
  const prefixed = renamed(source, (name) => `location_encoder.${name}`);
  const encoder = await LocationEncoder.load(gpu, prefixed);
  assert.match(encoder.digest, /^[0-9a-f]{64}$/);
  assert.throws(() => encoder.embed(new Float32Array([10, 20, NaN, 5])), (e: Error) => e instanceof GeolensError && /row 1/.test(e.message));
  assert.throws(() => encoder.embed(new Float32Array([10, 20, 95, 5])), /row 1 has latitude 95, outside \[-90, 90\]/);
  encoder.release();

  const missing = renamed(source, (name) => (name === 'LocEnc2.head.0.bias' ? 'other' : name));
  try {
    await LocationEncoder.load(gpu, missing);
    assert.unreachable('loaded without LocEnc2.head.0.bias');
  } catch (error) {
    assert.match((error as Error).message, /LocEnc2\.head\.0\.bias/);
  }
  try {
    await LocationEncoder.load(gpu, renamed(source, (name) => `x${name}`));
    assert.unreachable('loaded without any LocEnc0.capsule.0.b');
  } catch (error) {
    assert.match((error as Error).message, /no tensor named 'LocEnc0\.capsule\.0\.b'/);
  }
  await source.close();
});

test('plain-TS sha256 (the fallback without crypto.subtle) equals WebCrypto', async () => {
  for (const length of [0, 3, 55, 56, 63, 64, 65, 1000, 100_003]) {
    const bytes = new Uint8Array(length).map((_, i) => (i * 131 + length) & 255);
    const expected = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    assert.equal([...sha256(bytes)], [...expected], `length ${length}`);
  }
});

test.run();

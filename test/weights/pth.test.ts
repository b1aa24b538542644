import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights, PthSource, uploadWeight, WeightsError } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose } from '../support/numeric.js';
import { assertMatches, assertSameF32, FIXTURES, loadExpected, rejection } from './support.js';

const GEOCLIP = '../shared/data/geoclip';

interface RealExpected {
  dtype: string;
  shape: number[];
  sha256: string;
  sum: number;
  first: number[];
}

test('the real GeoCLIP .pth checkpoints load and every tensor equals what python3-torch reads', async () => {
  const expected = JSON.parse(readFileSync(`${FIXTURES}/geoclip_pth.expected.json`, 'utf8')) as Record<string, Record<string, RealExpected>>;
  for (const [file, tensors] of Object.entries(expected)) {
    const source = await openWeights(`${GEOCLIP}/${file}`);
    assert.is(source.format, 'pytorch');
    assert.equal([...source.tensors.keys()].sort(), Object.keys(tensors).sort(), `${file}: names`);
    for (const [name, want] of Object.entries(tensors)) {
      const info = source.tensors.get(name)!;
      assert.is(info.dtype, want.dtype, `${file} ${name} dtype`);
      assert.equal(info.shape, want.shape, `${file} ${name} shape`);
      const values = await source.readF32(name);
      const digest = createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
      assert.is(digest, want.sha256, `${file} ${name}: sha256 of the f32 values`);
      assert.equal([...values.subarray(0, want.first.length)], want.first, `${file} ${name}: first values`);
    }
    await source.close();
  }
  const scale = await openWeights(`${GEOCLIP}/logit_scale_weights.pth`);
  assert.equal([...scale.tensors.keys()], ['logit_scale']);
  assert.equal(scale.tensors.get('logit_scale')!.shape, []);
  assert.is((await scale.readF32('logit_scale'))[0], 3.681034803390503);
  await scale.close();
});

test('torch.save output: dtypes, strided views sharing storage, nested dicts, Parameter, scalars', async () => {
  const source = await openWeights(`${FIXTURES}/mixed.pth`);
  await assertMatches(source, loadExpected(`${FIXTURES}/mixed_pth.expected.json`), 'mixed.pth');
  assert.equal((source as PthSource).skipped.sort(), ['epoch', 'note']);
  await source.close();
  const module = await openWeights(`${FIXTURES}/module.pth`);
  await assertMatches(module, loadExpected(`${FIXTURES}/module_pth.expected.json`), 'module.pth (OrderedDict with _metadata)');
  await module.close();
});

test('a zip64 archive reads like the plain one', async () => {
  const source = await openWeights(`${FIXTURES}/mixed_zip64.pth`);
  await assertMatches(source, loadExpected(`${FIXTURES}/mixed_pth.expected.json`), 'zip64');
  await source.close();
});

test('a strided tensor read in pieces equals the same piece of the whole', async () => {
  const source = await openWeights(`${FIXTURES}/mixed.pth`);
  const whole = await source.readF32('state_dict.transposed');
  assert.equal([...(await source.readF32Range('state_dict.transposed', 7, 20))], [...whole.subarray(7, 27)]);
  await source.close();
});

test('refusals: compressed entries, legacy format, and pickles naming other globals', async () => {
  const deflated = await rejection(() => openWeights(`${FIXTURES}/deflated.pth`));
  assert.instance(deflated, WeightsError);
  assert.match(deflated.message, /compressed \(deflate\)/);
  const legacy = await rejection(() => openWeights(`${FIXTURES}/legacy.pth`));
  assert.match(legacy.message, /legacy/);
  const exploit = await rejection(() => openWeights(`${FIXTURES}/exploit.pth`));
  assert.instance(exploit, WeightsError);
  assert.match(exploit.message, /global '(posix|os)\.system'/);
});

test('a flipped byte in tensor data fails the CRC instead of loading wrong values', async () => {
  const bytes = new Uint8Array(readFileSync(`${GEOCLIP}/logit_scale_weights.pth`));
  const at = findBytes(bytes, new Uint8Array(new Float32Array([3.681034803390503]).buffer));
  bytes[at + 1]! ^= 0x10;
  const source = await openWeights(bytes);
  const error = await rejection(() => source.readF32('logit_scale'));
  assert.match(error.message, /logit_scale\/data\/0' is corrupt: CRC-32/);
});

test('chunked GPU uploads of a real .pth tensor: f32 and f16 equal the values read whole; a corrupted big storage fails its CRC at the last chunk', async () => {
  const gpu = await testGpu();
  const path = `${GEOCLIP}/image_encoder_mlp_weights.pth`;
  const source = await openWeights(path);
  const whole = await source.readF32('0.weight');
  const f32 = await uploadWeight(gpu, source, '0.weight', { shape: [768, 768], chunkBytes: 100_000 });
  assertSameF32(await f32.read(), whole, '0.weight f32 upload');
  const f16 = await uploadWeight(gpu, source, '2.bias', { dtype: 'f16', chunkBytes: 64 });
  const bias = await source.readF32('2.bias');
  assertClose(await f16.read(), bias, 2 ** -11, 0, '2.bias f16 upload');
  f32.release();
  f16.release();
  await source.close();

  // Storages above wholeCheckBytes are checked as reads walk them front to back, as uploads do.
  const saved = PthSource.wholeCheckBytes;
  PthSource.wholeCheckBytes = 0;
  try {
    const bytes = new Uint8Array(readFileSync(path));
    const at = findBytes(bytes, new Uint8Array(whole.buffer, 4 * 400_000, 8)) + 2;
    bytes[at]! ^= 0x01;
    const damaged = await openWeights(bytes);
    const error = await rejection(() => uploadWeight(gpu, damaged, '0.weight', { chunkBytes: 1 << 20 }));
    assert.match(error.message, /data\/0' is corrupt: CRC-32/);
  } finally {
    PthSource.wholeCheckBytes = saved;
  }
});

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('not found');
}

test.run();

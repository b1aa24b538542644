import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights, PthSource, WeightsError } from '../../src/weights/index.js';
import { assertMatches, FIXTURES, loadExpected, rejection } from './support.js';

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

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('not found');
}

test.run();

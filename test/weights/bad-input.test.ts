import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights, unpickle, WeightsError } from '../../src/weights/index.js';
import { FIXTURES, rejection, writeSafetensors } from './support.js';

const MIXED = new Uint8Array(readFileSync(`${FIXTURES}/mixed.safetensors`));
const PTH = new Uint8Array(readFileSync(`${FIXTURES}/mixed.pth`));

async function refused(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const error = await rejection(async () => {
    const source = await openWeights(bytes);
    for (const name of source.tensors.keys()) await source.readF32(name);
  });
  assert.instance(error, WeightsError, `${error.name}: ${error.message}`);
  assert.match(error.message, pattern);
}

function withHeader(json: string, dataBytes: number): Uint8Array {
  const header = new TextEncoder().encode(json);
  const file = new Uint8Array(8 + header.length + dataBytes);
  new DataView(file.buffer).setUint32(0, header.length, true);
  file.set(header, 8);
  return file;
}

test('truncated safetensors files say they are truncated', async () => {
  await refused(MIXED.subarray(0, 5), /truncated safetensors file: 5 bytes/);
  await refused(MIXED.subarray(0, 100), /header length \d+ runs past the end of the file \(100 bytes/);
  await refused(MIXED.subarray(0, MIXED.length - 3), /run past the end of the data section .*file truncated\?/);
});

test('header lengths past the end, absurd or too small are refused', async () => {
  const huge = MIXED.slice();
  new DataView(huge.buffer).setUint32(4, 1, true);
  await refused(huge, /header length 4294\d+ runs past the end/);
  await refused(withHeader('', 0), /header length 0 is too small/);
});

test('overlapping offsets, holes and trailing bytes are refused', async () => {
  await refused(withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 12), /tensors 'a' and 'b' overlap/);
  await refused(withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /bytes \[0, 4\) of the data section belong to no tensor/);
  await refused(withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 9), /data section has 9 bytes but tensors cover only 4/);
});

test('unknown dtypes, inconsistent shapes and malformed JSON name the tensor and the problem', async () => {
  await refused(writeSafetensors({ w: { dtype: 'F8_E4M3', shape: [4], data: new Uint8Array(4) } }), /tensor 'w': unknown dtype "F8_E4M3"/);
  await refused(withHeader('{"w":{"dtype":"F16","shape":[3,3],"data_offsets":[0,16]}}', 16), /tensor 'w': shape \[3, 3\] of F16 needs 18 bytes but data_offsets \[0, 16\] hold 16/);
  await refused(withHeader('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4), /tensor 'w'.*invalid dimension -1/);
  await refused(withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', 4), /data_offsets must be two non-negative integers/);
  await refused(withHeader('{"w": {"dtype": "F32",', 0), /not valid JSON/);
  await refused(withHeader('[1, 2, 3]', 0), /header must be a JSON object, got an array/);
  await refused(writeSafetensors({}, { __metadata__: { n: 3 } }), /__metadata__ 'n' must be a string/);
  await refused(new TextEncoder().encode('hello world, not weights'), /not a weight file geolens knows/);
});

test('pickles naming any other global are refused before anything runs', async () => {
  const global = (module: string, name: string) => latin1(`\x80\x02c${module}\n${name}\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.`);
  const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  const hooks = { allowGlobal: () => false, reduce: () => null, persistentLoad: () => null };
  for (const [module, name] of [['os', 'system'], ['builtins', 'eval'], ['subprocess', 'Popen'], ['torch', 'load'], ['__builtin__', 'getattr']]) {
    assert.throws(() => unpickle(global(module!, name!), hooks, 'x.pkl'), (e: Error) => e instanceof WeightsError && e.message.includes(`global '${module}.${name}'`));
  }
  // STACK_GLOBAL (protocol 4) is checked the same way.
  const stacked = new Uint8Array([0x80, 0x04, 0x8c, 2, ...new TextEncoder().encode('os'), 0x8c, 6, ...new TextEncoder().encode('system'), 0x93, 0x2e]);
  assert.throws(() => unpickle(stacked, hooks, 'x.pkl'), /global 'os\.system'/);
  // INST/OBJ/NEWOBJ build objects by name: refused by opcode.
  assert.throws(() => unpickle(new TextEncoder().encode('(ios\nsystem\n.'), hooks, 'x.pkl'), /opcode INST/);
  assert.throws(() => unpickle(new Uint8Array([0x80, 0x02, 0x29, 0x29, 0x81, 0x2e]), hooks, 'x.pkl'), /opcode NEWOBJ/);
  assert.throws(() => unpickle(new Uint8Array([0x80, 0x02, 0x4b]), hooks, 'x.pkl'), /truncated/);
  assert.throws(() => unpickle(new Uint8Array([0x80, 0x02, 0x4e]), hooks, 'x.pkl'), /ends without STOP/);
});

test('a pickle inside a real .pth that names os.system is refused with the archive path in the message', async () => {
  await refused(new Uint8Array(readFileSync(`${FIXTURES}/exploit.pth`)), /exploit\/data\.pkl: pickle refers to the global '(posix|os)\.system'/);
});

test('truncated and damaged .pth archives say what is wrong', async () => {
  await refused(PTH.subarray(0, PTH.length - 10), /no zip end-of-central-directory record/);
  await refused(PTH.subarray(0, 20), /truncated zip/);
  // Remove the central directory's head: the end record now points past the data.
  const shifted = PTH.slice();
  const view = new DataView(shifted.buffer);
  const eocd = shifted.length - 22;
  view.setUint32(eocd + 16, view.getUint32(eocd + 16, true) + 100000, true);
  await refused(shifted, /central directory .* runs past/);
});

test.run();

// Quantized files carry their own integrity: `geolens convert` records each stored tensor's digest, and a
// file whose scales were edited or zeroed, or whose values were flipped, is refused at load naming the
// file and the tensor; NaN/Inf scales are refused at load even where the digests agree.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadGeoClip } from '../../src/api/loaders.js';
import { MemoryByteSource } from '../../src/io/bytes.js';
import { convertGeoClipSources } from '../../src/weights/convert.js';
import { openFormat } from '../../src/weights/open.js';
import { openWeights, tensorDigest } from '../../src/weights/index.js';
import { runCli } from '../support/collection.js';
import { testGpu } from '../support/gpu.js';
import { ensureTinyModel, KAUAI, TINY_MODEL_DIR } from '../support/tiny-model.js';
import { TENSOR_DIGESTS_KEY, parseRaw, referenceDigest, resealed, tensorRange, withMetadata } from './integrity-support.js';

const OUT = 'test/fixtures/generated/quantized-integrity';
const Q4 = `${OUT}/geoclip.q4.safetensors`;

let converted = false;
async function q4File(): Promise<Buffer> {
  ensureTinyModel();
  if (!converted) {
    mkdirSync(OUT, { recursive: true });
    const source = await openWeights(`${TINY_MODEL_DIR}/geoclip.safetensors`);
    try {
      await convertGeoClipSources({ sources: source, locations: `${TINY_MODEL_DIR}/geoclip.safetensors`, dtype: 'q4', out: Q4 });
    } finally {
      await source.close();
    }
    converted = true;
  }
  return readFileSync(Q4);
}

/** The first q4 matrix of the file: its values and scales parts. */
function q4Parts(bytes: Buffer): { values: string; scales: string } {
  const name = Object.keys(parseRaw(bytes).header).find((n) => n.endsWith('.q4'))!;
  return { values: name, scales: name.replace(/\.q4$/, '.scales') };
}

/** The error loading GeoCLIP's heads (q4, as stored) from `path` throws; an assertion failure if it loads. */
async function loadError(path: string): Promise<Error> {
  const gpu = await testGpu();
  try {
    const model = await loadGeoClip(gpu, path, {}, { dtype: 'q4' });
    model.release();
  } catch (error) {
    return error as Error;
  }
  assert.unreachable(`${path} loaded`);
  throw new Error('unreachable');
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('convert records every stored tensor\'s digest as documented (1 MiB pieces, SHA-256 of their SHA-256s); the file loads', async () => {
  const bytes = await q4File();
  const file = parseRaw(bytes);
  const recorded = JSON.parse(file.header.__metadata__![TENSOR_DIGESTS_KEY]!) as { version: number; piece: number; tensors: Record<string, string> };
  const names = Object.keys(file.header).filter((n) => n !== '__metadata__').sort();
  assert.equal(Object.keys(recorded.tensors).sort(), names, 'one digest per stored tensor');
  for (const name of names) {
    const [begin, end] = tensorRange(file, name);
    assert.is(recorded.tensors[name], referenceDigest(bytes.subarray(begin, end)), name);
  }
  const model = await loadGeoClip(await testGpu(), Q4, {}, { dtype: 'q4' });
  model.release();
});

test('q4 scales edited (×2), zeroed, or values flipped: refused at load naming the file and the tensor', async () => {
  const bytes = await q4File();
  const file = parseRaw(bytes);
  const { values, scales } = q4Parts(bytes);
  const [scalesBegin, scalesEnd] = tensorRange(file, scales);
  const [valuesBegin, valuesEnd] = tensorRange(file, values);
  const cases: [string, string, (copy: Buffer) => void][] = [
    // +1 in an f16 exponent doubles that scale.
    ['scale-doubled', scales, (copy) => copy.writeUInt16LE(copy.readUInt16LE(scalesBegin + 2) + 0x0400, scalesBegin + 2)],
    ['scales-zeroed', scales, (copy) => copy.fill(0, scalesBegin, Math.min(scalesEnd, scalesBegin + 64))],
    ['values-flipped', values, (copy) => (copy[Math.floor((valuesBegin + valuesEnd) / 2)]! ^= 0x88)],
  ];
  for (const [label, tensor, damage] of cases) {
    const copy = Buffer.from(bytes);
    damage(copy);
    assert.ok(!copy.equals(bytes), `${label}: the file changed`);
    const path = `${OUT}/${label}.safetensors`;
    writeFileSync(path, copy);
    const error = await loadError(path);
    assert.is(error.name, 'WeightsError', `${label}: ${error.message}`);
    assert.match(error.message, new RegExp(`^${escape(path)}: tensor '${escape(tensor)}' does not match the digest the file records`), `${label}: ${error.message}`);
    // Reading the matrix by the model's name is refused the same way.
    const source = await openWeights(path);
    const modelName = values.replace(/\.q4$/, '');
    const read = await source.readF32(modelName).then(() => null, (e: Error) => e);
    await source.close();
    assert.ok(read && read.message.includes(path) && read.message.includes(`'${tensor}'`), `${label}: readF32: ${read?.message}`);
  }
});

test('geolens locate with damaged q4 heads: exit 1, one line naming the file and the tensor (the undamaged file answers)', async () => {
  await q4File();
  const args = (geoclip: string) => ['locate', KAUAI, '--clip', `${TINY_MODEL_DIR}/clip.safetensors`, '--clip-config', `${TINY_MODEL_DIR}/config.json`,
    '--geoclip', geoclip, '--gallery', `${TINY_MODEL_DIR}/gallery.csv`, '--json', '--quiet', '--no-names'];
  const env = { GEOLENS_CACHE: `${OUT}/cache` };
  let run = runCli(args(Q4), env);
  assert.is(run.status, 0, run.stderr);
  const damaged = `${OUT}/scale-doubled.safetensors`;
  run = runCli(args(damaged), env);
  assert.is(run.status, 1, run.stdout);
  assert.is(run.stdout, '');
  assert.match(run.stderr, new RegExp(`${escape(damaged)}: tensor '[^']+\\.scales' does not match the digest the file records`));
});

test('NaN and Inf scales are refused at load naming the file and the tensor, even with digests that agree', async () => {
  const bytes = await q4File();
  const { values, scales } = q4Parts(bytes);
  for (const [label, bits] of [['nan', 0x7e00], ['inf', 0x7c00], ['minus-inf', 0xfc00]] as const) {
    const copy = Buffer.from(bytes);
    const file = parseRaw(copy);
    const [begin] = tensorRange(file, scales);
    copy.writeUInt16LE(bits, begin + 4);
    // Digests recomputed over the damaged bytes, so only the scale check stands between them and a search.
    const path = `${OUT}/scale-${label}.safetensors`;
    writeFileSync(path, withMetadata(parseRaw(copy), (metadata) => void (metadata[TENSOR_DIGESTS_KEY] = resealed(parseRaw(copy)))));
    const error = await loadError(path);
    assert.is(error.name, 'WeightsError', error.message);
    assert.match(error.message, new RegExp(`^${escape(path)}: quantized tensor '${escape(values.replace(/\.q4$/, ''))}': scale 2 of row 0 \\(in '${escape(scales)}'\\) is ${label === 'nan' ? 'NaN' : 'Inf'}; the file is damaged$`), error.message);
  }
});

test('a quantized file written before digests existed loads, with one warning naming it', async () => {
  const bytes = await q4File();
  const path = `${OUT}/no-digests.safetensors`;
  writeFileSync(path, withMetadata(parseRaw(bytes), (metadata) => void delete metadata[TENSOR_DIGESTS_KEY]));
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => void warnings.push(message);
  try {
    const model = await loadGeoClip(await testGpu(), path, {}, { dtype: 'q4' });
    model.release();
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings, [`geolens: ${path} records no tensor digests (written before geolens recorded them), so damage to it goes unnoticed; re-run \`geolens convert\` to add them`]);
});

test('the check streams: loading reads no byte of tensor data more than loading the same file without digests', async () => {
  const bytes = await q4File();
  const plain = withMetadata(parseRaw(bytes), (metadata) => void delete metadata[TENSOR_DIGESTS_KEY]);
  const bytesRead = async (file: Buffer) => {
    const memory = new MemoryByteSource(new Uint8Array(file), 'counted');
    let total = 0;
    const counted = { size: memory.size, name: memory.name, close: () => memory.close(), read: (offset: number, length: number, into?: Uint8Array) => ((total += length), memory.read(offset, length, into)) };
    const warn = console.warn;
    console.warn = () => {};
    try {
      const source = await openFormat(counted);
      const model = await loadGeoClip(await testGpu(), source, {}, { dtype: 'q4' });
      model.release();
    } finally {
      console.warn = warn;
    }
    return { total, header: parseRaw(file).dataStart };
  };
  const checked = await bytesRead(bytes);
  const unchecked = await bytesRead(plain);
  console.log(`    q4 heads: ${checked.total} bytes read with digests checked, ${unchecked.total} without (file ${bytes.byteLength})`);
  // The headers differ by the digests' metadata; everything after them is tensor data.
  assert.is(checked.total - checked.header, unchecked.total - unchecked.header, 'digest checking read extra bytes');
});

test('without WebCrypto (a page served over http) the plain-TS SHA-256 gives the same digests, and a damaged file is still refused', async () => {
  const bytes = await q4File();
  const damaged = Buffer.from(bytes);
  const [scalesBegin] = tensorRange(parseRaw(damaged), q4Parts(bytes).scales);
  damaged[scalesBegin + 1]! ^= 0x01;
  const path = `${OUT}/no-webcrypto-damaged.safetensors`;
  writeFileSync(path, damaged);
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
  Object.defineProperty(globalThis, 'crypto', { value: {}, configurable: true });
  try {
    assert.is(globalThis.crypto.subtle, undefined);
    // 2.5 MiB of bytes: two whole pieces and a short one.
    const sample = new Uint8Array(5 << 19).map((_, i) => (i * 2654435761) >>> 24);
    assert.is(await tensorDigest(sample), referenceDigest(sample));
    const model = await loadGeoClip(await testGpu(), Q4, {}, { dtype: 'q4' });
    model.release();
    const error = await loadError(path);
    assert.match(error.message, /tensor '[^']+\.scales' does not match the digest the file records/);
  } finally {
    Object.defineProperty(globalThis, 'crypto', descriptor);
  }
  assert.ok(globalThis.crypto.subtle, 'WebCrypto restored');
});

test.run();

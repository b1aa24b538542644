import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights, WeightsError } from '../../src/weights/index.js';
import { startServer } from '../support/server.js';
import { assertMatches, FIXTURES, loadExpected, rejection } from './support.js';

const CASES: [string, string][] = [
  ['mixed.safetensors', 'mixed.expected.json'],
  ['halves.safetensors', 'halves.expected.json'],
  ['mixed.pth', 'mixed_pth.expected.json'],
  ['mixed_zip64.pth', 'mixed_pth.expected.json'],
];

test('every fixture loads identically from a path and from a loopback server with Range requests', async () => {
  const server = await startServer(Object.fromEntries(CASES.map(([file]) => [`/${file}`, `${FIXTURES}/${file}`])));
  try {
    for (const [file, expected] of CASES) {
      const want = loadExpected(`${FIXTURES}/${expected}`);
      const fromPath = await openWeights(`${FIXTURES}/${file}`);
      await assertMatches(fromPath, want, `${file} from path`);
      await fromPath.close();
      // A 64-byte prefix makes every header and tensor read a Range request of its own.
      const fromUrl = await openWeights(`${server.url}/${file}`, { prefixBytes: 64 });
      await assertMatches(fromUrl, want, `${file} over HTTP`);
      await fromUrl.close();
    }
    // Every request asked for a range: nothing was fetched whole.
    assert.ok(server.log.length > CASES.length, 'several requests per file');
    assert.ok(server.log.every((r) => r.range !== null && r.status === 206), 'all requests were Range requests answered 206');
  } finally {
    await server.close();
  }
});

test('a tensor read over HTTP fetches only its own bytes', async () => {
  const body = new Uint8Array(1 << 20);
  const header = new TextEncoder().encode(JSON.stringify({ a: { dtype: 'F32', shape: [131072], data_offsets: [0, 524288] }, b: { dtype: 'F32', shape: [131072], data_offsets: [524288, 1048576] } }).padEnd(120, ' '));
  const file = new Uint8Array(8 + header.length + body.length);
  new DataView(file.buffer).setUint32(0, header.length, true);
  file.set(header, 8);
  new Float32Array(file.buffer.slice(8 + header.length)).fill(0);
  const server = await startServer({ '/two.safetensors': file });
  try {
    const source = await openWeights(`${server.url}/two.safetensors`, { prefixBytes: 256 });
    server.log.length = 0;
    await source.readF32('b');
    assert.equal(server.log.map((r) => r.range), [`bytes=${8 + header.length + 524288}-${file.length - 1}`]);
  } finally {
    await server.close();
  }
});

test('a server that ignores Range, a missing file and a file that changes are clear errors', async () => {
  const server = await startServer({ '/mixed.safetensors': `${FIXTURES}/mixed.safetensors` });
  try {
    const missing = await rejection(() => openWeights(`${server.url}/nope.safetensors`));
    assert.instance(missing, WeightsError);
    assert.match(missing.message, /HTTP 404/);
    const source = await openWeights(`${server.url}/mixed.safetensors`, { prefixBytes: 64 });
    // The file on the server is replaced: If-Range makes the server answer 200, which is refused.
    server.files.set('/mixed.safetensors', { body: new Uint8Array(server.files.get('/mixed.safetensors')!.body.byteLength + 8) });
    const changed = await rejection(() => source.readF32('big.row'));
    assert.match(changed.message, /changed on the server/);
    server.ranges = false;
    const ignored = await rejection(() => openWeights(`${server.url}/mixed.safetensors`));
    assert.match(ignored.message, /ignored the HTTP Range request/);
  } finally {
    await server.close();
  }
});

test.run();

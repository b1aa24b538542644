import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachePath, downloadWeights } from '../../src/weights/index.js';

// Two real processes (the built library, dist/index.js) fetch one file into one cache at the same time
// from a loopback server that holds both answers until both requests are in, then streams them slowly,
// so the two writes overlap for their whole length.

const BODY = new Uint8Array(3 << 20).map((_, i) => (i * 2654435761) >>> 24);
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

function runChild(url: string, cacheDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const library = resolve('dist/index.js');
  const script = `import { downloadWeights } from ${JSON.stringify(library)};
    const path = await downloadWeights(${JSON.stringify(url)}, { cacheDir: ${JSON.stringify(cacheDir)} });
    console.log(path);
    process.exit(0);`;
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, GEOLENS_QUIET: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

test('two processes racing for one download: one whole file with the right digest, no raw errors, no leftovers', async () => {
  assert.ok(existsSync('dist/index.js'), 'dist/index.js missing: run `node build.mjs` (npm test does)');
  const waiting: (() => void)[] = [];
  let requests = 0;
  const server = createServer((request, response) => {
    requests++;
    const send = async () => {
      response.writeHead(200, { 'Content-Length': String(BODY.length), ETag: '"race-1"' });
      for (let offset = 0; offset < BODY.length; offset += 1 << 17) {
        response.write(BODY.subarray(offset, offset + (1 << 17)));
        await new Promise((r) => setTimeout(r, 10));
      }
      response.end();
    };
    waiting.push(() => void send());
    if (waiting.length >= 2) waiting.splice(0).forEach((go) => go());
    // Never wait forever: a lone request goes ahead after 5 s (the assertions below then fail).
    setTimeout(() => waiting.splice(0).forEach((go) => go()), 5000);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/o/r/model.bin`;
  const cacheDir = mkdtempSync(join(tmpdir(), 'geolens-race-'));
  try {
    const [a, b] = await Promise.all([runChild(url, cacheDir), runChild(url, cacheDir)]);
    for (const run of [a, b]) {
      assert.is(run.code, 0, run.stderr);
      assert.is(run.stderr, '', 'no error output');
    }
    assert.is(requests, 2, 'both processes downloaded at once');
    const target = await cachePath(url, cacheDir);
    assert.is(a.stdout.trim(), target);
    assert.is(b.stdout.trim(), target);
    assert.is(createHash('sha256').update(readFileSync(target)).digest('hex'), BODY_SHA);
    assert.equal(readdirSync(dirname(target)), ['model.bin'], 'no partial files left');
    // A later run uses the cached file without a request.
    assert.is(await downloadWeights(url, { cacheDir }), target);
    assert.is(requests, 2);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test.run();

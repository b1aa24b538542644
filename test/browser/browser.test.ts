import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { runCases } from './cases.js';
import './kernel-cases.js';
import { testGpu } from '../support/gpu.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';


function serve(root: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') {
      response.setHeader('content-type', 'text/html');
      response.end('<!doctype html><script type="module" src="/kernels.page.js"></script>');
      return;
    }
    const file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file)) {
      response.statusCode = 404;
      response.end();
      return;
    }
    response.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream');
    response.end(readFileSync(file));
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

test('kernels give the same numbers in headless Chromium as in Node', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  const gpu = await testGpu();
  const nodeOutputs = await runCases(gpu);

  const server = await serve(resolve(process.env.GEOLENS_BUILD_DIR || '.build', 'test/browser'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => window.geolensResult !== undefined, undefined, { timeout: 240_000 });
    const result = await page.evaluate(() => window.geolensResult!);
    assert.equal(errors, [], 'page errors');
    if ('error' in result) assert.unreachable(`browser run failed: ${result.error}`);
    else {
      assert.match(result.adapter, /SwiftShader/i);
      assert.equal(Object.keys(result.outputs).sort(), Object.keys(nodeOutputs).sort());
      for (const [name, expected] of Object.entries(nodeOutputs)) {
        const actual = result.outputs[name]!;
        assert.is(actual.length, expected.length, `${name}: length`);
        // Same WGSL, same device, same inputs: the results must be identical bit for bit.
        const firstDifference = actual.findIndex((v, i) => !Object.is(v, expected[i]));
        assert.is(firstDifference, -1, `${name}[${firstDifference}]: browser ${actual[firstDifference]} vs node ${expected[firstDifference]}`);
      }
    }
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();

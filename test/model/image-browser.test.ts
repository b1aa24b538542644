// Browser decoding (createImageBitmap → OffscreenCanvas) + the shared preprocessing, in headless Chromium,
// against the same PIL fixture as the Node path (image.test.ts).
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights } from '../../src/weights/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const KAUAI = '../shared/data/geoclip/Kauai.png';

function serve(root: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') {
      response.setHeader('content-type', 'text/html');
      response.end('<!doctype html><script type="module" src="/image-browser.page.js"></script>');
      return;
    }
    const file = path === '/kauai.png' ? resolve(KAUAI) : join(root, path);
    if ((path !== '/kauai.png' && !file.startsWith(root)) || !existsSync(file)) {
      response.statusCode = 404;
      response.end();
      return;
    }
    response.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : file.endsWith('.png') ? 'image/png' : 'application/octet-stream');
    response.end(readFileSync(file));
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

test('Chromium decodes Kauai.png to the same pixels as PIL, and a truncated PNG to an ImageError', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  const fixture = await openWeights('test/fixtures/clip-vision/preprocess.safetensors');
  const wantCropped = await fixture.readF32('kauai.cropped');
  const wantPixels = await fixture.readF32('kauai.pixels');
  await fixture.close();

  const server = await serve(resolve('.build/test/model'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => window.imageResult !== undefined, undefined, { timeout: 60_000 });
    const result = await page.evaluate(() => window.imageResult!);
    assert.equal(errors, [], 'page errors');
    if ('error' in result) return assert.unreachable(`browser run failed: ${result.error}`);
    assert.equal([result.width, result.height], [512, 504]);
    const byteDiffs = result.cropped.filter((v, i) => v !== wantCropped[i]).length;
    assert.is(byteDiffs, 0, `${byteDiffs} resized bytes differ from PIL`);
    const floatDiffs = result.pixels.filter((v, i) => v !== wantPixels[i]).length;
    assert.is(floatDiffs, 0, `${floatDiffs} normalized values differ from numpy`);
    assert.match(result.corrupt, /^ImageError: decodeImage: the browser could not decode this image/);
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();

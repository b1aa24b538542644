import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { openWeights } from '../../src/weights/index.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';

// The browser demo (examples/browser) as a user gets it, driven end to end in headless Chromium: models
// fetched over HTTP with Range requests, the photo decoded by createImageBitmap, WGSL on navigator.gpu.
const FIXTURES = 'test/fixtures/generated/api';
const build = resolve(process.env.GEOLENS_BUILD_DIR || '.build', 'examples');
const ROUTES: Record<string, string> = {
  '/demo/': join(build, 'browser'),
  '/fixtures/': resolve(FIXTURES),
  '/data/': resolve('../shared/data/geoclip'),
};
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.csv': 'text/csv', '.png': 'image/png' };

function serve(): Promise<Server> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    const prefix = Object.keys(ROUTES).find((p) => path.startsWith(p));
    const file = prefix ? join(ROUTES[prefix]!, path.slice(prefix.length)) : '';
    if (!prefix || !file.startsWith(ROUTES[prefix]!) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    const bytes = readFileSync(file);
    const headers = { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'accept-ranges': 'bytes' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
      response.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'content-length': end - start + 1 });
      response.end(bytes.subarray(start, end + 1));
      return;
    }
    response.writeHead(200, { ...headers, 'content-length': bytes.length }).end(bytes);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

test('the browser demo locates Kauai.png as PyTorch does', async () => {
  if (!existsSync(`${FIXTURES}/expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/api_locate.py'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['build.mjs', '--examples'], { stdio: 'inherit' });
  const expected = await openWeights(`${FIXTURES}/expected.safetensors`);
  const index = Array.from(await expected.readF32('topk_index'));
  const probability = await expected.readF32('topk_probability');
  await expected.close();

  const server = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const query = new URLSearchParams({
      clip: '/fixtures/clip.safetensors',
      clipConfig: '/fixtures/config.json',
      geoclip: '/fixtures/geoclip.safetensors',
      gallery: '/fixtures/gallery.csv',
    });
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/demo/index.html?${query}`);
    await page.waitForFunction(() => /^(Ready|Could not load)/.test(document.getElementById('status')!.textContent ?? ''), undefined, { timeout: 240_000 });
    const status = await page.textContent('#status');
    assert.match(status!, /^Ready \(SwiftShader/, status!);
    const result = await page.evaluate(async () => {
      const bytes = new Uint8Array(await (await fetch('/data/Kauai.png')).arrayBuffer());
      const run = (window as unknown as { geolensLocate: (b: Uint8Array) => Promise<{ places: { galleryIndex: number; probability: number }[] }> }).geolensLocate;
      return run(bytes);
    });
    assert.equal(errors, []);
    assert.equal(result.places.map((p) => p.galleryIndex), index);
    result.places.forEach((p, i) => assert.ok(Math.abs(p.probability - probability[i]!) <= 1e-5, `probability ${i}: ${p.probability} vs ${probability[i]}`));
    assert.is(await page.locator('#places li').count(), 5);
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();

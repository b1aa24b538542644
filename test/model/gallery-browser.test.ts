import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chromium } from 'playwright-core';
import { buildGallery, parseGalleryCsv, predict } from '../../src/model/gallery.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../support/browser.js';
import { testGpu } from '../support/gpu.js';
import { DATA, GENERATED, loadNarrowGeoClip, readFixture } from './geoclip-fixtures.js';

const POINTS = 300;

function gallerySlice(): string {
  return readFileSync(`${DATA}/coordinates_100K.csv`, 'utf8').split('\n').slice(0, POINTS + 1).join('\n');
}

function serve(): Promise<Server> {
  // Read now: a concurrent `node build.mjs --tests` may empty the build folder while this test runs.
  const build = resolve(process.env.GEOLENS_BUILD_DIR ?? '.build', 'test/model');
  const files = new Map<string, [Uint8Array | string, string]>([
    ['/', ['<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>', 'text/html']],
    ['/page.js', [readFileSync(`${build}/gallery-browser.page.js`), 'text/javascript']],
    ['/mlp.pth', [readFileSync(`${DATA}/image_encoder_mlp_weights.pth`), 'application/octet-stream']],
    ['/logit_scale.pth', [readFileSync(`${DATA}/logit_scale_weights.pth`), 'application/octet-stream']],
    ['/location.safetensors', [readFileSync(`${GENERATED}/geoclip-location-encoder-narrow.safetensors`), 'application/octet-stream']],
    ['/image-mlp.safetensors', [readFileSync('test/fixtures/geoclip/image-mlp.safetensors'), 'application/octet-stream']],
    ['/gallery.csv', [gallerySlice(), 'text/csv']],
  ]);
  const server = createServer((request, response) => {
    const file = files.get(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    if (!file) {
      response.statusCode = 404;
      response.end();
      return;
    }
    response.setHeader('content-type', file[1]);
    response.end(file[0]);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

test('in headless Chromium: CSV by URL, Cache API reload, and the same predictions as Node', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  const gpu = await testGpu();
  const model = await loadNarrowGeoClip(gpu);
  const gallery = await buildGallery(model, parseGalleryCsv(gallerySlice()), { cache: false, chunkRows: 128 });
  const inputs = await readFixture('test/fixtures/geoclip/image-mlp.safetensors');
  const expected = (await predict(model.imageEmbeddings(gpu.upload(inputs.input!, [5, 768])), gallery, 3)).flat();
  gallery.release();
  model.release();

  const server = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => window.galleryResult !== undefined, undefined, { timeout: 240_000 });
    const result = await page.evaluate(() => window.galleryResult!);
    assert.equal(errors, [], 'page errors');
    if ('error' in result) assert.unreachable(`browser run failed: ${result.error}`);
    else {
      assert.match(result.adapter, /SwiftShader/i);
      assert.equal(result.fromCache, [false, true]);
      assert.equal(result.indices, expected.map((p) => p.galleryIndex));
      result.probabilities.forEach((p, i) => assert.ok(Math.abs(p - expected[i]!.probability) <= 1e-6, `probability ${i}: browser ${p}, node ${expected[i]!.probability}`));
    }
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();

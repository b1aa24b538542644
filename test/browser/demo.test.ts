import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openWeights } from '../../src/weights/index.js';
import { filesUnder, withBrowserPage } from '../support/browser.js';

// The browser demo (examples/browser) as a user gets it, driven end to end in headless Chromium: models
// fetched over HTTP with Range requests, the photo decoded by createImageBitmap, WGSL on navigator.gpu.
const FIXTURES = 'test/fixtures/generated/api';

test('the browser demo locates Kauai.png as PyTorch does', async () => {
  if (!existsSync(`${FIXTURES}/expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/api_locate.py'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['build.mjs', '--examples'], { stdio: 'inherit' });
  const expected = await openWeights(`${FIXTURES}/expected.safetensors`);
  const index = Array.from(await expected.readF32('topk_index'));
  const probability = await expected.readF32('topk_probability');
  await expected.close();

  const files = {
    ...filesUnder('/demo/', resolve(process.env.GEOLENS_BUILD_DIR || '.build', 'examples/browser')),
    ...filesUnder('/fixtures/', FIXTURES),
    '/data/Kauai.png': '../shared/data/geoclip/Kauai.png',
  };
  const query = new URLSearchParams({
    clip: '/fixtures/clip.safetensors',
    clipConfig: '/fixtures/config.json',
    geoclip: '/fixtures/geoclip.safetensors',
    gallery: '/fixtures/gallery.csv',
  });
  await withBrowserPage(files, `/demo/index.html?${query}`, async ({ page, errors }) => {
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
  });
});

test.run();

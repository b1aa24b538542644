// The browser bundle of src/weights in headless Chromium: HTTP Range reads of every fixture equal the
// PyTorch dumps, and the Cache API download path checks sha256, refuses a captive portal's page and works
// offline.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pageBundle, withBrowserPage } from '../support/browser.js';
import { assertSameF32, FIXTURES, loadExpected } from './support.js';
import type { WeightsBrowserResult } from './weights-browser.page.js';

const CASES: Record<string, string> = {
  'mixed.safetensors': 'mixed.expected.json',
  'halves.safetensors': 'halves.expected.json',
  'mixed.pth': 'mixed_pth.expected.json',
  'mixed_zip64.pth': 'mixed_pth.expected.json',
};

const PORTAL = new TextEncoder().encode('<!DOCTYPE html><html><head><title>Sign in to the hotel Wi-Fi</title></head><body>…</body></html>');

test('in Chromium: Range reads match PyTorch, Cache API downloads check sha256, refuse a portal page and work offline', async () => {
  const html = new TextEncoder().encode('<!doctype html><script type="module" src="/page.js"></script>');
  const sha = createHash('sha256').update(readFileSync(`${FIXTURES}/mixed.safetensors`)).digest('hex');
  const files = {
    '/': html,
    '/page.js': pageBundle('weights/weights-browser'),
    '/sha256': new TextEncoder().encode(sha),
    '/portal/model.safetensors': PORTAL,
    '/portal/config.json': PORTAL,
    ...Object.fromEntries(Object.keys(CASES).map((file) => [`/fixtures/${file}`, `${FIXTURES}/${file}`])),
  };
  await withBrowserPage(files, '/', async ({ page: tab, server, errors, consoleErrors }) => {
    await tab.waitForFunction(() => window.weightsResult !== undefined, undefined, { timeout: 30_000 });
    const result = await tab.evaluate(() => window.weightsResult!);
    // The browser's own favicon request is the one 404 allowed; offline mode must not touch the network.
    assert.equal(server.log.filter((r) => r.status === 404).map((r) => r.path), ['/favicon.ico'], 'requests answered 404');
    assert.equal([...errors, ...consoleErrors].filter((e) => !/status of 404/.test(e)), [], 'page errors');
    if ('error' in result) return assert.unreachable(`browser run failed: ${result.error}`);
    const ok = result as WeightsBrowserResult;
    for (const [file, expectedFile] of Object.entries(CASES)) {
      const expected = loadExpected(`${FIXTURES}/${expectedFile}`);
      assert.equal(Object.keys(ok.files[file]!).sort(), [...expected.keys()].sort(), `${file}: names`);
      for (const [name, want] of expected) {
        const bytes = Buffer.from(ok.files[file]![name]!, 'base64');
        const values = new Float32Array(bytes.byteLength / 4);
        new Uint8Array(values.buffer).set(bytes);
        assertSameF32(values, want.values, `browser ${file} ${name}`);
      }
    }
    const fixtureRequests = server.log.filter((r) => r.path.startsWith('/fixtures/') && r.range === null);
    // Only the Cache API downloads fetch whole files (no Range header); every reader request was ranged.
    assert.ok(fixtureRequests.every((r) => r.path === '/fixtures/mixed.safetensors'), 'readers used Range requests');
    assert.match(ok.wrongSha, /WeightsError: download of .* refused: sha256 [0-9a-f]{64}, expected 0{64}/);
    assert.is(ok.cachedTensors.length, loadExpected(`${FIXTURES}/mixed.expected.json`).size);
    assert.equal(ok.offlineTensors, ok.cachedTensors);
    for (const file of ['model.safetensors', 'config.json']) {
      assert.match(ok.portal[file]!.error, new RegExp(`WeightsError: download of .*/portal/${file.replace('.', '\\.')} refused: it is an HTML page`), file);
      assert.is(ok.portal[file]!.cached, false, `${file}: the portal page entered the Cache API`);
    }
    assert.equal(server.log.filter((r) => r.path.startsWith('/portal/')).map((r) => r.path), ['/portal/model.safetensors', '/portal/config.json'], 'each fetched once');
    assert.match(ok.offlineMissing, /WeightsError: offline: .*not-served\/mixed\.safetensors is not in the cache 'geolens-test'/);
  });
});

test.run();

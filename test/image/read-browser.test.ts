// readImage() in headless Chromium: a URL string there goes through the same byte cap and timeouts as in
// Node (the page is test/image/read-browser.page.ts; the misbehaving server is test/support/hostile-server.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { modulePage, pageBundle, pageResult, withBrowserPage } from '../support/browser.js';
import { startHostileServer } from '../support/hostile-server.js';
import { KAUAI } from '../support/tiny-model.js';

type Attempt = { message?: string; ms: number; size?: number[] };

test('Chromium: trickling, 10 GB, endless and silent URLs are refused within their bounds; a good URL decodes', async () => {
  const hostile = await startHostileServer(new Uint8Array(readFileSync(KAUAI)), 300);
  try {
    const files = { '/': modulePage('/read-browser.page.js'), '/read-browser.page.js': pageBundle('image/read-browser') };
    const result = await withBrowserPage(files, `/?hostile=${encodeURIComponent(hostile.url)}`, (run) => pageResult<Record<string, Attempt>>(run, 'readResult', 60_000));
    assert.equal(result.good!.size, [512, 504], result.good!.message);
    assert.is(result.trickle!.message, 'ImageFetchError: fewer than 1024 bytes in 1 s (idle timeout)');
    assert.ok(result.trickle!.ms >= 900 && result.trickle!.ms < 3000, `idle timeout after ${result.trickle!.ms} ms`);
    assert.is(result.huge!.message, 'ImageError: image: 10737418240 bytes, more than the 67108864-byte limit');
    assert.is(result.endless!.message, 'ImageError: image: more than the 4194304-byte limit');
    assert.is(result.silent!.message, 'ImageFetchError: no response within 0.5 s (connect timeout)');
    assert.is(result.missing!.message, 'ImageError: could not fetch the image (HTTP 404)');
  } finally {
    await hostile.close();
  }
});

test.run();

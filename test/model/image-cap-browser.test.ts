// The browser's pixel cap, in headless Chromium: refused from the header, before createImageBitmap would
// allocate the pixels (the bomb's tiny IDAT would otherwise fail as "could not decode").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { modulePage, pageBundle, pageResult, withBrowserPage } from '../support/browser.js';
import { pngHeader } from './png-bomb.js';

const KAUAI = '../shared/data/geoclip/Kauai.png';

test('Chromium: a 20000×20000 PNG and an image over a lowered cap are refused from their headers', async () => {
  const files = { '/': modulePage('/image-cap-browser.page.js'), '/image-cap-browser.page.js': pageBundle('model/image-cap-browser'), '/kauai.png': KAUAI, '/bomb.png': pngHeader(20000, 20000) };
  const result = await withBrowserPage(files, '/', (run) => pageResult<{ bomb: string; capped: string; decoded: number[] }>(run, 'capResult', 60_000));
  assert.is(result.bomb, 'ImageError: decodeImage: the header says: 20000×20000 is 400000000 pixels, more than the cap of 100000000 (imageLimits.maxPixels / maxPixels)');
  assert.is(result.capped, 'ImageError: decodeImage: the header says: 512×504 is 258048 pixels, more than the cap of 10000 (imageLimits.maxPixels / maxPixels)');
  assert.equal(result.decoded, [512, 504]);
});

test.run();

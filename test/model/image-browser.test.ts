// Browser decoding (createImageBitmap → OffscreenCanvas) + the shared preprocessing, in headless Chromium,
// against the same PIL fixture as the Node path (image.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights } from '../../src/weights/index.js';
import { modulePage, pageBundle, pageResult, withBrowserPage } from '../support/browser.js';

interface ImageResult {
  width: number;
  height: number;
  cropped: number[];
  pixels: number[];
  corrupt: string;
}

const KAUAI = '../shared/data/geoclip/Kauai.png';

test('Chromium decodes Kauai.png to the same pixels as PIL, and a truncated PNG to an ImageError', async () => {
  const fixture = await openWeights('test/fixtures/clip-vision/preprocess.safetensors');
  const wantCropped = await fixture.readF32('kauai.cropped');
  const wantPixels = await fixture.readF32('kauai.pixels');
  await fixture.close();

  const result = await withBrowserPage({ '/': modulePage('/image-browser.page.js'), '/image-browser.page.js': pageBundle('model/image-browser'), '/kauai.png': KAUAI }, '/', (run) =>
    pageResult<ImageResult>(run, 'imageResult', 60_000),
  );
  assert.equal([result.width, result.height], [512, 504]);
  const byteDiffs = result.cropped.filter((v, i) => v !== wantCropped[i]).length;
  assert.is(byteDiffs, 0, `${byteDiffs} resized bytes differ from PIL`);
  const floatDiffs = result.pixels.filter((v, i) => v !== wantPixels[i]).length;
  assert.is(floatDiffs, 0, `${floatDiffs} normalized values differ from numpy`);
  assert.match(result.corrupt, /^ImageError: decodeImage: the browser could not decode this image/);
});

test.run();

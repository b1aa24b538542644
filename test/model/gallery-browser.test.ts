import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildGallery, parseGalleryCsv, predict } from '../../src/model/geoclip/gallery.js';
import { modulePage, pageBundle, pageResult, withBrowserPage } from '../support/browser.js';
import { testGpu } from '../support/gpu.js';
import { DATA, GENERATED, loadNarrowGeoClip, readFixture } from './geoclip-fixtures.js';

const POINTS = 300;

function gallerySlice(): string {
  return readFileSync(`${DATA}/coordinates_100K.csv`, 'utf8').split('\n').slice(0, POINTS + 1).join('\n');
}

test('in headless Chromium: CSV by URL, Cache API reload, and the same predictions as Node', async () => {
  const gpu = await testGpu();
  const model = await loadNarrowGeoClip(gpu);
  const gallery = await buildGallery(model, parseGalleryCsv(gallerySlice()), { cache: false, chunkRows: 128 });
  const inputs = await readFixture('test/fixtures/geoclip/image-mlp.safetensors');
  const expected = (await predict(model.imageEmbeddings(gpu.upload(inputs.input!, [5, 768])), gallery, 3)).flat();
  gallery.release();
  model.release();

  const files = {
    '/': modulePage('/page.js'),
    '/page.js': pageBundle('model/gallery-browser'),
    '/mlp.pth': `${DATA}/image_encoder_mlp_weights.pth`,
    '/logit_scale.pth': `${DATA}/logit_scale_weights.pth`,
    '/location.safetensors': `${GENERATED}/geoclip-location-encoder-narrow.safetensors`,
    '/image-mlp.safetensors': 'test/fixtures/geoclip/image-mlp.safetensors',
    '/gallery.csv': new TextEncoder().encode(gallerySlice()),
  };
  type GalleryResult = { adapter: string; fromCache: boolean[]; indices: number[]; probabilities: number[] };
  const result = await withBrowserPage(files, '/', (run) => pageResult<GalleryResult>(run, 'galleryResult'));
  assert.match(result.adapter, /SwiftShader/i);
  assert.equal(result.fromCache, [false, true]);
  assert.equal(result.indices, expected.map((p) => p.galleryIndex));
  result.probabilities.forEach((p, i) => assert.ok(Math.abs(p - expected[i]!.probability) <= 1e-6, `probability ${i}: browser ${p}, node ${expected[i]!.probability}`));
});

test.run();

// Browser side of gallery-browser.test.ts: GeoCLIP heads from fetched checkpoints, a gallery CSV read by
// URL, embeddings cached in the Cache API (the second build must come from it), then predictions.
import { buildGallery, predict, readGalleryCsv } from '../../src/model/geoclip/gallery.js';
import { GeoClip } from '../../src/model/geoclip/geoclip.js';
import { createDevice } from '../../src/runtime/index.js';
import { openWeights } from '../../src/weights/index.js';

declare global {
  interface Window {
    galleryResult?: { adapter: string; fromCache: boolean[]; indices: number[]; probabilities: number[] } | { error: string };
  }
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

(async () => {
  const gpu = await createDevice();
  const [imageMlp, locationEncoder, logitScale, inputs] = await Promise.all(
    ['/mlp.pth', '/location.safetensors', '/logit_scale.pth', '/image-mlp.safetensors'].map(async (path) => openWeights(await fetchBytes(path))),
  );
  const model = await GeoClip.load(gpu, { imageMlp: imageMlp!, locationEncoder: locationEncoder!, logitScale: logitScale! });
  const gps = await readGalleryCsv(new URL('/gallery.csv', location.href));
  await caches.delete('geolens-galleries');
  const first = await buildGallery(model, gps, { chunkRows: 128 });
  first.release();
  const gallery = await buildGallery(model, gps, { chunkRows: 128 });
  const images = model.imageEmbeddings(gpu.upload(await inputs!.readF32('input'), [5, 768]));
  const predictions = await predict(images, gallery, 3);
  return {
    adapter: gpu.adapterName,
    fromCache: [first.fromCache, gallery.fromCache],
    indices: predictions.flat().map((p) => p.galleryIndex),
    probabilities: predictions.flat().map((p) => p.probability),
  };
})().then(
  (result) => (window.galleryResult = result),
  (error: Error) => (window.galleryResult = { error: `${error.name}: ${error.message}` }),
);

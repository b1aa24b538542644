// Browser side of refine-browser.test.ts: the same known-answer refinement, models fetched by URL.
import { loadGeoClip } from '../../src/api/loaders.js';
import { buildGallery, readGalleryCsv } from '../../src/model/geoclip/gallery.js';
import { createDevice } from '../../src/runtime/index.js';
import { openWeights } from '../../src/weights/index.js';
import { runRefineCase } from './refine-cases.js';

declare global {
  interface Window {
    refineResult?: { adapter: string; plainKm: number[]; refinedKm: number[]; refined: number[]; gains: number[] } | { error: string };
  }
}

(async () => {
  const gpu = await createDevice();
  const response = await fetch('/geoclip.safetensors');
  if (!response.ok) throw new Error(`/geoclip.safetensors: HTTP ${response.status}`);
  const model = await loadGeoClip(gpu, await openWeights(new Uint8Array(await response.arrayBuffer())));
  const gallery = await buildGallery(model, await readGalleryCsv(new URL('/gallery.csv', location.href)), { cache: false });
  const count = Number(new URL(location.href).searchParams.get('points') ?? 8);
  const { plainKm, refinedKm, refined, gains } = await runRefineCase(model, gallery, count, 2024);
  return { adapter: gpu.adapterName, plainKm, refinedKm, refined, gains };
})().then(
  (result) => (window.refineResult = result),
  (error: Error) => (window.refineResult = { error: `${error.name}: ${error.message}` }),
);

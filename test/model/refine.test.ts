import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadGeoClip } from '../../src/api/loaders.js';
import { encodeSafetensors } from '../../src/model/concepts/bank.js';
import { buildGallery, readGalleryCsv, type Gallery } from '../../src/model/geoclip/gallery.js';
import type { GeoClip } from '../../src/model/geoclip/geoclip.js';
import { refineCost, refinePlaces } from '../../src/geo/refine.js';
import { GeolensError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { mean, median, REFINE_CASE, runRefineCase, type RefineCaseResult } from './refine-cases.js';
import { readFixture } from './geoclip-fixtures.js';
import { ensureTinyModel } from '../support/tiny-model.js';

const API = 'test/fixtures/generated/api';
const OUT = 'test/fixtures/generated/refine';
const REFINE_POINTS = 32;
// docs/REFINEMENT.md's table for this seeded case (km to P): the refined mean and median are held to
// 1.5× of it, the plain search's (fixed by the seed and the gallery) to 5%, so the case cannot get easier.
const DOCUMENTED = { nearestMean: 27.5, plainMean: 45.8, refinedMean: 0.22, refinedMedian: 0.19 };
const MARGIN = 1.5;

let model: GeoClip;
let gallery: Gallery;
let result: RefineCaseResult;

test('refinement moves GeoCLIP\'s answer measurably closer to a hidden point P', async () => {
  ensureTinyModel();
  const gpu = await testGpu();
  model = await loadGeoClip(gpu, `${API}/geoclip.safetensors`);
  gallery = await buildGallery(model, await readGalleryCsv(`${API}/gallery.csv`), { cache: false });
  const started = performance.now();
  result = await runRefineCase(model, gallery, REFINE_POINTS, 2024);
  const seconds = (performance.now() - started) / 1000;
  const better = result.refinedKm.filter((km, i) => km < result.plainKm[i]!).length;
  console.log(`  ${REFINE_POINTS} hidden points, ${refineCost(REFINE_CASE)} encoder points each (${seconds.toFixed(1)} s): ` +
    `km to P — nearest gallery row mean ${mean(result.nearestKm).toFixed(1)} / median ${median(result.nearestKm).toFixed(1)}, ` +
    `GeoCLIP top-1 mean ${mean(result.plainKm).toFixed(1)} / median ${median(result.plainKm).toFixed(1)}, ` +
    `refined mean ${mean(result.refinedKm).toFixed(2)} / median ${median(result.refinedKm).toFixed(2)}; closer for ${better}/${REFINE_POINTS}`);
  assert.ok(Math.min(...result.gains) >= 0, `a refined point scored below its start (gain ${Math.min(...result.gains)})`);
  const near = (value: number, documented: number) => Math.abs(value - documented) <= 0.05 * documented;
  assert.ok(near(mean(result.nearestKm), DOCUMENTED.nearestMean), `nearest gallery row mean ${mean(result.nearestKm)} km, documented ${DOCUMENTED.nearestMean}`);
  assert.ok(near(mean(result.plainKm), DOCUMENTED.plainMean), `GeoCLIP top-1 mean ${mean(result.plainKm)} km, documented ${DOCUMENTED.plainMean}`);
  assert.ok(mean(result.refinedKm) <= MARGIN * DOCUMENTED.refinedMean, `refined mean ${mean(result.refinedKm)} km, documented ${DOCUMENTED.refinedMean}`);
  assert.ok(median(result.refinedKm) <= MARGIN * DOCUMENTED.refinedMedian, `refined median ${median(result.refinedKm)} km, documented ${DOCUMENTED.refinedMedian}`);
  assert.is(better, REFINE_POINTS, `closer than GeoCLIP's top place for ${better} of ${REFINE_POINTS}`);
  // Off the gallery grid: every refined point beats the best any gallery row could do for its P.
  result.refinedKm.forEach((km, i) => assert.ok(km < result.nearestKm[i]!, `P ${i}: refined ${km} km, nearest gallery row ${result.nearestKm[i]} km`));
});

test('every refined grid score equals PyTorch\'s evaluation of the same points', async () => {
  // The points of every pass for the first 8 P go to PyTorch, which embeds them and P with its own encoder.
  const keep = 8;
  const gps: number[] = [];
  const owner: number[] = [];
  const logits: number[] = [];
  for (const pass of result.passes) {
    for (let i = 0; i < pass.logits.length; i++) {
      if (pass.image[i]! >= keep) continue;
      gps.push(pass.gps[2 * i]!, pass.gps[2 * i + 1]!);
      owner.push(pass.image[i]!);
      logits.push(pass.logits[i]!);
    }
  }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}/grid.safetensors`, encodeSafetensors({
    targets: { shape: [keep, 2], data: new Float32Array(result.targets.slice(0, 2 * keep)) },
    gps: { shape: [owner.length, 2], data: new Float32Array(gps) },
    owner: { shape: [owner.length], data: new Float32Array(owner) },
  }));
  execFileSync('/usr/bin/python3', ['scripts/fixtures/refine_scores.py', `${OUT}/grid.safetensors`, `${OUT}/expected.safetensors`], { stdio: 'inherit' });
  const expected = (await readFixture(`${OUT}/expected.safetensors`)).logits!;
  assert.is(expected.length, logits.length);
  let worst = 0;
  for (let i = 0; i < logits.length; i++) worst = Math.max(worst, Math.abs(logits[i]! - expected[i]!));
  // f32 encoder against float64: compared as cosines (logit / scale), as the location-encoder test does.
  const worstCosine = worst / model.scale;
  console.log(`  ${logits.length} grid points: max |logit − PyTorch| = ${worst.toExponential(2)} (cosine ${worstCosine.toExponential(2)})`);
  assert.ok(worstCosine <= 2e-5, `worst cosine difference ${worstCosine}`);
});

test('refined probabilities sit on the gallery softmax; bad options are named', async () => {
  const gpu = model.gpu;
  const targets = new Float32Array(result.targets.slice(0, 4));
  const images = model.locationEmbeddings(targets);
  const { predict } = await import('../../src/model/geoclip/gallery.js');
  const plain = await predict(model, images, gallery, 2);
  const refined = await refinePlaces(model, images, plain, model.scale, { candidates: 2, radiusKm: 30, steps: 1, gridSize: 3 });
  for (let b = 0; b < 2; b++) {
    for (let c = 0; c < 2; c++) {
      const start = plain[b]![c]!;
      const point = refined[b]![c]!;
      // p_refined / p_start = exp(logit_refined − logit_start): one log-sum-exp for both.
      assert.ok(Math.abs(Math.log(point.probability / start.probability) - (point.logit - point.startLogit)) < 1e-3, `image ${b} candidate ${c}`);
      assert.ok(point.probability >= start.probability * (1 - 1e-4));
    }
  }
  await refinePlaces(model, images, plain, model.scale, { gridSize: 4 }).then(
    () => assert.unreachable('even grid'),
    (e: Error) => assert.ok(e instanceof GeolensError && /gridSize must be an odd integer/.test(e.message), e.message),
  );
  await refinePlaces(model, images, plain, model.scale, { radiusKm: -1 }).then(
    () => assert.unreachable('negative radius'),
    (e: Error) => assert.ok(e instanceof GeolensError && /radiusKm/.test(e.message), e.message),
  );
  await refinePlaces(model, images, plain.slice(0, 1), model.scale).then(
    () => assert.unreachable('lists and images differ'),
    (e: Error) => assert.match(e.message, /1 lists of start places for 2 image embeddings/),
  );
  images.release();
  void gpu;
});

test.run();

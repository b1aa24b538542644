import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fitConcepts } from '../../src/model/concepts/fit.js';
import { createConceptBank } from '../../src/model/concepts/bank.js';
import { ConceptModule, type ConceptParams } from '../../src/model/concepts/module.js';
import { openWeights, type RangedWeightSource } from '../../src/weights/index.js';
import type { ConceptSimilarity } from '../../src/kernels/concept.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, relativeError } from '../support/numeric.js';

// Golden values from scripts/fixtures/concepts.py (float64 PyTorch, autograd for the gradients).
const FIXTURES = 'test/fixtures/concepts';

async function readAll(source: RangedWeightSource): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const name of source.tensors.keys()) out.set(name, await source.readF32(name));
  return out;
}

function get(map: Map<string, Float32Array>, name: string): Float32Array {
  const value = map.get(name);
  if (!value) throw new Error(`fixture tensor '${name}' missing`);
  return value;
}

for (const similarity of ['bhattacharyya', 'cosine'] as ConceptSimilarity[]) {
  test(`concept scores and re-ranked scores match PyTorch (${similarity})`, async () => {
    const gpu = await testGpu();
    const source = await openWeights(`${FIXTURES}/rerank.safetensors`);
    const t = await readAll(source);
    const tau = Number(source.metadata.tau);
    const lambda = Number(source.metadata.lambda);
    await source.close();
    const [b, d] = source.tensors.get('images')!.shape as [number, number];
    const [n] = source.tensors.get('gallery')!.shape as [number];
    const [, tCount] = source.tensors.get('candidates')!.shape as [number, number];
    const k = source.tensors.get('concepts')!.shape[0]!;
    const names = Array.from({ length: k }, (_, i) => `concept ${i}`);
    const bank = createConceptBank(names, get(t, 'concepts'), d);
    const params: ConceptParams = {
      dim: d,
      concepts: k,
      imageWeight: get(t, 'image_weight'),
      imageBias: get(t, 'image_bias'),
      locationWeight: get(t, 'location_weight'),
      locationBias: get(t, 'location_bias'),
      delta: get(t, 'delta'),
    };
    const module = new ConceptModule(gpu, bank, params, { tau, lambda, similarity });
    const images = gpu.upload(get(t, 'images'), [b, d]);
    const gallery = gpu.upload(get(t, 'gallery'), [n, d]);
    const candidates = Uint32Array.from(get(t, 'candidates'));
    const ranking = module.rerank(images, gallery, candidates, { candidatesPerQuery: tCount });

    const sImg = await ranking.imageProbs.read();
    const sLoc = await ranking.placeProbs.read();
    const scores = await ranking.scores.read();
    const ids = new Uint32Array(await gpu.readRaw(ranking.ids));
    const parts = await ranking.parts.read();
    const errors = {
      s_img: relativeError(sImg, get(t, 's_img')),
      s_loc: relativeError(sLoc, get(t, 's_loc')),
      cosine: relativeError(parts.subarray(0, b * tCount), get(t, 'cosine')),
      similarity: relativeError(parts.subarray(b * tCount), get(t, `${similarity}.similarity`)),
      scores: relativeError(scores, get(t, `${similarity}.sorted_scores`)),
    };
    console.log(`    ${similarity}: max error relative to the largest value`, Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', '));
    assertClose(sImg, get(t, 's_img'), 0, 1e-4, 's_img');
    assertClose(sLoc, get(t, 's_loc'), 0, 1e-4, 's_loc');
    assertClose(parts.subarray(0, b * tCount), get(t, 'cosine'), 0, 1e-4, 'cosine');
    assertClose(parts.subarray(b * tCount), get(t, `${similarity}.similarity`), 0, 1e-4, 'similarity');
    assertClose(scores, get(t, `${similarity}.sorted_scores`), 0, 1e-4, 'sorted scores');
    const slots = get(t, `${similarity}.sorted_slots`);
    for (let i = 0; i < b * tCount; i++) {
      assert.is(ids[i], slots[i], `sorted slot ${i}`);
      assert.is(ids[b * tCount + i], candidates[Math.floor(i / tCount) * tCount + slots[i]!], `sorted gallery row ${i}`);
    }

    const explained = await module.explain(ranking, { places: 2, concepts: 3 });
    assert.is(explained.length, b);
    assert.is(explained[0]!.length, 2);
    const top = explained[0]![0]!;
    assert.is(top.galleryRow, ids[b * tCount]);
    assert.is(top.imageConcepts.length, 3);
    assert.ok(top.imageConcepts[0]!.probability >= top.imageConcepts[1]!.probability);

    // Concept distributions computed once per gallery row give the same ranking and explanations.
    const galleryProbs = module.galleryConcepts(gallery);
    const cached = module.rerank(images, gallery, candidates, { galleryProbs });
    assert.equal(await cached.scores.read(), scores);
    assert.equal(new Uint32Array(await gpu.readRaw(cached.ids)), ids);
    const cachedExplained = await module.explain(cached, { places: 2, concepts: 3 });
    assert.equal(JSON.stringify(cachedExplained), JSON.stringify(explained));
    cached.release();
    assert.ok(!Number.isNaN((await galleryProbs.read())[0]!), 'a ranking does not release the caller\'s gallery distributions');
    galleryProbs.release();
    ranking.release();
    module.release();
  });
}

interface FitCase {
  optimizer: 'adam' | 'sgd';
  lr: number;
  steps: number;
  batch: number;
  seed: number;
  tau: number;
  tau_c: number;
  mu: number;
  trained: string[];
  momentum: number;
}

test('fitted projections, Δ and per-step losses match PyTorch autograd + torch.optim after a fixed number of steps', async () => {
  const gpu = await testGpu();
  const source = await openWeights(`${FIXTURES}/fit.safetensors`);
  const t = await readAll(source);
  const cases = JSON.parse(source.metadata.cases!) as Record<string, FitCase>;
  await source.close();
  const [, d] = source.tensors.get('images')!.shape as [number, number];
  const k = source.tensors.get('concepts')!.shape[0]!;
  const bank = createConceptBank(Array.from({ length: k }, (_, i) => `c${i}`), get(t, 'concepts'), d);
  const init: ConceptParams = {
    dim: d,
    concepts: k,
    imageWeight: get(t, 'init.w_img'),
    imageBias: get(t, 'init.b_img'),
    locationWeight: get(t, 'init.w_loc'),
    locationBias: get(t, 'init.b_loc'),
    delta: get(t, 'init.delta'),
  };
  for (const [name, c] of Object.entries(cases)) {
    const fit = await fitConcepts(gpu, { images: get(t, 'images'), locations: get(t, 'locations') }, {
      bank,
      init,
      steps: c.steps,
      batchSize: c.batch,
      optimizer: c.optimizer,
      lr: c.lr,
      momentum: c.momentum,
      seed: c.seed,
      tau: c.tau,
      tauContrastive: c.tau_c,
      divergenceWeight: c.mu,
      train: { image: c.trained.includes('w_img'), location: c.trained.includes('w_loc'), delta: c.trained.includes('delta') },
    });
    const expectedLosses = get(t, `${name}.losses`);
    const losses = new Float32Array(c.steps * 3);
    for (let s = 0; s < c.steps; s++) {
      losses[3 * s] = fit.losses.total[s]!;
      losses[3 * s + 1] = fit.losses.contrastive[s]!;
      losses[3 * s + 2] = fit.losses.divergence[s]!;
    }
    const p = fit.params;
    const pairs: [string, Float32Array | null][] = [
      ['w_img', p.imageWeight], ['b_img', p.imageBias], ['w_loc', p.locationWeight], ['b_loc', p.locationBias], ['delta', p.delta],
    ];
    let worst = 0;
    for (const [key, actual] of pairs) {
      const expected = get(t, `${name}.${key}`);
      assert.ok(actual, `${name}: ${key} returned`);
      let maxDiff = 0;
      for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(actual![i]! - expected[i]!));
      worst = Math.max(worst, maxDiff);
      assertClose(actual!, expected, 0, 1e-4, `${name}.${key}`);
    }
    console.log(`    ${name}: loss ${expectedLosses[0]!.toFixed(4)} -> ${expectedLosses[3 * (c.steps - 1)]!.toFixed(4)}, loss rel. error ${relativeError(losses, expectedLosses).toExponential(1)}, max |Δparam| ${worst.toExponential(1)}`);
    assertClose(losses, expectedLosses, 1e-4, 1e-5, `${name}.losses`);
  }
});

test.run();

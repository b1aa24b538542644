import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fitConcepts, loadConceptPairs } from '../../src/model/concepts/fit.js';
import { createConceptBank, encodeSafetensors } from '../../src/model/concepts/bank.js';
import { ConceptModule, conceptParamsToSafetensors, type ConceptParams } from '../../src/model/concepts/module.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { seededRandom } from '../support/numeric.js';

/**
 * A synthetic world where the right answer is known. P places, each tagged with one of K concepts.
 * A place's GPS embedding carries its concept only through a hidden rotation M (y = n(g + α·M·c)), so
 * the identity projection cannot read it; a photo of the place is its embedding drowned in noise plus
 * a visible cue of the concept (x = n(y + σ·ε + β·c)). Plain cosine confuses nearby places; a fitted
 * P_loc ≈ Mᵀ lets the concept term rule out places whose concept does not match the photo's.
 */
const D = 32, K = 8, PLACES = 64, ALPHA = 0.7, BETA = 1.0, SIGMA = 2.5;

function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function normalize(v: Float64Array): Float64Array {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

function syntheticWorld(seed: number) {
  const normal = gaussian(seededRandom(seed));
  const randomUnit = () => normalize(Float64Array.from({ length: D }, normal));
  const concepts = Array.from({ length: K }, randomUnit);
  // A random rotation by Gram-Schmidt.
  const rotation: Float64Array[] = [];
  while (rotation.length < D) {
    let v = Float64Array.from({ length: D }, normal);
    for (const r of rotation) {
      const dot = v.reduce((a, x, i) => a + x * r[i]!, 0);
      v = v.map((x, i) => x - dot * r[i]!);
    }
    rotation.push(normalize(v));
  }
  const rotate = (c: Float64Array) => Float64Array.from(rotation, (row) => row.reduce((a, x, i) => a + x * c[i]!, 0));
  const label = (place: number) => place % K;
  const places = Array.from({ length: PLACES }, (_, p) => {
    const g = randomUnit();
    const mc = rotate(concepts[label(p)]!);
    return normalize(g.map((x, i) => x + ALPHA * mc[i]!));
  });
  const pick = seededRandom(seed + 1);
  const photos = (count: number) => {
    const truth = Array.from({ length: count }, () => Math.floor(pick() * PLACES));
    const x = truth.map((t) => {
      const noise = randomUnit();
      const c = concepts[label(t)]!;
      return normalize(places[t]!.map((v, i) => v + SIGMA * noise[i]! + BETA * c[i]!));
    });
    return { truth, x };
  };
  const flat = (rows: Float64Array[]) => {
    const out = new Float32Array(rows.length * D);
    rows.forEach((r, i) => out.set(r, i * D));
    return out;
  };
  return { concepts: flat(concepts), places: flat(places), photos, flat };
}

test('fitting lowers the loss on a synthetic world and the fitted module beats plain cosine at top-1', async () => {
  const gpu = await testGpu();
  const world = syntheticWorld(11);
  const train = world.photos(512);
  const heldOut = world.photos(256);
  const bank = createConceptBank(Array.from({ length: K }, (_, i) => `concept ${i}`), world.concepts, D);
  const trainLocations = world.flat(train.truth.map((t) => Float64Array.from(world.places.subarray(t * D, (t + 1) * D))));
  const tau = 0.1;
  const lambda = 0.5;
  const fit = await fitConcepts(gpu, { images: world.flat(train.x), locations: trainLocations }, {
    bank,
    steps: 100,
    batchSize: 64,
    lr: 0.01,
    tau,
    tauContrastive: 0.1,
    divergenceWeight: 0.1,
    lambda,
  });
  const { total } = fit.losses;
  const early = total[0]!;
  const late = total.slice(-10).reduce((a, b) => a + b, 0) / 10;

  const images = gpu.upload(world.flat(heldOut.x), [heldOut.truth.length, D]);
  const gallery = gpu.upload(world.places, [PLACES, D]);
  const everyPlace = new Uint32Array(heldOut.truth.length * PLACES).map((_, i) => i % PLACES);
  const top1 = async (module: ConceptModule) => {
    const galleryProbs = module.galleryConcepts(gallery);
    const ranking = module.rerank(images, gallery, everyPlace, { galleryProbs });
    const ranked = await module.readRanking(ranking);
    ranking.release();
    galleryProbs.release();
    return ranked.filter((places, q) => places[0]!.galleryRow === heldOut.truth[q]).length / heldOut.truth.length;
  };
  // Plain cosine, on the host: the baseline the module must beat.
  const cosineTop1 = heldOut.x.filter((x, q) => {
    let best = -1, bestScore = -Infinity;
    for (let p = 0; p < PLACES; p++) {
      const score = x.reduce((a, v, i) => a + v * world.places[p * D + i]!, 0);
      if (score > bestScore) [best, bestScore] = [p, score];
    }
    return best === heldOut.truth[q];
  }).length / heldOut.truth.length;
  const identity = new ConceptModule(gpu, bank, null, { tau, lambda });
  const fitted = new ConceptModule(gpu, bank, fit.params);
  const identityTop1 = await top1(identity);
  const fittedTop1 = await top1(fitted);
  console.log(`    loss ${early.toFixed(3)} -> ${late.toFixed(3)} (mean of last 10 of 100 steps); held-out top-1: cosine ${cosineTop1.toFixed(3)}, identity module ${identityTop1.toFixed(3)}, fitted module ${fittedTop1.toFixed(3)}`);
  assert.ok(late < 0.7 * early, `loss fell from ${early} to ${late}`);
  assert.ok(fittedTop1 >= cosineTop1 + 0.05, `fitted top-1 ${fittedTop1} vs cosine ${cosineTop1}`);
  assert.ok(fittedTop1 > identityTop1, `fitted top-1 ${fittedTop1} vs identity module ${identityTop1}`);

  // The fitted options travel with the parameters.
  assert.equal(fit.params.options, { tau, lambda, similarity: 'bhattacharyya' });
  const reloaded = await ConceptModule.load(gpu, bank, conceptParamsToSafetensors(fit.params));
  assert.is(await top1(reloaded), fittedTop1);
  for (const m of [identity, fitted, reloaded]) m.release();
});

test('fitting is deterministic: the same seed gives the same bits, from host or GPU pairs', async () => {
  const gpu = await testGpu();
  const world = syntheticWorld(5);
  const photos = world.photos(48);
  const bank = createConceptBank(Array.from({ length: K }, (_, i) => `c${i}`), world.concepts, D);
  const pairs = { images: world.flat(photos.x), locations: world.flat(photos.truth.map((t) => Float64Array.from(world.places.subarray(t * D, (t + 1) * D)))) };
  const options = { bank, steps: 6, batchSize: 16, lr: 0.01, train: { delta: true }, seed: 3 };
  const [a, b] = [await fitConcepts(gpu, pairs, options), await fitConcepts(gpu, pairs, options)];
  // Pairs already on the GPU (e.g. straight from the encoders) train the same way as host arrays.
  const onGpu = { images: gpu.upload(pairs.images, [48, D]), locations: pairs.locations };
  const c = await fitConcepts(gpu, onGpu, options);
  for (const other of [b, c]) {
    assert.equal(a.losses.total, other.losses.total);
    for (const key of ['imageWeight', 'locationWeight', 'imageBias', 'locationBias', 'delta'] as const) {
      assert.equal(a.params[key], other.params[key], key);
    }
  }
});

test('pairs load from a safetensors file; progress reports the same losses the fit returns', async () => {
  const gpu = await testGpu();
  const world = syntheticWorld(8);
  const photos = world.photos(32);
  const images = world.flat(photos.x);
  const locations = world.flat(photos.truth.map((t) => Float64Array.from(world.places.subarray(t * D, (t + 1) * D))));
  const file = encodeSafetensors({ images: { shape: [32, D], data: images }, locations: { shape: [32, D], data: locations } });
  const pairs = await loadConceptPairs(file);
  assert.is(pairs.dim, D);
  assert.equal(pairs.images, images);
  const bank = createConceptBank(Array.from({ length: K }, (_, i) => `c${i}`), world.concepts, D);
  const seen: { step: number; total: number }[] = [];
  const fit = await fitConcepts(gpu, pairs, { bank, steps: 5, batchSize: 16, progressEvery: 2, onProgress: ({ step, total }) => seen.push({ step, total }) });
  assert.equal(seen.map((p) => p.step), [2, 4, 5]);
  seen.forEach(({ step, total }) => assert.is(total, fit.losses.total[step - 1]));
  await loadConceptPairs(encodeSafetensors({ images: { shape: [32, D], data: images } })).then(
    () => assert.unreachable('should reject'),
    (e: Error) => assert.match(e.message, /no 'locations' tensor/),
  );
});

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ShapeError, `${(error as Error).name}: ${(error as Error).message}`);
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

test('fitting rejects mismatched pairs and bad settings with clear errors', async () => {
  const gpu = await testGpu();
  const bank = createConceptBank(['a', 'b'], new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]), 4);
  const images = new Float32Array(12);
  await rejects(fitConcepts(gpu, { images, locations: new Float32Array(8) }, { bank }), /3 image embeddings but 2 location/);
  await rejects(fitConcepts(gpu, { images, locations: new Float32Array(10) }, { bank }), /10 values/);
  const init: ConceptParams = { dim: 8, concepts: 2, imageWeight: null, imageBias: null, locationWeight: null, locationBias: null, delta: null };
  await rejects(fitConcepts(gpu, { images, locations: images }, { bank, init }), /\[2, 8\].*\[2, 4\]/);
  await rejects(fitConcepts(gpu, { images, locations: images }, { bank, train: { image: false, location: false } }), /nothing to train/);
  await rejects(fitConcepts(gpu, { images, locations: images }, { bank, lr: -1 }), /lr must be a positive number/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { ClipTextModel, pooledPositions, type ClipTextConfig } from '../../src/model/clip/text.js';
import { ClipTokenizer, type TokenBatch } from '../../src/model/clip/tokenizer.js';
import { ShapeError } from '../../src/runtime/index.js';
import { openWeights, parseClipTextConfig, type RangedWeightSource } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { relativeError } from '../support/numeric.js';

const DIR = 'test/fixtures/generated/clip-text-tiny';
const VOCAB = '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz';

/** Runs scripts/fixtures/clip_text.py (about a second) unless its outputs are already there. */
function ensureFixture(): void {
  if (existsSync(`${DIR}/expected.safetensors`) && existsSync(`${DIR}/model.safetensors`)) return;
  const result = spawnSync('/usr/bin/python3', ['scripts/fixtures/clip_text.py'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`clip_text.py failed (${result.status}): ${result.stderr}`);
}

interface Fixture {
  config: ClipTextConfig;
  weights: RangedWeightSource;
  texts: string[];
  expected: Record<string, Float32Array>;
}

let fixture: Promise<Fixture> | null = null;
function load(): Promise<Fixture> {
  return (fixture ??= (async () => {
    ensureFixture();
    const config = parseClipTextConfig(JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8')));
    const weights = await openWeights(`${DIR}/model.safetensors`);
    const source = await openWeights(`${DIR}/expected.safetensors`);
    const expected: Record<string, Float32Array> = {};
    for (const name of source.tensors.keys()) expected[name] = await source.readF32(name);
    const texts = JSON.parse(source.metadata.texts!) as string[];
    await source.close();
    return { config, weights, texts, expected };
  })());
}

let tokenizer: Promise<ClipTokenizer> | null = null;
const tokens = async (texts: string[]): Promise<TokenBatch> => (await (tokenizer ??= ClipTokenizer.load(VOCAB))).tokenizeBatch(texts);

/** The smallest per-row cosine similarity between two [rows, dim] arrays. */
function minCosine(actual: Float32Array, expected: Float32Array, dim: number): number {
  let worst = 1;
  for (let r = 0; r < expected.length / dim; r++) {
    let dot = 0, aa = 0, ee = 0;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      dot += actual[c]! * expected[c]!;
      aa += actual[c]! ** 2;
      ee += expected[c]! ** 2;
    }
    worst = Math.min(worst, dot / Math.sqrt(aa * ee));
  }
  return worst;
}

test('tokenizer + text tower match the float64 PyTorch forward of HF CLIPTextTransformer (cosine ≥ 0.99999)', async () => {
  const gpu = await testGpu();
  const { config, weights, texts, expected } = await load();
  const batch = await tokens(texts);
  assert.equal(Array.from(batch.ids), Array.from(expected.ids!), 'TS tokenizer ids vs the fixture ids');
  const model = await ClipTextModel.load(gpu, weights, config);
  const features = model.textFeatures(batch);
  assert.equal(features.shape, [texts.length, 48]);
  const got = await features.read();
  const cosine = minCosine(got, expected.features!, 48);
  const error = relativeError(got, expected.features!);
  console.log(`  clip-text tiny f32: 1 - min cosine ${(1 - cosine).toExponential(2)}, max rel error ${error.toExponential(2)}`);
  assert.ok(cosine >= 0.99999, `cosine ${cosine}`);
  assert.ok(error < 1e-4, `relative error ${error}`);

  // Plain ids [n, 77] give the same answer; so does one text alone (its own, shorter, trimmed sequence).
  const again = await model.textFeatures(batch.ids).read();
  assert.ok(relativeError(again, got) === 0, 'Int32Array input differs from TokenBatch input');
  const alone = await model.textFeatures(batch.ids.slice(0, 77)).read();
  assert.ok(relativeError(alone, got.subarray(0, 48)) < 1e-5, 'a text alone differs from the same text in a batch');
  // Strings go through an attached tokenizer.
  assert.throws(() => model.textFeatures(texts), /no tokenizer/);
  model.tokenizer = await (tokenizer ??= ClipTokenizer.load(VOCAB));
  assert.ok(relativeError(await model.textFeatures(texts).read(), got) === 0, 'string input differs from id input');
  model.release();
});

test('hidden_act gelu and packed-f16 storage', async () => {
  const gpu = await testGpu();
  const { config, weights, texts, expected } = await load();
  const batch = await tokens(texts);
  const gelu = await ClipTextModel.load(gpu, weights, { ...config, hidden_act: 'gelu' });
  const geluCosine = minCosine(await gelu.textFeatures(batch).read(), expected.features_gelu!, 48);
  gelu.release();
  const half = await ClipTextModel.load(gpu, weights, config, { dtype: 'f16' });
  const halfCosine = minCosine(await half.textFeatures(batch).read(), expected.features!, 48);
  half.release();
  console.log(`  clip-text tiny: gelu 1 - min cosine ${(1 - geluCosine).toExponential(2)}, f16 weights 1 - min cosine ${(1 - halfCosine).toExponential(2)}`);
  assert.ok(geluCosine >= 0.99999, `gelu cosine ${geluCosine}`);
  assert.ok(halfCosine >= 0.999, `f16 cosine ${halfCosine}`);
});

test('pooled position: largest id for legacy eos 2, first eos id otherwise, 0 when absent', () => {
  const ids = new Int32Array([49406, 5, 49407, 0, 49406, 49407, 7, 49407, 1, 2, 3, 4]);
  assert.equal(Array.from(pooledPositions(ids, 4, 2)), [2, 1, 3]);
  assert.equal(Array.from(pooledPositions(ids, 4, 49407)), [2, 1, 0]);
  assert.equal(Array.from(pooledPositions(ids, 4, 3)), [0, 0, 2]);
});

test('bad ids, configs and checkpoints fail naming the problem', async () => {
  const gpu = await testGpu();
  const { config, weights } = await load();
  const model = await ClipTextModel.load(gpu, weights, config);
  const ids = new Int32Array(77);
  ids[3] = 49408;
  assert.throws(() => model.textFeatures(ids), (e: Error) => e instanceof ShapeError && /id 49408 at row 0, position 3/.test(e.message));
  assert.throws(() => model.textFeatures(new Int32Array(80)), (e: Error) => e instanceof ShapeError && /80 ids/.test(e.message));
  model.release();
  await ClipTextModel.load(gpu, weights, { ...config, hidden_size: 32 }).then(
    () => assert.unreachable('a misshapen checkpoint was accepted'),
    (e: Error) => assert.match(e.message, /token_embedding\.weight.*\[49408, 64\].*\[49408, 32\]/),
  );
  await ClipTextModel.load(gpu, weights, { ...config, num_hidden_layers: 3 }).then(
    () => assert.unreachable('a missing layer was accepted'),
    (e: Error) => assert.match(e.message, /text_model\.encoder\.layers\.2\./),
  );
  await ClipTextModel.load(gpu, weights, { ...config, hidden_act: 'gelu_new' }).then(
    () => assert.unreachable('an unsupported activation was accepted'),
    (e: Error) => assert.match(e.message, /hidden_act 'gelu_new' is not supported/),
  );
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GeoClip } from '../../src/model/geoclip/geoclip.js';
import { ShapeError, type Tensor } from '../../src/runtime/index.js';
import { openWeights, type TensorInfo, type WeightSource } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose } from '../support/numeric.js';
import { DATA, ensureLocationFixtures, GENERATED, readFixture, renamed } from './geoclip-fixtures.js';

const NARROW = `${GENERATED}/geoclip-location-encoder-narrow.safetensors`;

async function maxAbs(tensor: Tensor, expected: Float32Array): Promise<number> {
  const actual = await tensor.read();
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst;
}

test('real GeoCLIP image MLP (.pth) reproduces PyTorch to 1e-5; logit_scale is 3.681034803390503', async () => {
  ensureLocationFixtures();
  const gpu = await testGpu();
  const [imageMlp, logitScale, locationEncoder] = await Promise.all([
    openWeights(`${DATA}/image_encoder_mlp_weights.pth`),
    openWeights(`${DATA}/logit_scale_weights.pth`),
    openWeights(NARROW),
  ]);
  const model = await GeoClip.load(gpu, { imageMlp, logitScale, locationEncoder });
  assert.is(model.logitScale, Math.fround(3.681034803390503));
  assert.ok(Math.abs(model.scale - 39.687442779541016) < 1e-5, `scale ${model.scale}`);

  const fixture = await readFixture('test/fixtures/geoclip/image-mlp.safetensors');
  assert.is(fixture.logit_scale![0], model.logitScale);
  const input = gpu.upload(fixture.input!, [5, 768]);
  const rawError = await maxAbs(model.imageEmbeddings(input, { normalize: false }), fixture.mlp!);
  const normalizedError = await maxAbs(model.imageEmbeddings(input), fixture.normalized!);
  console.log(`  image MLP: max |GPU - PyTorch| raw ${rawError.toExponential(2)}, normalized ${normalizedError.toExponential(2)}`);
  assertClose(await model.imageEmbeddings(input, { normalize: false }).read(), fixture.mlp!, 0, 1e-5, 'raw MLP output');
  assertClose(await model.imageEmbeddings(input).read(), fixture.normalized!, 0, 1e-5, 'normalized image embeddings');

  assert.throws(() => model.imageEmbeddings(gpu.upload(new Float32Array(1024), [2, 512])), (e: Error) => e instanceof ShapeError && /\[B, 768\].*\[2, 512\]/.test(e.message));
  assert.throws(() => model.locationEmbeddings(new Float32Array([0, 0, 12, 200])), /row 1 has longitude 200/);
  model.release();
  await Promise.all([imageMlp.close(), logitScale.close(), locationEncoder.close()]);
});

test('one Hugging Face style source (image_encoder.mlp.*, location_encoder.*, logit_scale) loads the same model', async () => {
  ensureLocationFixtures();
  const gpu = await testGpu();
  const parts: [string, WeightSource][] = [
    ['image_encoder.mlp.', await openWeights(`${DATA}/image_encoder_mlp_weights.pth`)],
    ['location_encoder.', await openWeights(NARROW)],
  ];
  const tensors = new Map<string, TensorInfo>([['logit_scale', { dtype: 'F32', shape: [] }]]);
  const owner = new Map<string, [WeightSource, string]>();
  for (const [prefix, source] of parts) {
    for (const [name, info] of source.tensors) {
      tensors.set(prefix + name, info);
      owner.set(prefix + name, [source, name]);
    }
  }
  const combined: WeightSource = {
    tensors,
    readF32: async (name) => {
      if (name === 'logit_scale') return new Float32Array([2.5]);
      const [source, inner] = owner.get(name)!;
      return source.readF32(inner);
    },
    close: async () => {},
  };
  const model = await GeoClip.load(gpu, combined);
  assert.is(model.logitScale, 2.5);
  const fixture = await readFixture('test/fixtures/geoclip/image-mlp.safetensors');
  assertClose(await model.imageEmbeddings(gpu.upload(fixture.input!, [5, 768])).read(), fixture.normalized!, 0, 1e-5, 'normalized image embeddings');
  model.release();

  const broken = renamed(parts[0]![1], (name) => (name === '2.bias' ? '2.b' : name));
  try {
    await GeoClip.load(gpu, { imageMlp: broken, locationEncoder: parts[1]![1], logitScale: 1 });
    assert.unreachable('loaded an MLP without 2.bias');
  } catch (error) {
    assert.match((error as Error).message, /'2\.bias' is missing/);
  }
  for (const [, source] of parts) await source.close();
});

test.run();

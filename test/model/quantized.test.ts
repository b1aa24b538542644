// Quantized CLIP towers: a converted q8 / q4 file loads on its own (config and scheme from its metadata),
// gives the same numbers as quantizing the f32 file at load time, and stays close to the f32 model.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dequantizeMatrix, quantizeMatrix } from '../../src/kernels/quantize.js';
import { ClipVisionModel } from '../../src/model/clip/vision.js';
import {
  clipTensorFilter, CLIP_CONFIG_KEY, convertEntries, embeddedClipConfig,
} from '../../src/weights/convert.js';
import {
  encodeSafetensorsFile, isQuantizedSource, openWeights, parseClipVisionConfig, QuantizedWeightSource, storedScheme, WeightsError,
} from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { cosine } from '../support/numeric.js';
import { writeSafetensors } from '../weights/support.js';

const DIR = 'test/fixtures/clip-vision/tiny';
const configJson = readFileSync(`${DIR}/config.json`, 'utf8');
const config = parseClipVisionConfig(JSON.parse(configJson));

async function pixels(): Promise<Float32Array> {
  const source = await openWeights(`${DIR}/expected.safetensors`);
  try {
    return await source.readF32('pixels');
  } finally {
    await source.close();
  }
}

async function features(model: ClipVisionModel, input: Float32Array): Promise<Float32Array> {
  const { image_size: size } = model.config;
  const x = model.gpu.upload(input, [input.length / (3 * size * size), 3, size, size]);
  const y = model.imageFeatures(x);
  x.release();
  const values = await y.read();
  y.release();
  return values;
}

async function convertTiny(dtype: 'q8' | 'q4' | 'f16'): Promise<Uint8Array> {
  const source = await openWeights(`${DIR}/model.safetensors`);
  try {
    const { entries, metadata } = convertEntries(source, { dtype, include: clipTensorFilter(false), metadata: { [CLIP_CONFIG_KEY]: configJson } });
    return await encodeSafetensorsFile(entries, metadata);
  } finally {
    await source.close();
  }
}

test('a converted q8 / q4 tiny CLIP loads from the file alone and equals quantizing the f32 file at load', async () => {
  const gpu = await testGpu();
  const input = await pixels();
  const f32Source = await openWeights(`${DIR}/model.safetensors`);
  const f32Model = await ClipVisionModel.load(gpu, f32Source, config);
  const reference = await features(f32Model, input);
  f32Model.release();
  const dim = config.projection_dim;
  for (const [dtype, minCosine] of [['q8', 0.999], ['q4', 0.99]] as const) {
    const file = await openWeights(await convertTiny(dtype));
    assert.ok(isQuantizedSource(file), `${dtype}: the converted file is read as quantized`);
    assert.is(storedScheme(file), dtype);
    // Only what the vision tower needs, matrices as values + scales.
    assert.ok(file.tensors.has('vision_model.encoder.layers.0.mlp.fc1.weight'));
    assert.is(file.tensors.get('vision_model.encoder.layers.0.mlp.fc1.weight')!.shape.join(), `${config.intermediate_size},${config.hidden_size}`);
    assert.ok(![...file.tensors.keys()].some((name) => name.startsWith('text_model.')));
    const embedded = parseClipVisionConfig(embeddedClipConfig(file)!);
    assert.equal(embedded, config);

    const fromFile = await ClipVisionModel.load(gpu, file, embedded);
    const got = await features(fromFile, input);
    fromFile.release();
    const atLoad = await ClipVisionModel.load(gpu, f32Source, config, { dtype });
    const quantizedHere = await features(atLoad, input);
    atLoad.release();
    assert.ok(got.every((v, i) => Object.is(v, quantizedHere[i])), `${dtype}: file and load-time quantization differ`);
    for (let b = 0; b < got.length / dim; b++) {
      const c = cosine(got, reference, b * dim, dim);
      console.log(`    tiny ${dtype}: image ${b} cosine to f32 ${c.toFixed(6)}`);
      assert.ok(c >= minCosine, `${dtype}: image ${b} cosine ${c} < ${minCosine}`);
    }
    // Read back as f32, a stored matrix is exactly its dequantized values.
    const name = 'vision_model.encoder.layers.1.self_attn.q_proj.weight';
    const original = await f32Source.readF32(name);
    const expected = dequantizeMatrix(quantizeMatrix(original, [config.hidden_size, config.hidden_size], dtype));
    assert.equal([...(await file.readF32(name))], [...expected]);
    assert.equal([...(await file.readF32Range(name, 70, 100))], [...expected.subarray(70, 170)]);
    await file.close();
  }
  await f32Source.close();
});

test('an f16 conversion halves the file and loads as f16 by default', async () => {
  const bytes = await convertTiny('f16');
  const file = await openWeights(bytes);
  assert.is(file.tensors.get('visual_projection.weight')!.dtype, 'F16');
  assert.not.ok(isQuantizedSource(file));
  await file.close();
});

test('a quantization table that does not match its tensors is refused, naming the tensor', async () => {
  const table = (tensors: object) => ({ __metadata__: { 'geolens.quantization': JSON.stringify({ block: 32, tensors }) } });
  const bad = [
    [writeSafetensors({ 'w.q8': { dtype: 'I8', shape: [2, 40] } }, table({ w: { scheme: 'q8', shape: [2, 40] } })), /'w'.*'w\.scales' is missing/],
    [writeSafetensors({ 'w.q8': { dtype: 'I8', shape: [2, 40] }, 'w.scales': { dtype: 'F16', shape: [2, 1] } }, table({ w: { scheme: 'q8', shape: [2, 40] } })), /'w\.scales' is F16 \[2, 1\]; expected F16 \[2, 2\]/],
    [writeSafetensors({ 'w.q4': { dtype: 'U8', shape: [2, 20] }, 'w.scales': { dtype: 'F16', shape: [2, 2] } }, table({ w: { scheme: 'q5', shape: [2, 40] } })), /scheme must be "q8" or "q4"/],
    [writeSafetensors({ 'w.q4': { dtype: 'U8', shape: [2, 21] }, 'w.scales': { dtype: 'F16', shape: [2, 2] } }, table({ w: { scheme: 'q4', shape: [2, 40] } })), /'w\.q4' is U8 \[2, 21\]; expected U8 \[2, 20\]/],
  ] as const;
  for (const [bytes, message] of bad) {
    const error = await openWeights(bytes).then(() => null, (e: Error) => e);
    assert.ok(error instanceof WeightsError, `expected a WeightsError for ${message}`);
    assert.match(error.message, message);
  }
  assert.ok(QuantizedWeightSource);
});

test.run();

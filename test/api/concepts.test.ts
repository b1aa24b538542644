import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildConceptBankFromClip } from '../../src/api/concept-bank-builder.js';
import { openWeights } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose } from '../support/numeric.js';
import { ensureTinyModel } from '../support/tiny-model.js';

const DIR = 'test/fixtures/generated/api';
const DATA = '../shared/data/geoclip';

test('concept vectors built from prompts equal PyTorch\'s normalize(MLP(CLIP text features))', async () => {
  ensureTinyModel();
  const expected = await openWeights(`${DIR}/expected.safetensors`);
  const prompts = JSON.parse(expected.metadata.prompts!) as string[];
  const want = await expected.readF32('prompt_bank');
  await expected.close();

  const bank = await buildConceptBankFromClip({
    gpu: await testGpu(),
    clipWeights: `${DIR}/clip.safetensors`,
    clipConfig: `${DIR}/config.json`,
    geoclipWeights: { imageMlp: `${DATA}/image_encoder_mlp_weights.pth`, locationEncoder: `${DIR}/location-encoder.safetensors`, logitScale: 3.681034803390503 },
    vocabulary: '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz',
    prompts: prompts.slice(0, 2),
    extraTexts: prompts.slice(2),
  });
  assert.equal(bank.names, prompts);
  assert.is(bank.dim, 512);
  assertClose(bank.vectors, want, 0, 1e-5, 'concept vectors');
});

test.run();

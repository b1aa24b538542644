import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conceptMatmul } from '../../src/kernels/concept-train.js';
import {
  buildConceptBank,
  ConceptBankError,
  conceptBankToSafetensors,
  createConceptBank,
  encodeSafetensors,
  loadConceptBank,
  mergeConceptBanks,
  saveConceptBank,
  selectConcepts,
} from '../../src/model/concepts/bank.js';
import { customConceptPrompts, DEFAULT_CONCEPT_PROMPTS } from '../../src/model/concepts/prompts.js';
import { ShapeError } from '../../src/runtime/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose, randomArray } from '../support/numeric.js';

test('the default vocabulary: about 150 geographic concepts, unique names, every category', () => {
  const names = DEFAULT_CONCEPT_PROMPTS.map((p) => p.name);
  assert.ok(names.length >= 140 && names.length <= 170, `${names.length} concepts`);
  assert.is(new Set(names).size, names.length);
  const categories = new Set(DEFAULT_CONCEPT_PROMPTS.map((p) => p.category));
  for (const c of ['climate', 'terrain', 'land cover', 'vegetation', 'architecture', 'roads and signage', 'water', 'urban form']) {
    assert.ok(categories.has(c as never), c);
  }
  assert.ok(DEFAULT_CONCEPT_PROMPTS.every((p) => p.prompt.startsWith('a photo of ') && p.prompt.length < 77 * 3));
});

test('buildConceptBank: prompts -> text features -> MLP -> unit rows, in batches, with stand-in towers', async () => {
  const gpu = await testGpu();
  const e = 12, d = 8;
  const mlpWeight = randomArray(d * e, 3);
  // Stand-in text tower: a feature vector made from the prompt's characters, deterministic.
  const features = (text: string) => Float32Array.from({ length: e }, (_, i) => Math.sin((text.charCodeAt(i % text.length) + 1) * (i + 1)));
  const seen: string[][] = [];
  const textFeatures = (texts: string[]) => {
    seen.push(texts);
    const flat = new Float32Array(texts.length * e);
    texts.forEach((t, i) => flat.set(features(t), i * e));
    return gpu.upload(flat, [texts.length, e]);
  };
  const weight = gpu.upload(mlpWeight, [d, e]);
  const mlp = (x: Parameters<typeof conceptMatmul>[0]) => conceptMatmul(x, weight, { transB: true });
  const prompts = [...DEFAULT_CONCEPT_PROMPTS.slice(0, 7), ...customConceptPrompts(['red double-decker buses', 'a photo of a salt marsh'])];
  const bank = await buildConceptBank(textFeatures, mlp, prompts, { batchSize: 4 });
  assert.equal(seen.map((b) => b.length), [4, 4, 1]);
  assert.is(bank.dim, d);
  assert.equal(bank.names.slice(-2), ['red double-decker buses', 'a photo of a salt marsh']);
  assert.equal(bank.prompts!.slice(-2), ['a photo of red double-decker buses', 'a photo of a salt marsh']);
  const expected = new Float32Array(prompts.length * d);
  prompts.forEach((p, k) => {
    const f = features(p.prompt);
    const row = Array.from({ length: d }, (_, j) => f.reduce((a, v, i) => a + v * mlpWeight[j * e + i]!, 0));
    const norm = Math.hypot(...row);
    row.forEach((v, j) => (expected[k * d + j] = v / norm));
  });
  assertClose(bank.vectors, expected, 1e-5, 1e-6, 'bank vectors');
});

test('a bank survives safetensors bytes and files: names, prompts and vectors', async () => {
  const bank = createConceptBank(['snow cover', 'palm trees', 'left-hand traffic'], randomArray(3 * 4, 9), 4, ['a', 'b', 'c']);
  const back = await loadConceptBank(conceptBankToSafetensors(bank));
  assert.equal(back.names, bank.names);
  assert.equal(back.prompts, bank.prompts);
  assert.equal(back.vectors, bank.vectors);
  const dir = mkdtempSync(join(tmpdir(), 'geolens-bank-'));
  try {
    const path = join(dir, 'bank.safetensors');
    await saveConceptBank(bank, path);
    const fromFile = await loadConceptBank(path);
    assert.equal(fromFile.vectors, bank.vectors);
    assert.equal(fromFile.names, bank.names);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('banks merge and select by name; bad banks are refused with the reason', async () => {
  const a = createConceptBank(['x', 'y'], new Float32Array([3, 0, 0, 4]), 2);
  assert.equal(Array.from(a.vectors), [1, 0, 0, 1]);
  const merged = mergeConceptBanks(a, createConceptBank(['z'], new Float32Array([1, 1]), 2));
  assert.equal(merged.names, ['x', 'y', 'z']);
  assert.equal(selectConcepts(merged, ['z', 'x']).names, ['z', 'x']);
  assert.throws(() => selectConcepts(merged, ['w']), (e: Error) => e instanceof ConceptBankError && /'w'/.test(e.message));
  assert.throws(() => createConceptBank(['x', 'x'], new Float32Array(4), 2), /duplicate concept name 'x'/);
  assert.throws(() => createConceptBank(['x', 'y'], new Float32Array(5), 2), (e: Error) => e instanceof ShapeError && /\[2, 2\]/.test(e.message));
  assert.throws(() => createConceptBank(['x'], new Float32Array(2), 2), /norm 0/);
  assert.throws(() => mergeConceptBanks(a, createConceptBank(['q'], new Float32Array([1, 2, 3]), 3)), /\[2, 2\] vs \[1, 3\]/);
  const noNames = encodeSafetensors({ concepts: { shape: [1, 2], data: new Float32Array([1, 0]) } });
  await loadConceptBank(noNames).then(
    () => assert.unreachable('should reject'),
    (e: Error) => assert.match(e.message, /metadata 'names' is missing/),
  );
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../support/collection.js';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isQuantizedSource, openWeights, storedScheme } from '../../src/weights/index.js';
import { ensureTinyModel } from '../support/tiny-model.js';

// `geolens convert` as users run it (dist/cli.js): converted files then load with no other flag.
const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';
const work = mkdtempSync(join(tmpdir(), 'geolens-convert-'));

const geolens = (...args: string[]) => runCli(args, { GEOLENS_CACHE: work });

test('convert the CLIP vision tower (q8), the heads (q8) and the gallery embeddings (f16); locate with those files alone', async () => {
  assert.ok(existsSync('dist/cli.js'), 'dist/cli.js missing: run `node build.mjs` (npm test does)');
  ensureTinyModel();
  const clip = join(work, 'clip-vision.q8.safetensors');
  const heads = join(work, 'geoclip.q8.safetensors');
  const gallery = join(work, 'gallery.f16.safetensors');
  let run = geolens('convert', '--clip', `${DIR}/clip.safetensors`, '--config', `${DIR}/config.json`, '--dtype', 'q8', '--out', clip, '--quiet');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /vision tower, q8/);
  const converted = await openWeights(clip);
  assert.ok(isQuantizedSource(converted) && storedScheme(converted) === 'q8');
  assert.ok(![...converted.tensors.keys()].some((name) => name.startsWith('text_model.')), 'the text tower was written without --text');
  await converted.close();
  assert.ok(statSync(clip).size < statSync(`${DIR}/clip.safetensors`).size / 3, `${statSync(clip).size} bytes is not a vision-only q8 file`);

  run = geolens('convert', '--geoclip', `${DIR}/geoclip.safetensors`, '--dtype', 'q8', '--out', heads, '--quiet');
  assert.is(run.status, 0, run.stderr);
  run = geolens('convert', '--gallery-embeddings', '--geoclip', heads, '--gallery', `${DIR}/gallery.csv`, '--dtype', 'f16', '--out', gallery, '--quiet');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /2000 gallery embeddings \(512-d, f16\)/);

  // No --clip-config and no --gallery: the files carry the config, the scheme and the points.
  // Raw gallery rows, as PyTorch ranks them: the CLI's default merging and naming are off.
  run = geolens('locate', KAUAI, '--clip', clip, '--geoclip', heads, '--gallery-embeddings', gallery, '-k', '5', '--json', '--quiet', '--no-merge', '--no-names');
  assert.is(run.status, 0, run.stderr);
  const [result] = JSON.parse(run.stdout) as { places: { galleryIndex: number; probability: number }[] }[];
  const expected = await openWeights(`${DIR}/expected.safetensors`);
  const index = Array.from(await expected.readF32('topk_index'));
  await expected.close();
  const got = result!.places.map((p) => p.galleryIndex);
  console.log(`    q8 files: top-5 ${got.join(', ')} vs f32 PyTorch ${index.join(', ')}`);
  assert.is(got[0], index[0], 'top-1 place');
  assert.ok(got.filter((g) => index.includes(g)).length >= 4, 'at least 4 of the f32 top-5');
});

test('convert refuses a bad dtype and a missing source, naming them', () => {
  let run = geolens('convert', '--clip', `${DIR}/clip.safetensors`, '--dtype', 'q3', '--out', join(work, 'x.safetensors'));
  assert.is(run.status, 1);
  assert.match(run.stderr, /--dtype must be one of f32, f16, q8, q4; got 'q3'/);
  run = geolens('convert', '--dtype', 'q8', '--out', join(work, 'x.safetensors'));
  assert.is(run.status, 1);
  assert.match(run.stderr, /give one of --clip, --geoclip\/--geoclip-dir or --gallery-embeddings/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWeights } from '../../src/weights/index.js';

// The command as users run it: the built dist/cli.js (npm test builds it first), in its own process.
const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';
const cacheDir = mkdtempSync(join(tmpdir(), 'geolens-cli-'));

function geolens(...args: string[]) {
  return spawnSync(process.execPath, ['dist/cli.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, GEOLENS_QUIET: '1', GEOLENS_CACHE: cacheDir, GEOLENS_CACHE_DIR: cacheDir },
    timeout: 300_000,
  });
}

const MODEL = ['--clip', `${DIR}/clip.safetensors`, '--clip-config', `${DIR}/config.json`, '--geoclip', `${DIR}/geoclip.safetensors`, '--gallery', `${DIR}/gallery.csv`];

test('geolens locate --json prints PyTorch\'s top-5 for the photo', async () => {
  assert.ok(existsSync('dist/cli.js'), 'dist/cli.js missing: run `node build.mjs` (npm test does)');
  if (!existsSync(`${DIR}/expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/api_locate.py'], { stdio: 'inherit' });
  const run = geolens('locate', KAUAI, ...MODEL, '-k', '5', '--json', '--quiet');
  assert.is(run.status, 0, run.stderr);
  const [result] = JSON.parse(run.stdout) as { image: string; places: { galleryIndex: number; probability: number; lat: number; lon: number }[] }[];
  const expected = await openWeights(`${DIR}/expected.safetensors`);
  const index = await expected.readF32('topk_index');
  const probability = await expected.readF32('topk_probability');
  assert.is(result!.image, KAUAI);
  assert.equal(result!.places.map((p) => p.galleryIndex), Array.from(index));
  result!.places.forEach((p, i) => assert.ok(Math.abs(p.probability - probability[i]!) <= 1e-5, `probability ${i}: ${p.probability} vs ${probability[i]}`));
});

test('geolens locate prints a readable table; a second run takes the gallery from the cache', () => {
  const run = geolens('locate', KAUAI, ...MODEL, '-k', '2');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /Kauai\.png\n {2}1\. \d+\.\d{4}°[NS] \d+\.\d{4}°[EW] {2}p=0\.\d{4} {2}\(gallery #\d+\)\n {2}2\./);
  assert.match(run.stderr, /gallery embeddings \(from cache\)/);
});

test('bad input exits 1 with a message naming the problem', () => {
  const missing = geolens('locate', 'no-such-photo.jpg', ...MODEL, '--quiet');
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /no-such-photo\.jpg/);
  const badK = geolens('locate', KAUAI, ...MODEL, '-k', 'zero');
  assert.is(badK.status, 1);
  assert.match(badK.stderr, /'zero' is not a positive integer/);
  const offline = geolens('locate', KAUAI, '--offline', '--quiet');
  assert.is(offline.status, 1);
  assert.match(offline.stderr, /offline|cache/i);
});

test('geolens info names the adapter', () => {
  const run = geolens('info');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /^adapter: .+/m);
  rmSync(cacheDir, { recursive: true, force: true });
});

test.run();

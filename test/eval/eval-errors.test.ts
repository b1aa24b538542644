// `geolens eval` tells a photo's fault from the run's: an unreadable photo is listed and the rest are
// measured; a lost device stops the run with the device's message; no readable photo at all is an error,
// never a table of NaN% cells.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GeoLocator } from '../../src/api/index.js';
import { evaluate } from '../../src/eval/evaluate.js';
import type { LabeledImage } from '../../src/eval/labels.js';
import { ourStderr, runCli } from '../support/collection.js';
import { ensureTinyModel, KAUAI, TINY_MODEL_DIR, tinyModelOptions } from '../support/tiny-model.js';

const MODEL = ['--clip', `${TINY_MODEL_DIR}/clip.safetensors`, '--clip-config', `${TINY_MODEL_DIR}/config.json`, '--geoclip', `${TINY_MODEL_DIR}/geoclip.safetensors`, '--gallery', `${TINY_MODEL_DIR}/gallery.csv`];
const CHILD = 'GEOLENS_TEST_EVAL_DEVICE_LOSS';

/** Two small readable photos and KAUAI, labeled with made-up positions. */
async function photos(dir: string): Promise<LabeledImage[]> {
  const made: LabeledImage[] = [{ path: KAUAI, lat: 22.07, lon: -159.5, source: 'labels' }];
  for (const [i, [lat, lon]] of [[48.85, 2.35], [-33.92, 18.42]].entries()) {
    const path = join(dir, `photo-${i}.png`);
    await sharp(Buffer.alloc(40 * 32 * 3, 40 + 80 * i), { raw: { width: 40, height: 32, channels: 3 } }).png().toFile(path);
    made.push({ path, lat: lat!, lon: lon!, source: 'labels' });
  }
  return made;
}

if (process.env[CHILD]) {
  // The child: the device is destroyed between the first and the second batch, as a driver reset would.
  const work = mkdtempSync(join(tmpdir(), 'geolens-eval-loss-'));
  const locator = await GeoLocator.create(await tinyModelOptions());
  const embed = locator.imageEmbeddings.bind(locator);
  let calls = 0;
  locator.imageEmbeddings = async (images) => {
    if (++calls === 2) {
      locator.gpu.device.destroy();
      await locator.gpu.device.lost;
    }
    return embed(images);
  };
  let out: Record<string, unknown>;
  try {
    const report = await evaluate(locator, await photos(work), { batchSize: 1 });
    out = { returned: true, rows: report.rows.length, failed: report.failed };
  } catch (error) {
    out = { name: (error as Error).name, message: (error as Error).message };
  }
  console.log(JSON.stringify(out));
  process.exit(0);
} else {
  const work = mkdtempSync(join(tmpdir(), 'geolens-eval-errors-'));

  test('a device lost mid-run stops evaluate() with a DeviceError carrying the device\'s message, not "unreadable photo"', () => {
    ensureTinyModel();
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { encoding: 'utf8', env: { ...process.env, [CHILD]: '1', GEOLENS_QUIET: '1' }, timeout: 240_000 });
    assert.is(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { name?: string; message?: string; returned?: boolean };
    assert.not.ok(out.returned, `evaluate() returned after the device was lost: ${JSON.stringify(out)}`);
    assert.is(out.name, 'DeviceError', JSON.stringify(out));
    assert.match(out.message!, /device was lost|device lost/i);
    assert.match(out.message!, /create the models again/);
  });

  test('geolens eval where no photo can be read: exit 1 and one line naming the photos, no NaN table', async () => {
    ensureTinyModel();
    const labels = join(work, 'labels.csv');
    writeFileSync(join(work, 'broken-1.png'), 'not a png at all');
    writeFileSync(join(work, 'broken-2.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 1, 2, 3]));
    writeFileSync(labels, 'image,lat,lon\nbroken-1.png,10,20\nbroken-2.jpg,30,40\n');
    const run = runCli(['eval', join(work, 'broken-1.png'), join(work, 'broken-2.jpg'), '--labels', labels, ...MODEL, '--quiet']);
    assert.is(run.status, 1, run.stdout + run.stderr);
    assert.not.match(run.stdout + run.stderr, /NaN/);
    assert.is(run.stdout, '');
    const lines = ourStderr(run.stderr).split('\n');
    assert.is(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /eval: none of the 2 photos could be read \(.*broken-1\.png.*broken-2\.jpg/);
  });

  test('geolens eval: an unreadable photo is listed while the others are measured; rows no photo matches are warned about', async () => {
    ensureTinyModel();
    const dir = mkdtempSync(join(tmpdir(), 'geolens-eval-mixed-'));
    const labeled = await photos(dir);
    writeFileSync(join(dir, 'broken.png'), 'not a png');
    const labels = join(dir, 'labels.csv');
    writeFileSync(labels, `image,lat,lon\n${labeled.slice(1).map((p) => `${p.path.split('/').pop()},${p.lat},${p.lon}`).join('\n')}\nbroken.png,1,1\nghost.jpg,5,5\n`);
    const run = runCli(['eval', dir, '--labels', labels, ...MODEL, '--quiet', '--json']);
    assert.is(run.status, 0, run.stderr);
    const json = JSON.parse(run.stdout) as { rows: { image: string }[]; failed: { image: string; error: string }[]; unmatchedLabels: string[] };
    assert.equal(json.rows.map((r) => r.image.split('/').pop()), ['photo-0.png', 'photo-1.png']);
    assert.equal(json.failed.map((f) => f.image.split('/').pop()), ['broken.png']);
    assert.equal(json.unmatchedLabels, ['ghost.jpg']);
    assert.match(run.stderr, new RegExp(`eval: warning: 1 row of ${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} matches no photo: 'ghost\\.jpg'`));
  });

  test('geolens eval --csv into a missing folder: refused before any photo is embedded; onto a full disk: the results still printed', async () => {
    ensureTinyModel();
    const dir = mkdtempSync(join(tmpdir(), 'geolens-eval-csv-'));
    const labeled = await photos(dir);
    const labels = join(dir, 'labels.csv');
    writeFileSync(labels, `image,lat,lon\n${labeled.slice(1).map((p) => `${p.path.split('/').pop()},${p.lat},${p.lon}`).join('\n')}\n`);
    const started = Date.now();
    let run = runCli(['eval', dir, '--labels', labels, ...MODEL, '--quiet', '--csv', join(dir, 'missing', 'rows.csv')]);
    const ms = Date.now() - started;
    assert.is(run.status, 1, run.stdout);
    assert.is(run.stdout, '');
    assert.is(run.stderr.trim(), `geolens: GeolensError: eval: cannot write --csv ${join(dir, 'missing', 'rows.csv')}: the folder '${join(dir, 'missing')}' does not exist`);
    console.log(`    missing --csv folder refused in ${ms} ms`);

    run = runCli(['eval', dir, '--labels', labels, ...MODEL, '--quiet', '--json', '--csv', '/dev/full']);
    assert.is(run.status, 1, run.stderr);
    const json = JSON.parse(run.stdout) as { rows: { image: string }[] };
    assert.is(json.rows.length, 2, 'the results were printed');
    assert.match(run.stderr, /eval: could not write --csv \/dev\/full \(ENOSPC\); the results above are complete/);
  });

  test.run();
}

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ourStderr, runCli } from '../support/collection.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTinyModel } from '../support/tiny-model.js';

// The built dist/cli.js in its own process, as users run it; no GEOLENS_QUIET, so -q alone must silence it.
const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';
const MODEL = ['--clip', `${DIR}/clip.safetensors`, '--clip-config', `${DIR}/config.json`, '--geoclip', `${DIR}/geoclip.safetensors`, '--gallery', `${DIR}/gallery.csv`];
const work = mkdtempSync(join(tmpdir(), 'geolens-cli-flags-'));

// Not quiet: -q and the adapter line are under test.
const geolens = (cache: string, ...args: string[]) => runCli(args, { GEOLENS_CACHE: cache, GEOLENS_QUIET: undefined });

test('geolens --version prints package.json\'s version', () => {
  const run = geolens(work, '--version');
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout.trim(), JSON.parse(readFileSync('package.json', 'utf8')).version);
});

test('each command lists only the flags that apply to it', () => {
  const help = (command: string) => geolens(work, command, '--help').stdout;
  const locate = help('locate');
  for (const flag of ['--clip', '--geoclip', '--gallery', '--no-cache', '--concepts', '--concept-params', '--f16', '--quiet']) assert.ok(locate.includes(flag), `locate ${flag}`);
  const build = help('build-concepts');
  for (const flag of ['--clip', '--geoclip', '--vocab', '--f16']) assert.ok(build.includes(flag), `build-concepts ${flag}`);
  for (const flag of ['--gallery', '--no-cache', '--concepts', '--concept-params']) assert.not.ok(build.includes(flag), `build-concepts must not list ${flag}`);
  const fit = help('fit-concepts');
  for (const flag of ['--concepts', '--geoclip', '--pairs']) assert.ok(fit.includes(flag), `fit-concepts ${flag}`);
  for (const flag of ['--clip ', '--clip-config', '--gallery', '--no-cache', '--f16', '--concept-params']) assert.not.ok(fit.includes(flag), `fit-concepts must not list ${flag}`);
  const info = help('info');
  for (const flag of ['--clip', '--gallery', '--quiet']) assert.not.ok(info.includes(flag), `info must not list ${flag}`);
});

test('locate good.png bad.png: places for the good one, an error line for the bad, exit 1; -q prints nothing else; JSON coordinates as the gallery gives them; the cache lists and clears', () => {
  ensureTinyModel();
  const bad = join(work, 'bad.png');
  writeFileSync(bad, readFileSync(KAUAI).subarray(0, 2000));
  const cache = join(work, 'cache');
  const run = geolens(cache, 'locate', KAUAI, bad, ...MODEL, '-k', '3', '--json', '-q');
  assert.is(run.status, 1, run.stderr);
  const [good, failed] = JSON.parse(run.stdout) as [{ image: string; places: { lat: number; lon: number; galleryIndex: number }[] }, { image: string; error: string }];
  assert.is(good.image, KAUAI);
  assert.is(good.places.length, 3);
  assert.is(failed.image, bad);
  assert.match(failed.error, /^image 1 \(.*bad\.png\): /);
  // Exactly the CSV's numbers: the text of the gallery line, not its float32.
  const rows = readFileSync(`${DIR}/gallery.csv`, 'utf8').trim().split('\n').slice(1);
  for (const place of good.places) {
    const [lat, lon] = rows[place.galleryIndex]!.split(',');
    assert.is(JSON.stringify([place.lat, place.lon]), `[${Number(lat)},${Number(lon)}]`);
  }
  assert.is(ourStderr(run.stderr), 'geolens: GeolensError: 1 of 2 images could not be located');

  // That run wrote the gallery embeddings to the cache; `cache list` shows them with their size.
  const galleries = readdirSync(join(cache, 'galleries'));
  assert.is(galleries.length, 1);
  const list = geolens(cache, 'cache', 'list', '--json');
  assert.is(list.status, 0, list.stderr);
  const listed = JSON.parse(list.stdout) as { files: { path: string; bytes: number }[]; bytes: number };
  assert.equal(listed.files, [{ path: join('galleries', galleries[0]!), bytes: statSync(join(cache, 'galleries', galleries[0]!)).size }]);
  const clear = geolens(cache, 'cache', 'clear');
  assert.is(clear.status, 0, clear.stderr);
  assert.match(clear.stdout, /removed 1 file/);
  assert.equal(readdirSync(cache), []);

  // --no-cache: computed again, nothing written; the table shows the good image and the bad one's error.
  const table = geolens(cache, 'locate', bad, KAUAI, ...MODEL, '-k', '2', '--no-cache', '-q');
  assert.is(table.status, 1, table.stderr);
  assert.match(table.stdout, /^.*Kauai\.png\n {2}1\. /);
  assert.not.match(table.stdout, /bad\.png/);
  assert.match(ourStderr(table.stderr), /^geolens: image 0 \(.*bad\.png\): .*\ngeolens: GeolensError: 1 of 2 images could not be located$/);
  assert.equal(readdirSync(cache), []);
  rmSync(work, { recursive: true, force: true });
});

test.run();

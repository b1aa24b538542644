// The labels CSV and list files of `geolens eval`, read as strictly as the gallery CSV and through the
// same regular-file checks; file names that two photos share, rows no photo matches.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collectImages, parseLabelsCsv, resolveLabels } from '../../src/eval/labels.js';

const work = mkdtempSync(join(tmpdir(), 'geolens-labels-'));

/** Fails (instead of hanging the suite) when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The error `run` throws (an assertion failure when it returns). */
async function refusal(run: () => unknown): Promise<Error> {
  try {
    await run();
  } catch (error) {
    return error as Error;
  }
  assert.unreachable('expected an error');
  throw new Error('unreachable');
}

test('labels CSV: 0x10, 0b1, 0o7, Infinity, 1_0 are refused naming the line; plain decimals are read', async () => {
  for (const [cell, column] of [['0x10', 'lat'], ['0b1', 'lat'], ['0o7', 'lon'], ['Infinity', 'lon'], ['-Infinity', 'lat'], ['1_0', 'lat'], ['1e', 'lon'], ['', 'lat']] as const) {
    const lat = column === 'lat' ? cell : '10';
    const lon = column === 'lon' ? cell : '20';
    const text = `image,lat,lon\nok.jpg,1.5,2.5\n\nbad.jpg,${lat},${lon}\n`;
    const error = await refusal(() => parseLabelsCsv(text, 'labels t.csv'));
    assert.is(error.name, 'GeolensError', cell);
    // The bad row is on line 4 (line 3 is blank): the number is the file's own.
    assert.match(error.message, /^labels t\.csv: line 4 \('bad\.jpg'\) has lat .* not finite numbers \(plain decimals only\)$/, `${cell}: ${error.message}`);
    assert.ok(!error.message.includes('\n'), 'one line');
  }
  const labels = parseLabelsCsv('image,lat,lon\na.jpg,+1.5e1,-.5\nb.jpg,-33.9249,18.4241\nc.jpg,7.,0\n');
  assert.equal([...labels], [['a.jpg', { lat: 15, lon: -0.5 }], ['b.jpg', { lat: -33.9249, lon: 18.4241 }], ['c.jpg', { lat: 7, lon: 0 }]]);
});

test('a FIFO or /dev/zero as --labels or as a list file: a one-line error at once, no hang', async () => {
  const fifo = join(work, 'labels.fifo');
  execFileSync('mkfifo', [fifo]);
  const started = Date.now();
  let error = await within(refusal(() => resolveLabels([join(work, 'x.jpg')], { labelsFile: fifo, exif: false })), 5000, 'FIFO labels');
  assert.match(error.message, /^eval: labels file '.*labels\.fifo' is a FIFO \(named pipe\), not a regular file$/, error.message);
  error = await within(refusal(() => resolveLabels([join(work, 'x.jpg')], { labelsFile: '/dev/zero', exif: false })), 5000, '/dev/zero labels');
  assert.match(error.message, /^eval: labels file '\/dev\/zero' is a character device, not a regular file$/, error.message);
  const list = join(work, 'photos.txt');
  execFileSync('mkfifo', [list]);
  error = await within(refusal(() => collectImages([list])), 5000, 'FIFO list');
  assert.match(error.message, /^eval: list file '.*photos\.txt' is a FIFO \(named pipe\), not a regular file$/, error.message);
  const zeros = join(work, 'zeros.txt');
  symlinkSync('/dev/zero', zeros);
  error = await within(refusal(() => collectImages([zeros])), 5000, '/dev/zero list');
  assert.match(error.message, /^eval: list file '.*zeros\.txt' is a character device, not a regular file$/, error.message);
  assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
});

test('a labels file over the CSV cap or not UTF-8 is refused naming it', async () => {
  const binary = join(work, 'binary.csv');
  writeFileSync(binary, Buffer.from([0x69, 0x6d, 0x61, 0x67, 0x65, 0xff, 0xfe, 0x0a]));
  const error = await refusal(() => resolveLabels([join(work, 'x.jpg')], { labelsFile: binary, exif: false }));
  assert.match(error.message, /^eval: labels file '.*binary\.csv' is not UTF-8 text$/, error.message);
});

test('photos a/x.jpg and b/x.jpg with one row x.jpg: an error naming both photos; a row per path resolves them', async () => {
  const root = join(work, 'ambiguous');
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(join(root, 'b'), { recursive: true });
  const photos = [join(root, 'a', 'x.jpg'), join(root, 'b', 'x.jpg')];
  const labels = join(root, 'labels.csv');
  writeFileSync(labels, 'image,lat,lon\nx.jpg,10,20\n');
  const error = await refusal(() => resolveLabels(photos, { labelsFile: labels, exif: false }));
  assert.is(error.message, `labels ${labels}: line 2 ('x.jpg') matches two photos, '${photos[0]}' and '${photos[1]}'; name the row by its path relative to the CSV's folder`);
  // Rows naming each photo by its path relative to the CSV are not ambiguous.
  writeFileSync(labels, 'image,lat,lon\na/x.jpg,10,20\nb/x.jpg,-30,40\n');
  const resolved = await resolveLabels(photos, { labelsFile: labels, exif: false });
  assert.equal(resolved.labeled.map((l) => [l.path, l.lat, l.lon]), [[photos[0], 10, 20], [photos[1], -30, 40]]);
  assert.equal(resolved.unmatchedLabels, []);
});

test('label rows that match no photo are returned, in file order', async () => {
  const root = join(work, 'unmatched');
  mkdirSync(root, { recursive: true });
  const labels = join(root, 'labels.csv');
  writeFileSync(labels, 'image,lat,lon\nghost.jpg,1,2\nseen.jpg,3,4\ntypo.jgp,5,6\n');
  const resolved = await resolveLabels([join(root, 'seen.jpg'), join(root, 'other.jpg')], { labelsFile: labels, exif: false });
  assert.equal(resolved.labeled.map((l) => l.path), [join(root, 'seen.jpg')]);
  assert.equal(resolved.unlabeled, [join(root, 'other.jpg')]);
  assert.equal(resolved.unmatchedLabels, ['ghost.jpg', 'typo.jgp']);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandInputs, globToRegExp } from '../../src/batch/inputs.js';
import { locateMany } from '../../src/batch/folder.js';
import { readDoneImages } from '../../src/batch/jsonl.js';
import type { LocateResult } from '../../src/api/index.js';
import { ensureModel, finished, isCorrupt, MODEL_FLAGS, peakRssMiB, referenceLocator, referenceResults, samePlaces, spawnCli, writeCollection } from '../support/collection.js';

// `geolens locate <folder> --out results.jsonl` as users run it (dist/cli.js in a child process), against
// locate() called on each image alone in this process.
const root = mkdtempSync(join(tmpdir(), 'geolens-folder-'));
const cache = join(root, 'cache');
const BIG = 240;
// Decoded 384×384 RGB is 432 KiB an image: a run that kept the pixels of the ~160 images the second run
// does beyond the first's ~40 would grow by ~68 MiB; two micro-batches of them are 7 MiB.
const SIZE = 384;
const RSS_BOUND_MIB = 32;

function readLines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

function waitForLines(path: string, atLeast: number, child: { exitCode: number | null }): Promise<number> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
      if (lines >= atLeast || child.exitCode !== null) {
        clearInterval(poll);
        resolve(lines);
      }
    }, 20);
  });
}

test('inputs: folders walk in order, globs match like a shell, list files name paths beside them', async () => {
  const dir = join(root, 'inputs');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (const name of ['b.png', 'a.JPG', 'notes.md', 'sub/c.webp', '.hidden.png']) writeFileSync(join(dir, name), 'x');
  writeFileSync(join(dir, 'list.txt'), '# holiday\nsub/c.webp\n\nhttps://example.com/d.jpg\n');
  assert.equal(await expandInputs([dir]), [join(dir, 'a.JPG'), join(dir, 'b.png'), join(dir, 'sub/c.webp')]);
  assert.equal(await expandInputs([`${dir}/**/*.{png,webp}`]), [join(dir, 'b.png'), join(dir, 'sub/c.webp')]);
  assert.equal(await expandInputs([`${dir}/*.png`, join(dir, 'b.png')]), [join(dir, 'b.png')]);
  assert.equal(await expandInputs([join(dir, 'list.txt')]), [join(dir, 'sub/c.webp'), 'https://example.com/d.jpg']);
  assert.ok(globToRegExp('a/**/x?.png').test('a/x1.png') && globToRegExp('a/**/x?.png').test('a/b/c/x1.png'));
  assert.not.ok(globToRegExp('a/*.png').test('a/b/c.png'));
  await expandInputs([join(dir, 'missing')]).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /cannot read .*missing/));
});

test('a torn last line is cut off; a broken line inside is refused', async () => {
  const file = join(root, 'torn.jsonl');
  writeFileSync(file, '{"image":"a.png","places":[]}\n{"image":"b.png","error":"x"}\n{"image":"c.pn');
  assert.equal([...(await readDoneImages(file))], ['a.png', 'b.png']);
  assert.is(readFileSync(file, 'utf8'), '{"image":"a.png","places":[]}\n{"image":"b.png","error":"x"}\n');
  writeFileSync(file, '{"image":"a.png"}\nnot json\n{"image":"b.png"}\n');
  await readDoneImages(file).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /line 2 is not JSON/));
});

test('one bad image in a micro-batch becomes its own error line; its neighbours are located', async () => {
  ensureModel();
  const locator = await referenceLocator(cache);
  const paths = await writeCollection(join(root, 'api'), 6);
  // A 1×1 image decodes but cannot be resized to the model's input: locate() throws for the whole batch.
  const tiny = join(root, 'api', 'one-pixel.png');
  const { default: sharp } = await import('sharp');
  writeFileSync(tiny, await sharp(Buffer.from([1, 2, 3]), { raw: { width: 1, height: 1, channels: 3 } }).png().toBuffer());
  const lines: Record<string, unknown>[] = [];
  const summary = await locateMany(locator, [paths[0]!, tiny, ...paths.slice(1)], { batchSize: 8, writeLine: (l) => lines.push(JSON.parse(l)) });
  const reference = await referenceResults([paths[0]!, tiny, ...paths.slice(1)], 5, cache);
  const tinyFails = 'error' in reference.get(tiny)!;
  assert.is(lines.length, 7);
  assert.is(summary.failed, (tinyFails ? 1 : 0) + 1 /* photo-0005 is corrupt */);
  for (const line of lines) {
    const want = reference.get(line.image as string)!;
    if ('error' in want) assert.match(String(line.error), (line.image as string).split('/').pop()!);
    else assert.is(samePlaces(line as unknown as LocateResult, want), null, line.image as string);
  }
});

test(`${BIG} images, some corrupt: killed mid-run and rerun, every image once, equal to locate() alone; peak RSS does not follow the image count`, async () => {
  ensureModel();
  const t0 = performance.now();
  const lap = (what: string) => process.env.GEOLENS_TEST_TIMES && console.log(`  ${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const big = await writeCollection(join(root, 'big'), BIG, SIZE);
  lap('images written');
  // The reference also stores the gallery embeddings where the CLI runs look (GEOLENS_CACHE), so both runs start alike.
  const reference = await referenceResults(big, 5, cache);
  lap('reference');
  const out = join(root, 'big.jsonl');
  const env = { GEOLENS_CACHE: cache };
  // Raw gallery rows, as locate() returns them by default: the CLI's merging and naming are off.
  const args = ['locate', join(root, 'big'), '--out', out, ...MODEL_FLAGS, '--batch-size', '8', '--quiet', '--no-merge', '--no-names'];

  const first = spawnCli(args, { env });
  const firstDone = finished(first);
  const linesAtKill = await waitForLines(out, 40, first);
  const firstPeak = peakRssMiB(first.pid!);
  first.kill('SIGKILL');
  const killed = await firstDone;
  lap('first run killed');
  assert.is(killed.signal, 'SIGKILL', `the run ended by itself before the kill: ${killed.stderr}`);
  assert.ok(linesAtKill < BIG, `killed after ${linesAtKill} of ${BIG} lines`);
  // Whatever the kill left, a half-written line is possible too: add one.
  appendFileSync(out, '{"image":"' + big[100]!.slice(0, 12));

  const rssFile = join(root, 'second.rss');
  const second = await finished(spawnCli(args, { env, peakRssFile: rssFile }));
  lap('second run');
  assert.is(second.code, 0, second.stderr);

  const lines = readLines(out);
  const count = new Map<string, number>();
  for (const line of lines) count.set(line.image as string, (count.get(line.image as string) ?? 0) + 1);
  assert.is(lines.length, BIG, `${lines.length} lines for ${BIG} images`);
  for (const path of big) assert.is(count.get(path), 1, `${path} appears ${count.get(path) ?? 0} times`);

  for (const line of lines) {
    const path = line.image as string;
    const want = reference.get(path)!;
    assert.is('error' in want, isCorrupt(big.indexOf(path)), `reference for ${path}`);
    if ('error' in want) {
      assert.type(line.error, 'string', `${path} should be an error line`);
      assert.ok((line.error as string).includes(path), `error names the image: ${line.error}`);
      assert.not.ok('places' in line);
    } else {
      assert.is(line.error, undefined, `${path}: ${line.error}`);
      assert.is(samePlaces(line as unknown as LocateResult, want), null, path);
    }
  }

  // The first run's peak after ~40 images against the second's over the other ~200.
  const secondPeak = Number(readFileSync(rssFile, 'utf8')) / 1024;
  console.log(`  peak RSS: ${firstPeak.toFixed(0)} MiB after ${linesAtKill} images, ${secondPeak.toFixed(0)} MiB after ${BIG - linesAtKill} (${SIZE}×${SIZE} PNGs)`);
  assert.ok(secondPeak - firstPeak < RSS_BOUND_MIB, `peak RSS ${secondPeak.toFixed(1)} MiB vs ${firstPeak.toFixed(1)} MiB: grows with the images done`);
  rmSync(root, { recursive: true, force: true });
});

test.run();

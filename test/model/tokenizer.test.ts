import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ClipTokenizer, cleanText, eotIndices, htmlUnescape, END_OF_TEXT, START_OF_TEXT } from '../../src/model/clip/tokenizer.js';
import { ShapeError } from '../../src/runtime/index.js';

const VOCAB = '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz';

interface Fixture {
  context_length: number;
  cases: { text: string; ids: number[]; eot_index: number }[];
}

let loaded: Promise<ClipTokenizer> | null = null;
const tokenizer = () => (loaded ??= ClipTokenizer.load(VOCAB));
const fixture = JSON.parse(readFileSync('test/fixtures/clip-text/tokenizer.json', 'utf8')) as Fixture;

test('ids equal the Python reference (scripts/fixtures/tokenizer.py) for every fixture string', async () => {
  const t = await tokenizer();
  assert.is(t.vocabSize, 49408);
  assert.ok(fixture.cases.length >= 20);
  const batch = t.tokenizeBatch(fixture.cases.map((c) => c.text), fixture.context_length);
  assert.is(batch.ids.length, fixture.cases.length * 77);
  fixture.cases.forEach((c, row) => {
    const got = Array.from(batch.ids.subarray(row * 77, (row + 1) * 77));
    assert.equal(got, c.ids, `ids of ${JSON.stringify(c.text.slice(0, 60))}`);
    assert.is(batch.eotIndex[row], c.eot_index, `eot index of ${JSON.stringify(c.text.slice(0, 60))}`);
  });
});

test('long text is cut to 77 with the end token last; short text is padded with 0', async () => {
  const t = await tokenizer();
  const ids = t.tokenize(['word '.repeat(200), 'a photo of a cat']);
  assert.is(ids[0], START_OF_TEXT);
  assert.is(ids[76], END_OF_TEXT);
  assert.equal(Array.from(ids.subarray(77, 77 + 8)), [START_OF_TEXT, 320, 1125, 539, 320, 2368, END_OF_TEXT, 0]);
  assert.equal(Array.from(eotIndices(ids)), [76, 6]);
  const short = t.tokenize(['a photo of a cat'], 4);
  assert.equal(Array.from(short), [START_OF_TEXT, 320, 1125, END_OF_TEXT]);
});

test('decode inverts encode up to cleanup', async () => {
  const t = await tokenizer();
  assert.is(t.decode(t.encode('Café in Zürich, 東京 🌊!')), 'café in zürich , 東京 🌊!');
});

test('cleanup: html references as Python html.unescape, whitespace, quotes, width, ligatures', () => {
  assert.is(htmlUnescape('&amp;&lt;&#65;&#x42;&#128;&#0;&#1;&#xD800;&ampx&notit;&check;&eacute&copy'), '&<AB€\ufffd\ufffd&x¬it;&check;é©');
  assert.is(cleanText('  A\u00a0\u2003B\n\tC\u3000 '), 'a b c');
  assert.is(cleanText('\u201cdon\u2019t\u201d ﬁ Ｘ'), '"don\'t" fi x');
  assert.is(cleanText('&amp;amp;'), '&');
});

test('loads plain or gzipped bytes and rejects a truncated vocabulary by name', async () => {
  const text = readFileSync(VOCAB);
  const fromGzip = await ClipTokenizer.load(new Uint8Array(text));
  assert.equal(fromGzip.encode('hello world'), [3306, 1002]);
  const short = gzipSync(Buffer.from('#version: 0.2\ni n\n'));
  try {
    await ClipTokenizer.load(new Uint8Array(short));
    assert.unreachable('a truncated vocabulary was accepted');
  } catch (error) {
    assert.match((error as Error).message, /CLIP vocabulary: expected 48894 merge lines/);
  }
  await ClipTokenizer.load('/nonexistent/vocab.txt.gz').then(
    () => assert.unreachable('a missing file was accepted'),
    (error: Error) => assert.match(error.message, /cannot read \/nonexistent\/vocab\.txt\.gz/),
  );
});

test('eotIndices and tokenize reject bad shapes', async () => {
  const t = await tokenizer();
  assert.throws(() => eotIndices(new Int32Array(10), 77), (e: Error) => e instanceof ShapeError && /10 ids/.test(e.message));
  assert.throws(() => t.tokenize(['x'], 1), (e: Error) => e instanceof ShapeError && /contextLength/.test(e.message));
});

test.run();

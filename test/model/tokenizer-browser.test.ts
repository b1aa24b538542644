import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { pageBundle, pageResult, withBrowserPage } from '../support/browser.js';

test('the browser bundle tokenizes the fixture strings as the Python reference does (DecompressionStream path)', async () => {
  const fixture = JSON.parse(readFileSync('test/fixtures/clip-text/tokenizer.json', 'utf8')) as { cases: { ids: number[]; eot_index: number }[] };
  const page = new TextEncoder().encode('<!doctype html><meta charset="utf-8">' +
    '<script type="module" src="/page.js" onerror="window.tokenizerResult = { error: \'page.js did not load\' }"></script>');
  const files = {
    '/': page,
    '/page.js': pageBundle('model/tokenizer-browser'),
    '/vocab.txt.gz': '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz',
    '/tokenizer.json': 'test/fixtures/clip-text/tokenizer.json',
  };
  const result = await withBrowserPage(files, '/', (run) => pageResult<{ ids: number[]; eotIndex: number[] }>(run, 'tokenizerResult', 60_000));
  assert.equal(result.ids, fixture.cases.flatMap((c) => c.ids));
  assert.equal(result.eotIndex, fixture.cases.map((c) => c.eot_index));
});

test.run();

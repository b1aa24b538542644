import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FILES: Record<string, [string, string]> = {
  '/': ['', 'text/html'],
  '/page.js': ['.build/test/model/tokenizer-browser.page.js', 'text/javascript'],
  '/vocab.txt.gz': ['../shared/data/clip/bpe_simple_vocab_16e6.txt.gz', 'application/octet-stream'],
  '/tokenizer.json': ['test/fixtures/clip-text/tokenizer.json', 'application/json'],
};

const PAGE = '<!doctype html><meta charset="utf-8">' +
  '<script type="module" src="/page.js" onerror="window.tokenizerResult = { error: \'page.js did not load\' }"></script>';

function serve(): Promise<Server> {
  // Read now: a concurrent `node build.mjs --tests` empties .build/test while it rebuilds.
  const contents = new Map(Object.entries(FILES).map(([path, [file]]) => [path, file ? readFileSync(file) : PAGE]));
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const body = contents.get(path);
    if (body === undefined) {
      response.statusCode = 404;
      response.end();
      return;
    }
    response.setHeader('content-type', FILES[path]![1]);
    response.end(body);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

test('the browser bundle tokenizes the fixture strings as the Python reference does (DecompressionStream path)', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  const fixture = JSON.parse(readFileSync('test/fixtures/clip-text/tokenizer.json', 'utf8')) as { cases: { ids: number[]; eot_index: number }[] };
  const server = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => window.tokenizerResult !== undefined, undefined, { timeout: 60_000 });
    const result = await page.evaluate(() => window.tokenizerResult!);
    assert.equal(errors, [], 'page errors');
    if ('error' in result) assert.unreachable(`browser run failed: ${result.error}`);
    else {
      assert.equal(result.ids, fixture.cases.flatMap((c) => c.ids));
      assert.equal(result.eotIndex, fixture.cases.map((c) => c.eot_index));
    }
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();

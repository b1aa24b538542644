import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { haversineKm } from '../../src/geo/distance.js';
import { formatAccuracyTable, summarizeErrors } from '../../src/eval/metrics.js';
import { parseLabelsCsv } from '../../src/eval/labels.js';

test('haversine: known distances on the 6371.0088 km sphere', () => {
  // A quarter of a great circle, and one degree of latitude: both follow from the radius alone.
  assert.ok(Math.abs(haversineKm(0, 0, 0, 90) - (Math.PI / 2) * 6371.0088) < 1e-9);
  assert.ok(Math.abs(haversineKm(10, 20, 11, 20) - (Math.PI / 180) * 6371.0088) < 1e-9);
  assert.ok(Math.abs(haversineKm(90, 0, -90, 0) - Math.PI * 6371.0088) < 1e-9);
  assert.is(haversineKm(45, 7, 45, 7), 0);
  // Paris–London by this formula and radius (an independent spherical law of cosines).
  const [a, b, c, d] = [48.8566, 2.3522, 51.5074, -0.1278].map((x) => (x * Math.PI) / 180) as [number, number, number, number];
  const cosines = Math.acos(Math.sin(a) * Math.sin(c) + Math.cos(a) * Math.cos(c) * Math.cos(d - b)) * 6371.0088;
  assert.ok(Math.abs(haversineKm(48.8566, 2.3522, 51.5074, -0.1278) - cosines) < 1e-6);
});

test('accuracy thresholds are inclusive; median and GeoScore as defined', () => {
  const errors = [0.5, 1, 25, 25.000001, 200, 750, 2500, 2500.5, 9000];
  const s = summarizeErrors(errors);
  assert.is(s.accuracy[1], 2 / 9);
  assert.is(s.accuracy[25], 3 / 9);
  assert.is(s.accuracy[200], 5 / 9);
  assert.is(s.accuracy[750], 6 / 9);
  assert.is(s.accuracy[2500], 7 / 9);
  assert.is(s.medianKm, 200);
  assert.is(summarizeErrors([1, 3, 10, 100]).medianKm, 6.5);
  const score = errors.reduce((sum, d) => sum + 5000 * Math.exp(-d / 1492.7), 0) / errors.length;
  assert.ok(Math.abs(s.geoScore - score) < 1e-9);
  const table = formatAccuracyTable([{ method: 'GeoCLIP', summary: s }]);
  assert.match(table, /^method\s+1 km\s+25 km\s+200 km\s+750 km\s+2,500 km\s+median km\s+GeoScore\nGeoCLIP\s+22\.2%\s+33\.3%\s+55\.6%\s+66\.7%\s+77\.8%\s+200\.0\s+\d+$/);
});

test('labels CSV: quoted names, any column order, bad rows named', () => {
  const labels = parseLabelsCsv('lon,Image,lat\n2.35,"market, old town.png",48.85\n');
  assert.equal(labels.get('market, old town.png'), { lat: 48.85, lon: 2.35 });
  assert.throws(() => parseLabelsCsv('image,lat,lon\na.jpg,95,0\n'), /line 2 \('a\.jpg'\) has latitude 95/);
  assert.throws(() => parseLabelsCsv('image,lat,lon\na.jpg,x,0\n'), /line 2 .*not finite numbers/);
  assert.throws(() => parseLabelsCsv('name,lat\n'), /header naming image, lat and lon/);
  assert.throws(() => parseLabelsCsv('image,lat,lon\na.jpg,1,2\na.jpg,3,4\n'), /line 3 lists 'a\.jpg' a second time/);
});

test.run();

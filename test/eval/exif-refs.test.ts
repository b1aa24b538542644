// EXIF GPS references: N/S and E/W give the sign; any other letter means the photo has no position
// (exifr itself reads every reference but 'S' / 'W' as N / E, a sign flip eval would take as a label).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveLabels } from '../../src/eval/labels.js';
import { readExifGps } from '../../src/geo/exif.js';

const work = mkdtempSync(join(tmpdir(), 'geolens-exif-'));

/** A JPEG whose GPS block says 21°58'30" <latRef>, 159°22'0" <lonRef>. */
async function photo(name: string, latRef: string, lonRef: string): Promise<string> {
  const path = join(work, name);
  await sharp(Buffer.alloc(16 * 16 * 3, 90), { raw: { width: 16, height: 16, channels: 3 } })
    .jpeg()
    .withExif({ IFD3: { GPSLatitudeRef: latRef, GPSLatitude: '21/1 58/1 3000/100', GPSLongitudeRef: lonRef, GPSLongitude: '159/1 22/1 0/1' } })
    .toFile(path);
  return path;
}

// 21 + 58/60 + 30/3600 and 159 + 22/60, by hand.
const LAT = 21.975;
const LON = 159 + 22 / 60;

test('EXIF GPS: N/E, S/W and mixed references give the signed position', async () => {
  for (const [latRef, lonRef, lat, lon] of [['N', 'E', LAT, LON], ['S', 'W', -LAT, -LON], ['S', 'E', -LAT, LON], ['N', 'W', LAT, -LON]] as const) {
    const gps = await readExifGps(await photo(`${latRef}${lonRef}.jpg`, latRef, lonRef));
    assert.ok(gps, `${latRef}/${lonRef}: a position`);
    assert.ok(Math.abs(gps!.lat - lat) < 1e-9 && Math.abs(gps!.lon - lon) < 1e-9, `${latRef}/${lonRef}: ${JSON.stringify(gps)}`);
  }
});

test('EXIF GPS references other than N/S/E/W (Q, Z, lowercase s/w) mean no position, in readExifGps and in eval', async () => {
  const odd: string[] = [];
  for (const [latRef, lonRef] of [['Q', 'E'], ['N', 'Z'], ['Q', 'Z'], ['s', 'E'], ['N', 'w']]) {
    const path = await photo(`odd-${latRef}${lonRef}.jpg`, latRef, lonRef);
    odd.push(path);
    assert.is(await readExifGps(path), null, `${latRef}/${lonRef}`);
  }
  const good = await photo('good.jpg', 'S', 'W');
  const resolved = await resolveLabels([...odd, good]);
  assert.equal(resolved.unlabeled, odd, 'photos with odd references have no EXIF label');
  assert.equal(resolved.labeled.map((l) => [l.path, l.source, Math.sign(l.lat), Math.sign(l.lon)]), [[good, 'exif', -1, -1]]);
});

test.run();

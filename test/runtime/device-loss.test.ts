import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights } from '../../src/weights/index.js';
import { ensureTinyModel } from '../support/tiny-model.js';

// Losing a device is process-wide state (getDevice's shared device), so it is simulated in a child
// process running the built library; the tests sharing this process's device are not disturbed.

const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';

const SCRIPT = (library: string) => `
import { GeoLocator, getDevice, DeviceError } from ${JSON.stringify(library)};
const options = {
  clipWeights: '${DIR}/clip.safetensors', clipConfig: '${DIR}/config.json', geoclipWeights: '${DIR}/geoclip.safetensors',
  gallery: '${DIR}/gallery.csv', galleryCache: false,
};
const out = {};
const first = await getDevice();
const locator = await GeoLocator.create(options);

// k above the search maximum is refused before CLIP runs.
let clipRan = false;
const imageFeatures = locator.clip.imageFeatures.bind(locator.clip);
locator.clip.imageFeatures = (...args) => { clipRan = true; return imageFeatures(...args); };
try { await locator.locate('${KAUAI}', { topK: 300 }); } catch (error) { out.bigK = { name: error.name, message: error.message, clipRan }; }

// The simulated loss: the device is destroyed under the locator.
first.device.destroy();
await first.device.lost;
try { await locator.locate('${KAUAI}'); } catch (error) { out.lost = { isDeviceError: error instanceof DeviceError, message: error.message }; }
const second = await getDevice();
out.newDevice = second !== first && second.device !== first.device;
out.sameAgain = (await getDevice()) === second;
const again = await GeoLocator.create(options);
out.onNewDevice = again.gpu === second;
out.after = (await again.locate('${KAUAI}', { topK: 5 }))[0].places;
console.log(JSON.stringify(out));
process.exit(0);
`;

test('after a device loss, getDevice() makes a new device and create() succeeds; the old locator says how to recover; k > 256 is refused before CLIP', async () => {
  assert.ok(existsSync('dist/index.js'), 'dist/index.js missing: run `node build.mjs` (npm test does)');
  ensureTinyModel();
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT(resolve('dist/index.js'))], {
    encoding: 'utf8',
    env: { ...process.env, GEOLENS_QUIET: '1' },
    timeout: 240_000,
  });
  assert.is(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
  assert.equal(out.bigK, { name: 'ShapeError', message: 'locate: topK = 300 exceeds the supported maximum of 256', clipRan: false });
  assert.ok(out.lost.isDeviceError, JSON.stringify(out.lost));
  assert.match(out.lost.message, /locate cannot run: the GPU device was lost \(destroyed.*\); create the models again \(e\.g\. `await GeoLocator\.create\(\)`\): getDevice\(\) now returns a new device/);
  assert.ok(out.newDevice, 'a new device');
  assert.ok(out.sameAgain, 'the new device is shared again');
  assert.ok(out.onNewDevice, 'create() took the new device');
  // The recreated locator answers as PyTorch does (scripts/fixtures/api_locate.py).
  const expected = await openWeights(`${DIR}/expected.safetensors`);
  const index = Array.from(await expected.readF32('topk_index'));
  const probability = await expected.readF32('topk_probability');
  await expected.close();
  assert.equal(out.after.map((p: { galleryIndex: number }) => p.galleryIndex), index);
  out.after.forEach((p: { probability: number }, i: number) => assert.ok(Math.abs(p.probability - probability[i]!) <= 1e-5, `probability ${i}`));
});

test.run();

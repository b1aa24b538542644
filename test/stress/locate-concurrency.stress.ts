import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import { GeoLocator, type ImageInput, type LocateResult } from '../../src/api/index.js';
import { peakRssMiB as peakRssOf } from '../support/collection.js';
import { ensureTinyModel } from '../support/tiny-model.js';

/**
 * 1,000 concurrent locate() calls on one GeoLocator, every result compared with the same image located
 * alone, while peak RSS and the GPU buffer pool are sampled. Inputs mix what users pass: encoded bytes
 * (PNG, JPEG, WebP), file paths and decoded pixels (8-bit and float).
 */

const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';
const CALLS = Number(process.env.STRESS_CALLS ?? 1000);

async function inputs(dir: string): Promise<ImageInput[]> {
  const out: ImageInput[] = [];
  const kauai = sharp(KAUAI).removeAlpha();
  for (const [i, [width, height]] of [[160, 120], [96, 128], [200, 200], [64, 48]].entries()) {
    const resized = kauai.clone().resize(width, height, { fit: 'fill' });
    out.push(new Uint8Array(await resized.clone().png().toBuffer()));
    out.push(new Uint8Array(await resized.clone().jpeg({ quality: 80 + i }).toBuffer()));
    out.push(new Uint8Array(await resized.clone().webp().toBuffer()));
    const path = join(dir, `view-${i}.png`);
    writeFileSync(path, await resized.clone().flop().png().toBuffer());
    out.push(path);
    const { data, info } = await resized.clone().raw().toBuffer({ resolveWithObject: true });
    out.push({ data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels as 3 });
    out.push({ data: Float32Array.from(data, (v) => v / 255), width: info.width, height: info.height, channels: info.channels as 3, range: 1 });
  }
  return out;
}

async function main(): Promise<void> {
  ensureTinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'geolens-stress-'));
  try {
    const images = await inputs(dir);
    const locator = await GeoLocator.create({
      clipWeights: `${DIR}/clip.safetensors`,
      clipConfig: `${DIR}/config.json`,
      geoclipWeights: `${DIR}/geoclip.safetensors`,
      gallery: `${DIR}/gallery.csv`,
      galleryCache: false,
    });
    const pool = locator.gpu.pool;
    const sequential: LocateResult[] = [];
    for (const image of images) sequential.push((await locator.locate(image, { topK: 5 }))[0]!);
    const poolAfterSequential = pool.bytesAllocated;

    let peakPool = pool.bytesAllocated;
    const sampler = setInterval(() => (peakPool = Math.max(peakPool, pool.bytesAllocated)), 5);
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: CALLS }, (_, i) => locator.locate(images[i % images.length]!, { topK: 5 })));
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    peakPool = Math.max(peakPool, pool.bytesAllocated);

    let mismatches = 0;
    results.forEach(([result], i) => {
      const want = sequential[i % images.length]!;
      try {
        assert.equal(result, want);
      } catch {
        if (mismatches++ < 3) console.error(`call ${i} (input ${i % images.length}) differs:\n  got ${JSON.stringify(result!.places.slice(0, 2))}\n  want ${JSON.stringify(want.places.slice(0, 2))}`);
      }
    });
    const peakRssMiB = peakRssOf(process.pid);
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log(`  ${CALLS} concurrent locate() calls over ${images.length} inputs in ${seconds.toFixed(1)} s (${(CALLS / seconds).toFixed(1)} images/s) on ${locator.gpu.adapterName}`);
    console.log(`  results equal to sequential: ${CALLS - mismatches} / ${CALLS}`);
    console.log(`  peak RSS ${peakRssMiB.toFixed(0)} MiB; GPU pool: ${mib(poolAfterSequential)} MiB after the sequential pass, peak ${mib(peakPool)} MiB during the concurrent one, ${mib(pool.bytesAllocated)} MiB after (${mib(pool.bytesPooled)} MiB of it idle in the pool)`);
    assert.is(mismatches, 0, 'every concurrent result equals the sequential one');
    locator.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

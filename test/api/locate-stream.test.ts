import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';
import { AbortError, GeoLocator, ImageError, type LocateFailure, type LocateResult } from '../../src/api/index.js';
import { testGpu } from '../support/gpu.js';
import { assertClose } from '../support/numeric.js';
import { startServer } from '../support/server.js';
import { KAUAI, TINY_MODEL_DIR, tinyModelExpected as expected, tinyModelOptions as options } from '../support/tiny-model.js';

// The tiny model of test/api/geolocator.test.ts (scripts/fixtures/api_locate.py), streamed through micro-batches.
const DIR = TINY_MODEL_DIR;

/** Bytes of tensor data in a safetensors file (those whose names pass `keep`), from its JSON header. */
function safetensorsDataBytes(path: string, keep: (name: string) => boolean = () => true): number {
  const bytes = readFileSync(path);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
  return Object.entries(header).filter(([name, info]) => info.data_offsets && keep(name)).reduce((sum, [, info]) => sum + info.data_offsets![1] - info.data_offsets![0], 0);
}

/** V8's full collection without `node --expose-gc`: the flag, set at run time, gives `gc` to contexts made after it. */
function fullCollection(): () => void {
  if (global.gc) return () => global.gc!();
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

let locator: GeoLocator;

test('create reports bytes per weight file and a compile stage; then no locate compiles a pipeline', async () => {
  const weights = new Map<string, { done: number; total: number | null }>();
  const stages = new Set<string>();
  const gpu = await testGpu();
  locator = await GeoLocator.create(await options({
    onProgress: (p) => {
      stages.add(p.stage);
      if (p.stage === 'weights') weights.set(p.what, { done: p.done, total: p.total });
    },
  }));
  assert.ok(stages.has('compile'), `stages: ${[...stages]}`);
  const clip = [...weights].find(([what]) => what.startsWith('CLIP vision tower'))!;
  assert.ok(clip, `weights progress: ${[...weights.keys()]}`);
  // The vision tower's tensors are read in full (the text tower's are not read): done = total = their bytes.
  const visionBytes = safetensorsDataBytes(`${DIR}/clip.safetensors`, (name) => name.startsWith('vision_model.') || name === 'visual_projection.weight');
  assert.equal(clip[1], { done: visionBytes, total: visionBytes });
  const encoder = weights.get(`GeoCLIP location encoder (${DIR}/location-encoder.safetensors)`)!;
  assert.equal(encoder, { done: safetensorsDataBytes(`${DIR}/location-encoder.safetensors`), total: safetensorsDataBytes(`${DIR}/location-encoder.safetensors`) });

  const compiled = gpu.pipelines.compiles;
  const want = await expected();
  const [first] = await locator.locate(KAUAI, { topK: 5 });
  assert.equal(first!.places.map((p) => p.galleryIndex), Array.from(want.topk_index!));
  assertClose(first!.places.map((p) => p.probability), want.topk_probability!, 0, 1e-5, 'probabilities');
  // Batch sizes 3 and 11 (a full micro-batch of 8 and a tail of 3) compile nothing either.
  const bytes = new Uint8Array(readFileSync(KAUAI));
  const three = await locator.locate([KAUAI, bytes, bytes], { topK: 5 });
  const eleven = await locator.locate(Array.from({ length: 11 }, () => bytes), { topK: 5 });
  assert.is(gpu.pipelines.compiles - compiled, 0, 'new pipelines after create');
  for (const r of [...three, ...eleven]) assert.equal(r.places, first!.places);
});

test('settle: a corrupt image in the batch gets an error naming it, the others their places; default still throws', async () => {
  const bytes = new Uint8Array(readFileSync(KAUAI));
  const corrupt = bytes.slice(0, 2000);
  const results = await locator.locate([KAUAI, corrupt, bytes], { topK: 3, settle: true });
  assert.is(results.length, 3);
  const [good, bad, again] = results as [LocateResult, LocateFailure, LocateResult];
  assert.match(bad.error, /^image 1: /);
  assert.ok(!('places' in bad));
  const [alone] = await locator.locate(KAUAI, { topK: 3 });
  assert.equal(good.places, alone!.places);
  assert.equal(again.places, alone!.places);
  const missing = await locator.locate(['no-such.png', KAUAI], { settle: true });
  assert.match((missing[0] as LocateFailure).error, /image 0 \(no-such\.png\).*ENOENT/);
  await locator.locate([KAUAI, corrupt]).then(() => assert.unreachable('default mode throws'), (e: Error) => assert.match(e.message, /image 1/));
});

test('1,000 images stream through micro-batches: GPU memory does not grow, RSS stays within 400 MB of the start', async () => {
  const gpu = locator.gpu;
  // Distinct 48×48 PNGs (random noise), decoded like any photo.
  let seed = 11;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
  const images: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    const pixels = Buffer.alloc(48 * 48 * 3);
    for (let j = 0; j < pixels.length; j++) pixels[j] = random();
    images.push(new Uint8Array(await sharp(pixels, { raw: { width: 48, height: 48, channels: 3 } }).png().toBuffer()));
  }
  await locator.locate(images.slice(0, 16), { topK: 5 });
  // While a map or a submit is pending, Dawn polls through setImmediate: about 0.9 GB of short-lived JS objects per
  // 1,000 images on SwiftShader, which V8 leaves uncollected until the heap is a few times the size it was at the
  // last full collection. In the whole suite's process (every test file imported, a heap of 150-220 MB) that alone
  // put 310-450 MB of garbage on the RSS; a full collection every half second keeps the RSS to what is reachable.
  const collect = fullCollection();
  collect();
  const reachable = () => process.memoryUsage().heapUsed + process.memoryUsage().external;
  const allocated = gpu.pool.bytesAllocated;
  const start = process.memoryUsage().rss;
  const startReachable = reachable();
  let peak = start;
  let peakReachable = startReachable;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const collector = setInterval(() => {
    collect();
    peakReachable = Math.max(peakReachable, reachable());
  }, 500);
  const results = await locator.locate(images, { topK: 5 });
  clearInterval(sampler);
  clearInterval(collector);
  peak = Math.max(peak, process.memoryUsage().rss);
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  console.log(`  1,000 images: RSS ${mb(start)} MB → peak ${mb(peak)} MB; JS heap + external after each collection ${mb(startReachable)} MB → peak ${mb(peakReachable)} MB; GPU pool ${(allocated / 2 ** 20).toFixed(1)} MB → ${(gpu.pool.bytesAllocated / 2 ** 20).toFixed(1)} MB`);
  assert.is(results.length, 1000);
  assert.is(gpu.pool.bytesAllocated, allocated, 'no new GPU buffers: every micro-batch reuses the first one\'s');
  // The pool check proves the GPU side streams; this bound catches the host keeping decoded images or results
  // alive (they survive the collections), with room for what the half second between collections allocates.
  assert.ok(peak - start < 400 * 2 ** 20, `RSS grew by ${((peak - start) / 2 ** 20).toFixed(0)} MB`);
  // The RSS bound is loose for 48×48 images: keeping every image's decoded pixels and model input alive adds about
  // 20 MB of reachable memory, so that is bounded too (streaming adds under 2 MB: the results and what is in flight).
  assert.ok(peakReachable - startReachable < 8 * 2 ** 20, `reachable JS heap + external grew by ${mb(peakReachable - startReachable)} MB`);
  // Order is kept: a few images located alone give the same places.
  for (const i of [0, 517, 999]) {
    const [alone] = await locator.locate(images[i]!, { topK: 5 });
    assert.equal(results[i]!.places.map((p) => p.galleryIndex), alone!.places.map((p) => p.galleryIndex), `image ${i}`);
  }
});

test('embedImages · embedLocations give PyTorch\'s probabilities; array and tensor outputs agree', async () => {
  const want = await expected();
  const image = await locator.embedImages(KAUAI);
  const tensor = await locator.embedImages([KAUAI], { output: 'tensor' });
  assertClose(await tensor.read(), image, 0, 0, 'tensor output');
  tensor.release();
  const gps = readFileSync(`${DIR}/gallery.csv`, 'utf8').trim().split('\n').slice(1).map((line) => line.split(',').map(Number) as [number, number]);
  const locations = await locator.embedLocations(gps);
  const dim = image.length;
  assert.is(locations.length, gps.length * dim);
  // Softmax over the gallery of scale · cosine, on the host, in f64.
  const logits = gps.map((_, row) => {
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += image[d]! * locations[row * dim + d]!;
    return locator.geoclip.scale * dot;
  });
  const max = Math.max(...logits);
  const sum = logits.reduce((a, l) => a + Math.exp(l - max), 0);
  const probabilities = Array.from(want.topk_index!, (row) => Math.exp(logits[row]! - max) / sum);
  assertClose(probabilities, want.topk_probability!, 0, 1e-5, 'host softmax over embedLocations');
  const viaFlat = await locator.embedLocations(new Float32Array(gps.slice(0, 3).flat()));
  assertClose(viaFlat, locations.subarray(0, 3 * dim), 0, 0, 'flat and pair inputs');
});

test('AbortSignal stops create and locate with an AbortError', async () => {
  const controller = new AbortController();
  controller.abort();
  await locator.locate(KAUAI, { signal: controller.signal }).then(() => assert.unreachable('aborted'), (e: Error) => assert.instance(e, AbortError));
  const during = new AbortController();
  const gpu = await testGpu();
  const live = gpu.pool.bytesAllocated - gpu.pool.bytesPooled;
  await GeoLocator.create(await options({ signal: during.signal, onProgress: (p) => p.stage === 'gallery' && during.abort() })).then(
    () => assert.unreachable('aborted during create'),
    (e: Error) => assert.ok(e instanceof AbortError && /GeoLocator\.create/.test(e.message), e.message),
  );
  assert.is(gpu.pool.bytesAllocated - gpu.pool.bytesPooled, live, 'an aborted create gives its weights back');
});

test('in Node, http(s): and file: image strings are fetched and read', async () => {
  const server = await startServer({ '/photos/kauai.png': KAUAI });
  try {
    const fileUrl = pathToFileURL(resolve(KAUAI)).href;
    const [viaHttp, viaFile, viaPath] = await locator.locate([`${server.url}/photos/kauai.png`, fileUrl, KAUAI], { topK: 3 });
    assert.equal(viaHttp!.places, viaPath!.places);
    assert.equal(viaFile!.places, viaPath!.places);
    const [missing] = await locator.locate(`${server.url}/photos/none.png`, { settle: true });
    assert.match((missing as LocateFailure).error, /HTTP 404/);
  } finally {
    await server.close();
  }
  locator.release();
});

test('an image URL past the byte cap is refused, by its Content-Length and while it streams without one', async () => {
  const { readImageLocation } = await import('../../src/image/read.js');
  const bytes = new Uint8Array(readFileSync(KAUAI));
  const declared = await startServer({ '/big.png': bytes });
  const chunked = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'image/png' });
    response.write(bytes.subarray(0, 4096));
    response.end(bytes.subarray(4096));
  });
  await new Promise<void>((resolve) => chunked.listen(0, '127.0.0.1', resolve));
  try {
    const cap = bytes.byteLength - 1;
    const byHeader = await readImageLocation(`${declared.url}/big.png`, { maxBytes: cap }).then(() => null, (e: Error) => e);
    assert.instance(byHeader, ImageError);
    assert.match(byHeader!.message, new RegExp(`^image: ${bytes.byteLength} bytes, more than the ${cap}-byte limit`));
    const streamedUrl = `http://127.0.0.1:${(chunked.address() as AddressInfo).port}/big.png`;
    const whileStreaming = await readImageLocation(streamedUrl, { maxBytes: cap }).then(() => null, (e: Error) => e);
    assert.instance(whileStreaming, ImageError);
    assert.match(whileStreaming!.message, new RegExp(`^image: more than the ${cap}-byte limit`));
    assert.equal(await readImageLocation(streamedUrl, { maxBytes: bytes.byteLength }), bytes);
  } finally {
    await declared.close();
    await new Promise((resolve) => chunked.close(resolve));
  }
});

test.run();

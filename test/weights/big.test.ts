import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openWeights, uploadWeight } from '../../src/weights/index.js';
import { testGpu } from '../support/gpu.js';

const TENSORS = 32;
const ROWS = 2048;
const COLS = 4096;

test('a 1 GiB safetensors file reads tensor by tensor with Node heap growth under 100 MB', async () => {
  const path = join(tmpdir(), `geolens-big-${process.pid}.safetensors`);
  const started = performance.now();
  const made = spawnSync('/usr/bin/python3', ['scripts/fixtures/weights_big.py', path, String(TENSORS), String(ROWS), String(COLS)], { encoding: 'utf8' });
  assert.is(made.status, 0, `weights_big.py failed: ${made.stderr}`);
  const written = performance.now();
  try {
    const before = process.memoryUsage();
    let peakHeap = before.heapUsed;
    let peakBuffers = before.arrayBuffers;
    let peakRss = before.rss;
    const source = await openWeights(path);
    assert.is(source.tensors.size, TENSORS);
    let checked = 0;
    for (let i = 0; i < TENSORS; i++) {
      const values = await source.readF32(`layer.${i}.weight`);
      const offset = 0.5 * i;
      // Every element against the formula the writer used: v[j] = (j % 1021) + 0.5 i.
      let bad = -1;
      for (let j = 0, m = 0; j < values.length; j++, m = m === 1020 ? 0 : m + 1) {
        if (values[j] !== m + offset) {
          bad = j;
          break;
        }
      }
      assert.is(bad, -1, `layer.${i}.weight[${bad}] = ${values[bad]}`);
      checked += values.length;
      const now = process.memoryUsage();
      peakHeap = Math.max(peakHeap, now.heapUsed);
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
      peakRss = Math.max(peakRss, now.rss);
    }
    // The streaming GPU path on one 32 MiB tensor, in 4 MiB pieces.
    const gpu = await testGpu();
    const tensor = await uploadWeight(gpu, source, 'layer.31.weight', { chunkBytes: 4 << 20 });
    const back = await tensor.read();
    assert.is(back[ROWS * COLS - 1], ((ROWS * COLS - 1) % 1021) + 15.5);
    assert.is(back[1234567], (1234567 % 1021) + 15.5);
    tensor.release();
    await source.close();
    const read = performance.now();
    const mb = (n: number) => (n / 1e6).toFixed(1);
    console.log(`\n    1 GiB file: ${checked} values checked; heapUsed growth ${mb(peakHeap - before.heapUsed)} MB, arrayBuffers growth ${mb(peakBuffers - before.arrayBuffers)} MB, rss growth ${mb(peakRss - before.rss)} MB; write ${((written - started) / 1000).toFixed(1)} s, read+check ${((read - written) / 1000).toFixed(1)} s`);
    assert.is(checked, TENSORS * ROWS * COLS);
    assert.ok(peakHeap - before.heapUsed < 100e6, `heapUsed grew ${mb(peakHeap - before.heapUsed)} MB`);
    // Tensor arrays live outside the V8 heap; they too must stay far below the file size.
    assert.ok(peakBuffers - before.arrayBuffers < 512e6, `arrayBuffers grew ${mb(peakBuffers - before.arrayBuffers)} MB`);
  } finally {
    rmSync(path, { force: true });
  }
});

test.run();

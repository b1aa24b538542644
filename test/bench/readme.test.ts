import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { README_BEGIN, README_END, withPerformanceTable } from '../../bench/peers/readme.js';
import type { PeerResults } from '../../bench/peers/report.js';

const adapter = (name: string) => ({ name, software: true, features: [], limits: { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 32 } });
const ceiling = (fmaGflops: number, copyGBps: number) => ({
  fmaGflops, copyGBps, fmaBest: { workgroupSize: 128, accumulators: 4 }, copyBest: { workgroupSize: 256, vectors: 4 }, copyBufferBytes: 2 ** 26, timing: 'wall', seconds: 3,
});

function results(): PeerResults {
  return {
    date: '2026-12-04T20:00:00.000Z', quick: false, machine: { cpus: 2, cpuModel: 'Test CPU', memoryGiB: 24 },
    adapter: adapter('lavapipe (Mesa 25.0.7, LLVM 15.0.6)'),
    nodeDevices: [{ system: 'geolens node lavapipe', adapter: adapter('lavapipe (Mesa 25.0.7, LLVM 15.0.6)') }, { system: 'geolens node swiftshader', adapter: adapter('SwiftShader Device (Subzero)') }],
    ceilings: { 'geolens node lavapipe': ceiling(40, 4), 'geolens node swiftshader': ceiling(10, 1) },
    browserAdapter: null, dtype: 'f32', wasmThreads: 1, notes: [], loadAverage: [1.5, 2.5],
    measurements: [
      // 2·50·768·2304 = 176,947,200 flops: 10 ms is 17.7 GFLOPS, 44% of 40; 50 ms is 3.54, 35% of 10.
      { suite: 'gemm', case: '50×768×2304', system: 'geolens node lavapipe', ms: 10, flops: 176_947_200 },
      { suite: 'gemm', case: '50×768×2304', system: 'geolens node swiftshader', ms: 50, flops: 176_947_200 },
      // 204.8 MB in 100 ms is 2.05 GB/s, 51% of 4.
      { suite: 'search', case: '100k × 512, 1 query', system: 'geolens node lavapipe', ms: 100, bytes: 204_800_000 },
    ],
  };
}

test('the README block is rebuilt from the results: a column per device, ceilings, fractions; the rest of README untouched', () => {
  const readme = `# title\n\nbefore\n${README_BEGIN}\n| stale | table |\n${README_END}\n\nafter\n`;
  const out = withPerformanceTable(readme, results());
  assert.ok(out.startsWith('# title\n\nbefore\n'));
  assert.ok(out.endsWith(`${README_END}\n\nafter\n`));
  assert.not.match(out, /stale/);
  assert.match(out, /\| what \| lavapipe \(Mesa 25\.0\.7, LLVM 15\.0\.6\), Node \| SwiftShader Device \(Subzero\), Node \| SwiftShader, Chromium \|/);
  assert.match(out, /\| FMA ceiling \(independent vec4 FMAs\) \| 40\.0 GFLOPS \| 10\.0 GFLOPS \| – \|/);
  assert.match(out, /\| GEMM 50×768×2304 \(f32\) \| 17\.7 GFLOPS \(44%\) \| 3\.54 GFLOPS \(35%\) \| – \|/);
  assert.match(out, /\| search 100k × 512, 1 query \| 100 ms, 2\.05 GB\/s \(51%\) \| – \| – \|/);
  assert.match(out, /load average 1\.5 → 2\.5/);
  // Run again on its own output: the same text (the block is found again and replaced in place).
  assert.is(withPerformanceTable(out, results()), out);
});

test('a README without the markers is refused, naming them', () => {
  assert.throws(() => withPerformanceTable('# no table here\n', results()), /no performance table block/);
});

test.run();

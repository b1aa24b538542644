// Gallery search benchmark: `node build.mjs --bench search && node .build/bench/kernels/search.bench.mjs`
// Prints the adapter, then for a 100k × 512 gallery (GeoCLIP's size) and 1, 4, 8 or 32 queries: GPU ms for
// both passes (timestamp queries, else wall clock), GB/s of gallery bytes read, and GFLOPS counting 2·N·D·Q
// (multiply-add as 2). Every tiling the tuner times (SEARCH_TILINGS tiles per workgroup) side by side with
// scores computed in the tile kernel, then the dot products by the GEMM (scores 'gemm', default tiling),
// the defaults here marked; the last line per shape is searchTopK end to end (dispatch, sync and
// readback, the defaults) timed by benchmark.js on the wall clock. `--quick` runs only the default tiling.
import Benchmark from 'benchmark';
import { defaultSearchScores, defaultTilesPerWorkgroup, dispatchSearch, SEARCH_TILINGS, searchTopK, uploadGalleryChunks, type SearchScores } from '../../src/kernels/search.js';
import { getDevice, type Tensor } from '../../src/runtime/index.js';
import { gpuMilliseconds } from '../support/bench.js';
import { benchCeiling, ofCeiling } from '../support/ceiling.js';
import { unitRows } from '../support/rows.js';

const ROWS = 100_000;
const DIM = 512;
const K = 5;
const SCALE = 39.7;
const quick = process.argv.includes('--quick');

function wallMilliseconds(queries: Tensor, gallery: Tensor[]): Promise<number> {
  return new Promise((resolve) => {
    new Benchmark('searchTopK', {
      defer: true,
      minSamples: 5,
      maxTime: 3,
      fn: (deferred: { resolve(): void }) => {
        searchTopK(queries, gallery, { k: K, scale: SCALE }).then(() => deferred.resolve());
      },
      onComplete(this: Benchmark) {
        resolve(this.stats.mean * 1000);
      },
    }).run();
  });
}

const gpu = await getDevice({ log: () => {} });
console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}, timing: ${gpu.features.timestamps ? 'timestamp-query' : 'wall clock'}`);
const ceiling = await benchCeiling(gpu);
const data = unitRows(0, ROWS, DIM);
for (const dtype of ['f32', 'f16'] as const) {
  const gallery = uploadGalleryChunks(gpu, data, ROWS, DIM, undefined, dtype);
  const galleryBytes = ROWS * DIM * (dtype === 'f16' ? 2 : 4);
  for (const queryCount of [1, 4, 8, 32]) {
    const queries = gpu.upload(unitRows(ROWS + 7 * queryCount, queryCount, DIM), [queryCount, DIM]);
    const flops = 2 * ROWS * DIM * queryCount;
    const byDefault = defaultTilesPerWorkgroup(gpu);
    const scoresByDefault = defaultSearchScores(gpu, queryCount);
    const runs: [number, SearchScores][] = [...(quick ? [byDefault] : SEARCH_TILINGS).map((tiles): [number, SearchScores] => [tiles, 'direct']), [byDefault, 'gemm']];
    for (const [tilesPerWorkgroup, scores] of runs) {
      const { ms, source } = await gpuMilliseconds(gpu, () => dispatchSearch(queries, gallery, { k: K, scale: SCALE, tilesPerWorkgroup, scores }).release(), 5);
      const isDefault = tilesPerWorkgroup === byDefault && scores === scoresByDefault;
      const name = `${ROWS}x${DIM} ${dtype} Q=${queryCount} k=${K} tiles/wg ${tilesPerWorkgroup} scores ${scores}${isDefault ? ' (default)' : ''}`;
      console.log(
        `search ${name.padEnd(72)} ${ms.toFixed(2).padStart(9)} ms (${source})  ` +
          `${(galleryBytes / ms / 1e6).toFixed(2).padStart(7)} GB/s ${ofCeiling(ceiling, 'bandwidth', galleryBytes, ms).padStart(12)}  ${(flops / ms / 1e6).toFixed(2).padStart(7)} GFLOPS`,
      );
    }
    const wall = await wallMilliseconds(queries, gallery);
    console.log(`searchTopK ${dtype} Q=${queryCount} end to end (default tiling) ${wall.toFixed(2)} ms wall`);
    queries.release();
  }
  for (const chunk of gallery) chunk.release();
}
process.exit(0);

// Heat-map kernel benchmark: `node build.mjs --bench heatmap && node .build/bench/kernels/heatmap.bench.mjs`
// Prints the adapter, then for a 100k × 512 gallery (GeoCLIP's size; its real coordinates when
// ../shared/data/geoclip/coordinates_100K.csv is there, so dense cities contend for the same atomics) and
// 1 or 8 queries on a 360 × 180 grid: GPU ms of the kernel (timestamp queries, else wall clock), GB/s of
// gallery bytes read, and the search pass it needs for log-sum-exp beside it for scale.
import { existsSync, readFileSync } from 'node:fs';
import { equirectangularCells } from '../../src/geo/heatmap.js';
import { dispatchHeatmap } from '../../src/kernels/heatmap.js';
import { dispatchSearch, uploadGalleryChunks } from '../../src/kernels/search.js';
import { parseGalleryCsv } from '../../src/model/gallery.js';
import { getDevice } from '../../src/runtime/index.js';
import { gpuMilliseconds } from '../support/bench.js';
import { benchCeiling, ofCeiling } from '../support/ceiling.js';
import { unitRows } from '../support/rows.js';

const ROWS = 100_000;
const DIM = 512;
const SCALE = 39.7;
const CSV = '../shared/data/geoclip/coordinates_100K.csv';

const gpu = await getDevice({ log: () => {} });
console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}, timing: ${gpu.features.timestamps ? 'timestamp-query' : 'wall clock'}`);
const ceiling = await benchCeiling(gpu);
let gps: Float32Array;
if (existsSync(CSV)) {
  gps = parseGalleryCsv(readFileSync(CSV, 'utf8'));
  console.log(`cells from ${CSV}`);
} else {
  gps = new Float32Array(ROWS * 2).map((_, i) => (i % 2 === 0 ? ((i * 37) % 180) - 90 : ((i * 53) % 360) - 180));
  console.log('cells from synthetic coordinates');
}
const cells = equirectangularCells(gps.subarray(0, ROWS * 2), 360, 180);
const rowCells = gpu.upload(cells, [ROWS], 'u32');
const data = unitRows(0, ROWS, DIM);
for (const dtype of ['f32', 'f16'] as const) {
  const gallery = uploadGalleryChunks(gpu, data, ROWS, DIM, undefined, dtype);
  const bytes = ROWS * DIM * (dtype === 'f16' ? 2 : 4);
  for (const queryCount of [1, 8]) {
    const queries = gpu.upload(unitRows(ROWS + 7 * queryCount, queryCount, DIM), [queryCount, DIM]);
    const lse = new Float32Array(queryCount).fill(Math.log(ROWS));
    const heat = () => dispatchHeatmap(queries, gallery, rowCells, lse, { scale: SCALE, cells: 360 * 180 }).release();
    const { ms, source } = await gpuMilliseconds(gpu, heat, 5);
    const search = await gpuMilliseconds(gpu, () => dispatchSearch(queries, gallery, { k: 1, scale: SCALE }).release(), 3);
    console.log(
      `heatmap ${`${ROWS}x${DIM} ${dtype} Q=${queryCount} 360x180`.padEnd(32)} ${ms.toFixed(2).padStart(9)} ms (${source})  ` +
        `${(bytes / ms / 1e6).toFixed(2).padStart(7)} GB/s ${ofCeiling(ceiling, 'bandwidth', bytes, ms).padStart(12)}   (search pass k=1: ${search.ms.toFixed(2)} ms)`,
    );
    queries.release();
  }
  for (const chunk of gallery) chunk.release();
}
process.exit(0);

// The adapter's roofline: the FMA ceiling (independent vec4 FMA chains, every workgroup size ×
// accumulator count, the best counts) and vec4 copy bandwidth, each variant checked against its CPU
// reference (src/kernels/ceiling.ts). `npm run bench:ceiling`; `-- --quick` for a smoke run;
// `-- --json FILE` also writes the figures as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { adapterLine, benchGpu, formatRow } from '../support/bench.js';
import { benchCeiling, ceilingLine } from '../support/ceiling.js';

const quick = process.argv.includes('--quick');
const jsonIndex = process.argv.indexOf('--json');
const gpu = await benchGpu();
console.log(adapterLine(gpu));
const ceiling = await benchCeiling(gpu, { quick }, false);
const widths = [10, 13, 11, 12];
console.log(formatRow(['workgroup', 'accumulators', 'iterations', 'GFLOPS'], widths));
for (const v of ceiling.variants) {
  const mark = v.gflops === ceiling.fmaGflops ? ' ←' : '';
  console.log(formatRow([String(v.workgroupSize), String(v.accumulators), String(v.iterations), v.gflops.toFixed(2)], widths) + mark);
}
for (const v of ceiling.copyVariants) {
  const mark = v.gbps === ceiling.copyGBps ? ' ←' : '';
  console.log(`copy: workgroup ${v.workgroupSize}, ${v.vectors} vec4s per invocation: ${v.gbps.toFixed(2)} GB/s${mark}`);
}
console.log(ceilingLine(ceiling));
console.log(`(${ceiling.timing} timing, ${ceiling.seconds.toFixed(1)} s)`);
if (jsonIndex > 0) {
  const path = process.argv[jsonIndex + 1]!;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ date: new Date().toISOString(), loadAverage: loadavg()[0], ...ceiling }, null, 2) + '\n');
  console.log(`wrote ${path}`);
}
process.exit(0);

// Runs the suite on every WebGPU device this machine has, the way `npm test` and CI do: the whole suite
// on a hardware GPU if there is one, else on SwiftShader (else lavapipe), then the files that exercise
// the kernels (kernel, runtime, model and API tests) on each other software device, so a kernel shaped
// for one device's limits (lavapipe binds 128 MiB, SwiftShader 1 GiB) is tried on both. Without a GPU the
// whole suite goes to SwiftShader because lavapipe costs more per test file: LLVM compiles the q8/q4 GEMM
// pipelines in 15-20 s each on a cold Mesa shader cache, Subzero in about 1 s.
// Prints each run's closing line as test/run.mjs does, then one closing "N passed, N failed" line that
// counts every run (the line CI reads).
//
//   node test/devices.mjs            as above
//   GEOLENS_ADAPTER=swiftshader node test/devices.mjs
//                                    the whole suite on that adapter only (e.g. SwiftShader alone)
//   GEOLENS_TEST_SECOND='kernels/'   what the other devices run (a regex on the path under test/)
//   GEOLENS_TEST_FIRST='runtime/'    what the first device runs instead of the whole suite
//   GEOLENS_TEST_WHOLE=lavapipe      which device runs the whole suite (default: hardware, else swiftshader)
import { spawn, spawnSync } from 'node:child_process';

const SECOND = process.env.GEOLENS_TEST_SECOND || '^(kernels|runtime|model|api)/';
const FIRST = process.env.GEOLENS_TEST_FIRST || null;
const SOFTWARE = ['lavapipe', 'swiftshader'];

/** The adapter `geolens info` reports for a GEOLENS_ADAPTER value, or null when there is none. */
function adapterFor(wanted) {
  const env = { ...process.env, GEOLENS_QUIET: '1' };
  if (wanted) env.GEOLENS_ADAPTER = wanted;
  else delete env.GEOLENS_ADAPTER;
  const info = spawnSync(process.execPath, ['dist/cli.js', 'info'], { env, encoding: 'utf8', timeout: 120_000 });
  if (info.status !== 0) return null;
  return /^adapter: (.+?)(?: \(software\))?$/m.exec(info.stdout)?.[1] ?? null;
}

function runSuite(adapter, name, pattern) {
  return new Promise((resolve) => {
    console.log(`\n=== ${pattern ? `${pattern} files` : 'whole suite'} on ${name} (GEOLENS_ADAPTER=${adapter})\n`);
    const started = Date.now();
    const child = spawn(process.execPath, ['test/run.mjs', ...(pattern ? [pattern] : [])], {
      env: { ...process.env, GEOLENS_ADAPTER: adapter },
      stdio: ['inherit', 'pipe', 'inherit'],
    });
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      const plain = tail.replace(/\x1b\[[0-9;]*m/g, '');
      const lines = [...plain.matchAll(/^(\d+) passed, (\d+) failed, (\d+) skipped/gm)];
      const last = lines[lines.length - 1];
      const counts = last ? { passed: +last[1], failed: +last[2], skipped: +last[3] } : { passed: 0, failed: 1, skipped: 0 };
      // A run that died before its closing line counts as one failure, never as a pass.
      if (code !== 0 && counts.failed === 0) counts.failed = 1;
      resolve({ name, pattern, seconds: (Date.now() - started) / 1000, ...counts });
    });
  });
}

const started = Date.now();
const runs = [];
const chosen = process.env.GEOLENS_ADAPTER;
if (chosen) {
  runs.push(await runSuite(chosen, adapterFor(chosen) ?? chosen, FIRST));
} else {
  const best = adapterFor(null);
  if (!best) {
    console.error('no WebGPU adapter: `node dist/cli.js info` says why (run `node build.mjs` first if dist/cli.js is missing)');
    process.exit(1);
  }
  const names = Object.fromEntries(SOFTWARE.map((kind) => [kind, adapterFor(kind)]));
  const bestKind = SOFTWARE.find((kind) => names[kind] === best) ?? 'hardware';
  // [GEOLENS_ADAPTER value, adapter name] of every device here, in the order they run.
  const devices = [...(bestKind === 'hardware' ? [[best, best]] : []), ...SOFTWARE.filter((kind) => names[kind]).map((kind) => [kind, names[kind]])];
  const wanted = process.env.GEOLENS_TEST_WHOLE || (bestKind === 'hardware' ? best : 'swiftshader');
  const whole = devices.find(([value, name]) => value === wanted || name.toLowerCase().includes(wanted.toLowerCase())) ?? devices[0];
  runs.push(await runSuite(whole[0], whole[1], FIRST));
  for (const [value, name] of devices) {
    if (value !== whole[0]) runs.push(await runSuite(value, name, SECOND));
  }
  for (const kind of SOFTWARE) {
    if (!names[kind]) console.log(`\n(no ${kind} adapter here: its run is skipped; \`geolens info\` lists what there is)`);
  }
}

const total = runs.reduce((sum, r) => ({ passed: sum.passed + r.passed, failed: sum.failed + r.failed, skipped: sum.skipped + r.skipped }), { passed: 0, failed: 0, skipped: 0 });
console.log('');
for (const r of runs) console.log(`${r.name}, ${r.pattern ? r.pattern : 'whole suite'}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped in ${r.seconds.toFixed(0)} s`);
console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped (${runs.length} device${runs.length === 1 ? '' : 's'}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(total.failed > 0 || total.passed === 0 ? 1 : 0);

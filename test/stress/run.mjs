// `npm run test:stress`: long runs kept out of `npm test`. Bundles test/stress/*.stress.ts (WGSL inlined,
// npm packages external, like build.mjs) into .build/stress/ and runs each file in its own process,
// which prints its own figures and exits non-zero on failure.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const out = resolve(process.env.GEOLENS_BUILD_DIR || '.build', 'stress');
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;
const files = readdirSync('test/stress').filter((name) => name.endsWith('.stress.ts') && (!filter || filter.test(name))).map((name) => join('test/stress', name));
if (files.length === 0) {
  console.error(`no test/stress/*.stress.ts${filter ? ` matching ${filter}` : ''}`);
  process.exit(1);
}
await build({
  entryPoints: files,
  outdir: out,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'node',
  packages: 'external',
  loader: { '.wgsl': 'text' },
  outExtension: { '.js': '.mjs' },
  sourcemap: true,
  logLevel: 'warning',
});
let failed = 0;
for (const file of files) {
  const bundle = join(out, file.slice('test/stress/'.length).replace(/\.ts$/, '.mjs'));
  console.log(`\n${file}`);
  const run = spawnSync(process.execPath, ['--enable-source-maps', bundle], { stdio: 'inherit', env: { GEOLENS_QUIET: '1', ...process.env } });
  if (run.status !== 0) failed++;
}
console.log(`\n${files.length - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);

// Builds geolens with esbuild. WGSL files are imported as strings (text loader), so every bundle
// carries its shaders inline and needs no file access at run time.
//
//   node build.mjs            library: dist/index.js (Node + browser ESM), dist/cli.js, dist/geolens.browser.js,
//                             and type declarations under dist/types
//   node build.mjs --tests [pattern]   test/**/*.test.ts -> .build/test/**/*.test.mjs, plus browser test
//                                      pages; a pattern (regex on the path) builds only matching tests
//   node build.mjs --bench [pattern]   bench/**/*.bench.ts -> .build/bench/**/*.bench.mjs
//   node build.mjs --examples          .build/examples/browser (static demo) and .build/examples/extension
//                                      (an unpacked Chrome extension, loadable as it is)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

// The package version, inlined where the code reads __GEOLENS_VERSION__ (`geolens --version`).
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

const shared = {
  define: { __GEOLENS_VERSION__: JSON.stringify(version) },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
};

// Node bundles keep npm packages external; `webgpu` is only ever reached through a dynamic import.
const nodeBundle = { ...shared, platform: 'node', packages: 'external', outExtension: { '.js': '.mjs' } };

const args = new Set(process.argv.slice(2));
// Separate work trees (or parallel builds) can keep their bundles apart.
const out = process.env.GEOLENS_BUILD_DIR || '.build';
const pattern = process.argv.slice(2).find((arg) => !arg.startsWith('--'));
const filter = pattern ? new RegExp(pattern) : null;

/** Files under `dir` whose names end with one of `suffixes` (and match the filter, if any). */
function entries(dir, suffixes) {
  const walk = (d) => readdirSync(d).sort().flatMap((name) => {
    const path = join(d, name);
    if (statSync(path).isDirectory()) return walk(path);
    return suffixes.some((s) => name.endsWith(s)) ? [path] : [];
  });
  return walk(dir).filter((path) => !filter || filter.test(path));
}

if (args.has('--tests')) {
  // A filtered build only adds its files: others may be running tests from this folder.
  if (!filter) rmSync(`${out}/test`, { recursive: true, force: true });
  await build({ ...nodeBundle, entryPoints: entries('test', ['.test.ts']), outdir: `${out}/test`, outbase: 'test' });
  const pages = entries('test', ['.page.ts']);
  if (pages.length > 0) {
    await build({ ...shared, platform: 'browser', entryPoints: pages, outdir: `${out}/test`, outbase: 'test', external: ['webgpu', 'node:*'] });
  }
} else if (args.has('--bench')) {
  if (!filter) rmSync(`${out}/bench`, { recursive: true, force: true });
  await build({ ...nodeBundle, entryPoints: entries('bench', ['.bench.ts']), outdir: `${out}/bench`, outbase: 'bench' });
} else if (args.has('--examples')) {
  rmSync(`${out}/examples`, { recursive: true, force: true });
  const browserExample = { ...shared, platform: 'browser', external: ['webgpu', 'node:*', 'sharp'] };
  await build({ ...browserExample, entryPoints: { demo: 'examples/browser/demo.ts' }, outdir: `${out}/examples/browser` });
  await build({ ...browserExample, entryPoints: { background: 'examples/extension/background.ts', locate: 'examples/extension/locate.ts' }, outdir: `${out}/examples/extension` });
  for (const [from, to] of [['examples/browser/index.html', 'browser/index.html'], ['examples/extension/manifest.json', 'extension/manifest.json'], ['examples/extension/locate.html', 'extension/locate.html']]) {
    mkdirSync(`${out}/examples/${to.split('/')[0]}`, { recursive: true });
    copyFileSync(from, `${out}/examples/${to}`);
  }
} else {
  rmSync('dist', { recursive: true, force: true });
  await build({ ...shared, platform: 'neutral', packages: 'external', entryPoints: { index: 'src/api/index.ts' }, outdir: 'dist', mainFields: ['module', 'main'] });
  await build({ ...shared, platform: 'node', packages: 'external', entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } });
  await build({ ...shared, platform: 'browser', entryPoints: { 'geolens.browser': 'src/api/index.ts' }, outdir: 'dist', external: ['webgpu', 'node:*'] });
  // Type declarations for the public API (dist/types/src/api/index.d.ts, named in package.json).
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

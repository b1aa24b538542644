// Runs every bundled benchmark in a group (.build/bench/<group>/**/*.bench.mjs, made by
// `node build.mjs --bench`), one child process each so a bench that exits, crashes or holds its own
// device cannot take the others down, prints their output as it comes, and exits.
//
//   node bench/run.mjs [group] [pattern]     e.g. `node bench/run.mjs kernels gemm`
//
// A bench file does its work at import (top-level await) and should end with process.exit(); one that
// runs longer than BENCH_TIMEOUT_S seconds (default 900) is stopped and counted as failed.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const [group = '', pattern] = process.argv.slice(2);
const root = resolve('.build/bench', group);
const filter = pattern ? new RegExp(pattern) : null;
const timeoutMs = Number(process.env.BENCH_TIMEOUT_S ?? 900) * 1000;

function collect(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.bench.mjs') ? [path] : [];
  });
}

const files = existsSync(root) ? collect(root).filter((file) => !filter || filter.test(relative(root, file))) : [];
if (files.length === 0) {
  console.error(`no benchmarks under ${root}${filter ? ` matching ${filter}` : ''}; run \`node build.mjs --bench\``);
  process.exit(1);
}

function runOne(file) {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--enable-source-maps', file], { stdio: 'inherit', env: { ...process.env, GEOLENS_QUIET: '1' } });
    const timer = setTimeout(() => {
      console.error(`${relative(root, file)}: still running after ${timeoutMs / 1000} s, stopping it`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done(code === 0 ? null : signal ? `killed by ${signal}` : `exit code ${code}`);
    });
  });
}

const started = Date.now();
const failures = [];
for (const file of files) {
  const name = relative(resolve('.build/bench'), file);
  console.log(`\n=== ${name}`);
  const t0 = Date.now();
  const failure = await runOne(file);
  console.log(`=== ${name}: ${failure ? `FAILED (${failure})` : 'done'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (failure) failures.push(`${name}: ${failure}`);
}
console.log(`\n${files.length - failures.length} of ${files.length} benchmarks ran (${((Date.now() - started) / 1000).toFixed(1)} s)`);
for (const failure of failures) console.log(`  failed: ${failure}`);
process.exit(failures.length > 0 ? 1 : 0);

// Runs every bundled test file (.build/test/**/*.test.mjs, made by `node build.mjs --tests`) in one
// process with uvu, prints a closing "N passed, N failed" line, and exits: Dawn keeps the event loop
// alive, so the process has to end itself.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';
import { run } from 'uvu/run';

const root = resolve(process.env.GEOLENS_BUILD_DIR || '.build', 'test');
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;

function collect(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.mjs') ? [path] : [];
  });
}

const files = collect(root).filter((file) => !filter || filter.test(relative(root, file)));
if (files.length === 0) {
  console.error(`no test files under ${root}${filter ? ` matching ${filter}` : ''}; run \`node build.mjs --tests\``);
  process.exit(1);
}

// uvu prints its own totals; capture them to print the one-line summary CI reads.
let log = '';
// uvu prints each file's name as it starts it: the gaps between those lines are the files' times, and
// the slowest are listed at the end (the default suite has a time budget).
const fileStarts = [];
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  const text = String(chunk);
  for (const match of text.matchAll(/^(\S+\.test\.mjs)$/gm)) fileStarts.push({ name: match[1], at: Date.now() });
  log += text;
  return write(chunk, ...rest);
};

const started = Date.now();
try {
  await run(files.map((file) => ({ name: relative(root, file), file })), { bail: false });
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
process.stdout.write = write;
const finishedAt = Date.now();
const fileTimes = fileStarts.map((file, i) => ({ name: file.name, seconds: ((fileStarts[i + 1]?.at ?? finishedAt) - file.at) / 1000 }));
if (fileTimes.length > 1) {
  const slowest = [...fileTimes].sort((a, b) => b.seconds - a.seconds).slice(0, 10);
  console.log(`\nslowest files: ${slowest.map((f) => `${f.name} ${f.seconds.toFixed(0)} s`).join(', ')}`);
}
const plain = log.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const failed = total - passed - skipped;
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(failed > 0 || total === 0 ? 1 : (process.exitCode ?? 0));

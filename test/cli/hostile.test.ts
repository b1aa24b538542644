// `geolens locate` as a hostile or unlucky user meets it (dist/cli.js in a child process): output targets
// that cannot be written, list files that are not files, a full disk under --map, a URL that trickles,
// and SIGTERM / SIGINT in the middle of a batch run. Each ends with one line on stderr, never a hang, and
// keeps what was already done.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished, MODEL_FLAGS, runCli, spawnCli, writeCollection } from '../support/collection.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { ensureTinyModel, KAUAI } from '../support/tiny-model.js';

const root = mkdtempSync(join(tmpdir(), 'geolens-cli-hostile-'));
const env = { GEOLENS_CACHE: join(root, 'cache') };
/** Model files that do not exist: a command that got as far as loading the model would say so instead. */
const NO_MODEL = ['--clip', join(root, 'none.safetensors'), '--clip-config', join(root, 'none.json'), '--geoclip', join(root, 'none.pth'), '--gallery', join(root, 'none.csv')];
let server: HostileServer;
let photos: string[];

test.before(async () => {
  ensureTinyModel();
  photos = await writeCollection(join(root, 'photos'), 4);
  server = await startHostileServer(new Uint8Array(readFileSync(photos[0]!)), 300);
});
test.after(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

/** stderr lines of geolens itself (Dawn's adapter warnings left out). */
function ours(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '' && !/^Warning: |^ - While |vulkan|dawn/i.test(line));
}

function assertOneLine(run: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.is(run.status, 1, run.stderr);
  const lines = ours(run.stderr);
  assert.is(lines.length, 1, `one line, got:\n${run.stderr}`);
  assert.match(lines[0]!, /^geolens: GeolensError: /);
  assert.match(lines[0]!, pattern);
  assert.not.match(lines[0]!, /unexpected error/);
}

test('--out and --map targets are checked before the model loads: a missing folder, a folder, a FIFO', () => {
  const fifo = join(root, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  mkdirSync(join(root, 'a-folder'));
  const cases: [string[], RegExp][] = [
    [['--out', join(root, 'missing', 'r.jsonl')], /--out .*missing\/r\.jsonl: the folder .*missing does not exist$/],
    [['--out', join(root, 'a-folder')], /--out .*a-folder is a folder; give a file name$/],
    [['--out', fifo], /--out .*out\.fifo is not a regular file \(a FIFO or socket\); give a file name$/],
    [['--map', join(root, 'missing', 'map.png')], /--map .*missing\/map\.png: the folder .*missing does not exist$/],
  ];
  for (const [flags, pattern] of cases) {
    const started = performance.now();
    const run = runCli(['locate', KAUAI, ...NO_MODEL, ...flags, '--quiet'], env);
    assertOneLine(run, pattern);
    assert.ok(performance.now() - started < 10_000, `${flags.join(' ')}: ${(performance.now() - started).toFixed(0)} ms`);
  }
});

test('a FIFO or /dev/zero as a list file: one line, no hang, no RangeError', () => {
  const fifo = join(root, 'list-fifo.txt');
  execFileSync('mkfifo', [fifo]);
  const zero = join(root, 'list-zero.txt');
  symlinkSync('/dev/zero', zero);
  for (const [list, pattern] of [[fifo, /list file '.*list-fifo\.txt' is a FIFO \(named pipe\), not a regular file$/], [zero, /list file '.*list-zero\.txt' is a character device, not a regular file$/]] as const) {
    const run = runCli(['locate', list, ...NO_MODEL, '--out', join(root, 'list.jsonl'), '--quiet'], env);
    assert.is(run.signal, null, `killed (${run.signal}): the list hung`);
    assertOneLine(run, pattern);
    assert.not.match(run.stderr, /RangeError/);
  }
});

test('--map onto a full disk: the results are printed, then one line naming the map and ENOSPC', () => {
  const full = join(root, 'full.svg');
  symlinkSync('/dev/full', full);
  const run = runCli(['locate', KAUAI, ...MODEL_FLAGS, '--map', full, '-k', '3', '--quiet'], env);
  assert.is(run.status, 1, run.stderr);
  assert.match(run.stdout, /Kauai\.png\n {2}1\. .*p=0\.\d{4}.*\n {2}2\. .*\n {2}3\. /, `the results are printed:\n${run.stdout}`);
  const lines = ours(run.stderr);
  assert.is(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^geolens: GeolensError: --map: could not write .*full\.svg \(ENOSPC\); the results are printed above$/);
});

test('a single URL that trickles fails at the idle timeout (GEOLENS_URL_IDLE_MS) with one line', async () => {
  const started = performance.now();
  // Spawned, not spawnSync: the server answering it lives in this process.
  const result = await finished(spawnCli(['locate', `${server.url}/trickle.png`, ...MODEL_FLAGS, '--quiet'], { env: { ...env, GEOLENS_URL_IDLE_MS: '1000' } }));
  const run = { status: result.code, stderr: result.stderr };
  assert.is(run.status, 1, run.stderr);
  const lines = ours(run.stderr);
  assert.is(lines.length, 1, run.stderr);
  assert.ok(/^geolens: ImageError: image 0 \(http:.*trickle\.png\): fewer than 1024 bytes in 1 s \(idle timeout\)$/.test(lines[0]!), lines[0]);
  console.log(`  trickling URL refused after ${((performance.now() - started) / 1000).toFixed(1)} s (model load included)`);
});

/** Waits until `path` holds at least `count` lines (or the child ended). */
async function linesIn(path: string, count: number, child: { exitCode: number | null }): Promise<number> {
  for (;;) {
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
    if (lines >= count || child.exitCode !== null) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
  test(`${signal} while a list's URL trickles: the run ends within 3 s, status ${status}, one line, the lines written kept whole`, async () => {
    const list = join(root, `${signal}.txt`);
    writeFileSync(list, [photos[0], photos[1], `${server.url}/trickle.png`, photos[2]].join('\n') + '\n');
    const out = join(root, `${signal}.jsonl`);
    // The URL would hold its micro-batch for a minute: only the stop can end the run early.
    const child = spawnCli(['locate', list, '--out', out, ...MODEL_FLAGS, '--batch-size', '2', '--quiet'], { env: { ...env, GEOLENS_URL_IDLE_MS: '60000' } });
    const done = finished(child);
    assert.is(await linesIn(out, 2, child), 2, 'the first micro-batch was written');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentAt = performance.now();
    child.kill(signal);
    const result = await done;
    const tookMs = performance.now() - sentAt;
    assert.ok(tookMs < 3000, `ended ${tookMs.toFixed(0)} ms after ${signal}`);
    assert.is(result.code, status, result.stderr);
    const lines = ours(result.stderr);
    assert.is(lines.length, 1, result.stderr);
    assert.ok(new RegExp(`^geolens: stopped by ${signal} after 2 of 4 images; the lines in .*${signal}\\.jsonl are kept, run again to resume$`).test(lines[0]!), lines[0]);
    const text = readFileSync(out, 'utf8');
    assert.ok(text.endsWith('\n'), 'no torn line');
    assert.equal(text.trim().split('\n').map((line) => (JSON.parse(line) as { image: string }).image), [photos[0], photos[1]]);
  });
}

test.run();

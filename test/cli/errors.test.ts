import { runCli } from '../support/collection.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureTinyModel } from '../support/tiny-model.js';

// What reaches a person at the terminal: exactly one line, `geolens: <what>`, and a stack only with --debug.

const DIR = 'test/fixtures/generated/api';
const KAUAI = '../shared/data/geoclip/Kauai.png';
const cacheDir = mkdtempSync(join(tmpdir(), 'geolens-cli-errors-'));

const geolens = (...args: string[]) => runCli(args, { GEOLENS_CACHE: cacheDir });

function model(overrides: Record<string, string> = {}): string[] {
  const flags: Record<string, string> = { '--clip': `${DIR}/clip.safetensors`, '--clip-config': `${DIR}/config.json`, '--geoclip': `${DIR}/geoclip.safetensors`, '--gallery': `${DIR}/gallery.csv`, ...overrides };
  return Object.entries(flags).flat();
}

/** stderr without Dawn's own adapter warnings (printed by the native library, not by geolens). */
function ours(stderr: string): string {
  return stderr.replace(/^Warning: .*\n(?: - While .*\n)?(?:\s+at \S+ \(\/home\/runner\/.*\)\n)?\n?/gm, '');
}

function assertOneLine(run: ReturnType<typeof geolens>, pattern: RegExp): void {
  assert.is(run.status, 1, run.stderr);
  const stderr = ours(run.stderr);
  const lines = stderr.split('\n').filter(Boolean);
  assert.is(lines.length, 1, `one line, got:\n${run.stderr}`);
  assert.match(lines[0]!, /^geolens: /);
  assert.match(lines[0]!, pattern);
  assert.not.match(stderr, /\n\s+at /, 'no stack');
}

test('missing --clip-config and --gallery paths, /dev/zero as an image: one line each, no stack', () => {
  assert.ok(existsSync('dist/cli.js'), 'dist/cli.js missing: run `node build.mjs` (npm test does)');
  ensureTinyModel();
  assertOneLine(geolens('locate', KAUAI, ...model({ '--clip-config': 'no/such/config.json' }), '--quiet'), /^geolens: WeightsError: cannot open JSON file 'no\/such\/config\.json': ENOENT$/);
  assertOneLine(geolens('locate', KAUAI, ...model({ '--gallery': 'no/such/gallery.csv' }), '--quiet'), /^geolens: GeolensError: cannot open gallery 'no\/such\/gallery\.csv': ENOENT$/);
  assertOneLine(geolens('locate', '/dev/zero', ...model(), '--quiet'), /^geolens: ImageError: image 0 \(\/dev\/zero\): image file '\/dev\/zero' is a character device, not a regular file$/);
});

test('--debug adds the stack, anywhere on the line', () => {
  const run = geolens('locate', KAUAI, '--debug', ...model({ '--clip-config': 'no/such/config.json' }), '--quiet');
  assert.is(run.status, 1);
  assert.match(ours(run.stderr), /^geolens: WeightsError: cannot open JSON file 'no\/such\/config\.json': ENOENT\n\s+at /);
  rmSync(cacheDir, { recursive: true, force: true });
});

test.run();

// `geolens convert --geoclip` / `--geoclip-dir` check what each input holds, as `locate` does: a CLIP file
// or swapped .pth files are refused naming which file is what, and nothing is written.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ourStderr, runCli } from '../support/collection.js';
import { ensureTinyModel, GEOCLIP_DATA, TINY_MODEL_DIR } from '../support/tiny-model.js';

const work = mkdtempSync(join(tmpdir(), 'geolens-convert-roles-'));
const geolens = (...args: string[]) => runCli(args, { GEOLENS_CACHE: join(work, 'cache') });

/** A --geoclip-dir folder whose three files hold the given sources. */
function folder(name: string, files: { mlp: string; encoder: string; scale: string }): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(files.mlp, join(dir, 'image_encoder_mlp_weights.pth'));
  copyFileSync(files.encoder, join(dir, 'location_encoder_weights.pth'));
  copyFileSync(files.scale, join(dir, 'logit_scale_weights.pth'));
  return dir;
}

const MLP = `${GEOCLIP_DATA}/image_encoder_mlp_weights.pth`;
const ENCODER = `${TINY_MODEL_DIR}/location-encoder.safetensors`;
const SCALE = `${GEOCLIP_DATA}/logit_scale_weights.pth`;

/** Nothing under `dir` but what was there: no output, no partial file. */
function nothingWritten(out: string): void {
  assert.not.ok(existsSync(out), `${out} was written`);
  const dir = join(out, '..');
  assert.equal(readdirSync(dir).filter((name) => name.startsWith(out.split('/').pop()!)), [], 'a partial file was left');
}

test('convert --geoclip given a CLIP file: one line naming it as CLIP, exit 1, nothing written', () => {
  ensureTinyModel();
  const out = join(work, 'heads-from-clip.safetensors');
  const run = geolens('convert', '--geoclip', `${TINY_MODEL_DIR}/clip.safetensors`, '--dtype', 'q8', '--out', out);
  assert.is(run.status, 1, run.stdout);
  assert.is(ourStderr(run.stderr).split('\n').length, 1, run.stderr);
  assert.match(run.stderr, new RegExp(`convert --geoclip: ${TINY_MODEL_DIR}/clip\\.safetensors is a full CLIP checkpoint \\(vision and text towers\\), expected a GeoCLIP heads checkpoint`));
  nothingWritten(out);
});

test('convert --geoclip-dir with the image MLP and location encoder files swapped: names both, nothing written', () => {
  ensureTinyModel();
  const dir = folder('swapped', { mlp: ENCODER, encoder: MLP, scale: SCALE });
  const out = join(work, 'heads-swapped.safetensors');
  const run = geolens('convert', '--geoclip-dir', dir, '--dtype', 'q4', '--out', out);
  assert.is(run.status, 1, run.stdout);
  assert.is(ourStderr(run.stderr).split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /image_encoder_mlp_weights\.pth is GeoCLIP's location encoder, expected GeoCLIP's image MLP/);
  assert.match(run.stderr, /location_encoder_weights\.pth is GeoCLIP's image MLP, expected GeoCLIP's location encoder/);
  assert.not.match(run.stderr, /logit_scale_weights\.pth is/);
  nothingWritten(out);
});

test('convert --geoclip-dir with a CLIP file as the logit scale is refused; the right three files convert', () => {
  ensureTinyModel();
  let dir = folder('clip-as-scale', { mlp: MLP, encoder: ENCODER, scale: `${TINY_MODEL_DIR}/clip.safetensors` });
  let out = join(work, 'heads-clip-scale.safetensors');
  let run = geolens('convert', '--geoclip-dir', dir, '--dtype', 'q8', '--out', out);
  assert.is(run.status, 1, run.stdout);
  assert.match(run.stderr, /logit_scale_weights\.pth is a full CLIP checkpoint \(vision and text towers\), expected GeoCLIP's logit scale/);
  nothingWritten(out);

  dir = folder('right', { mlp: MLP, encoder: ENCODER, scale: SCALE });
  out = join(work, 'heads-right.safetensors');
  run = geolens('convert', '--geoclip-dir', dir, '--dtype', 'q8', '--out', out, '--quiet');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /GeoCLIP heads, q8/);
  assert.ok(existsSync(out));
});

test.run();

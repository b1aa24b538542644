// Flags and helpers shared by the commands that load models.
import { InvalidArgumentError, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { join } from 'node:path';
import type { GeoLocatorOptions, LoadProgress } from '../api/geolocator.js';
import { GeolensError } from '../runtime/errors.js';

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a positive integer`);
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive number`);
  return n;
}

export interface ModelFlags {
  clip?: string;
  clipConfig?: string;
  geoclip?: string;
  geoclipDir?: string;
  gallery?: string;
  galleryEmbeddings?: string;
  f16?: boolean;
  offline?: boolean;
  cacheDir?: string;
  concepts?: string;
  conceptParams?: string;
  quiet?: boolean;
  /** false with --no-cache: the gallery embeddings are computed, neither read from nor written to the cache. */
  cache?: boolean;
}

// Flag groups: each command takes the groups that apply to it, so its --help lists only those.

/** --clip, --clip-config, --f16: the CLIP towers. */
export function clipOptions(command: Command): Command {
  return command
    .option('--clip <location>', 'CLIP weights (HF safetensors: path, URL or hf:owner/repo/file)', process.env.GEOLENS_CLIP)
    .option('--clip-config <location>', 'CLIP config.json (default: ViT-L/14 config from the hub; with --clip, inferred from the weights)', process.env.GEOLENS_CLIP_CONFIG)
    .option('--f16', 'store the large matrices (CLIP, GeoCLIP heads, gallery) as f16');
}

/** --geoclip, --geoclip-dir: GeoCLIP's heads. */
export function geoclipOptions(command: Command): Command {
  return command
    .option('--geoclip <location>', 'GeoCLIP checkpoint holding image MLP, location encoder and logit scale', process.env.GEOLENS_GEOCLIP)
    .option('--geoclip-dir <dir>', 'folder with GeoCLIP\'s image_encoder_mlp_weights.pth, location_encoder_weights.pth, logit_scale_weights.pth', process.env.GEOLENS_GEOCLIP_DIR);
}

/** --gallery, --no-cache: the GPS gallery and its embedding cache. */
export function galleryOptions(command: Command): Command {
  return command
    .option('--gallery <location>', 'GPS gallery CSV (LAT,LON); default GeoCLIP\'s 100k points', process.env.GEOLENS_GALLERY)
    .option('--gallery-embeddings <file>', 'gallery embeddings from `geolens convert --gallery-embeddings` (skips embedding the gallery)', process.env.GEOLENS_GALLERY_EMBEDDINGS)
    .option('--no-cache', 'compute the gallery embeddings; do not read or write the gallery cache');
}

/** --offline, --cache-dir: downloads. */
export function downloadFlags(command: Command): Command {
  return command
    .option('--offline', 'use cached downloads only')
    .option('--cache-dir <dir>', 'download cache (default $GEOLENS_CACHE or ~/.cache/geolens)');
}

/** --concepts, and --concept-params where fitted parameters apply. */
export function conceptOptions(command: Command, options: { params?: boolean } = {}): Command {
  command.option('--concepts <bank>', 'concept bank (safetensors with names) for explanations and re-ranking', process.env.GEOLENS_CONCEPTS);
  if (options.params !== false) command.option('--concept-params <file>', 'fitted concept parameters from `geolens fit-concepts`');
  return command;
}

export function quietOption(command: Command): Command {
  return command.option('-q, --quiet', 'print results only: no progress, no adapter line');
}

/** Every model flag: what `locate` takes. */
export function modelOptions(command: Command): Command {
  return quietOption(conceptOptions(downloadFlags(galleryOptions(geoclipOptions(clipOptions(command))))));
}

export function progressReporter(quiet: boolean): (p: LoadProgress) => void {
  if (quiet) return () => {};
  if (!process.stderr.isTTY) {
    // Logs get one line when a step starts and one when it ends, not a redrawn bar.
    const started = new Set<string>();
    return (p) => {
      const key = `${p.stage}:${p.what}`;
      if (!started.has(key)) process.stderr.write(`${p.stage}: ${p.what}\n`);
      started.add(key);
      if (p.total !== null && p.done >= p.total) process.stderr.write(`${p.stage}: ${p.what} done\n`);
    };
  }
  const bars = new cliProgress.MultiBar(
    { format: ' {stage} |{bar}| {percentage}% {what}', hideCursor: true, clearOnComplete: false, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  const open = new Map<string, cliProgress.SingleBar>();
  return (p) => {
    const key = `${p.stage}:${p.what}`;
    let bar = open.get(key);
    const total = p.total ?? Math.max(p.done, 1);
    const what = p.what.length > 60 ? '…' + p.what.slice(-59) : p.what;
    if (!bar) {
      bar = bars.create(total, 0, { stage: p.stage.padEnd(8), what });
      open.set(key, bar);
    }
    bar.setTotal(total);
    bar.update(p.done, { stage: p.stage.padEnd(8), what });
    if (p.total !== null && p.done >= p.total) bar.stop();
  };
}

export function locatorOptions(flags: ModelFlags): GeoLocatorOptions {
  const options: GeoLocatorOptions = {
    clipWeights: flags.clip,
    clipConfig: flags.clipConfig,
    gallery: flags.gallery,
    galleryEmbeddings: flags.galleryEmbeddings,
    dtype: flags.f16 ? 'f16' : undefined,
    offline: flags.offline,
    cacheDir: flags.cacheDir,
    onProgress: progressReporter(!!flags.quiet),
    quiet: !!flags.quiet,
  };
  if (flags.cache === false) options.galleryCache = false;
  if (flags.geoclip && flags.geoclipDir) throw new GeolensError('give --geoclip or --geoclip-dir, not both');
  if (flags.geoclip) options.geoclipWeights = flags.geoclip;
  if (flags.geoclipDir) {
    options.geoclipWeights = {
      imageMlp: join(flags.geoclipDir, 'image_encoder_mlp_weights.pth'),
      locationEncoder: join(flags.geoclipDir, 'location_encoder_weights.pth'),
      logitScale: join(flags.geoclipDir, 'logit_scale_weights.pth'),
    };
  }
  if (flags.concepts) options.concepts = { bank: flags.concepts, params: flags.conceptParams };
  else if (flags.conceptParams) throw new GeolensError('--concept-params needs --concepts <bank>');
  return options;
}

/** With -q, opens the shared device without its adapter line, before anything else asks for it. */
export async function quietDevice(flags: { quiet?: boolean }): Promise<void> {
  if (!flags.quiet) return;
  const { getDevice } = await import('../runtime/index.js');
  await getDevice({ log: () => {} });
}

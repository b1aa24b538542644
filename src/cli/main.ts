// The `geolens` command. Dawn keeps Node's event loop alive, so every command ends the process itself.
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { constants } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GeoLocator, loadGeoClip, type GeoLocatorOptions, type LoadProgress, type LocateResult } from '../api/geolocator.js';
import { getDevice } from '../runtime/index.js';
import { GeolensError } from '../runtime/errors.js';
import { buildConceptBankFromClip } from '../api/concepts.js';
import { conceptBankToSafetensors, loadConceptBank } from '../model/concept-bank.js';
import { conceptParamsToSafetensors } from '../model/concepts.js';
import { fitConcepts } from '../model/concept-fit.js';
import { openWeights } from '../weights/index.js';

const program = new Command();
program.name('geolens').description('Where on Earth was this photo taken, and why (GeoCLIP + geographic concepts, in WGSL).');

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a positive integer`);
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive number`);
  return n;
}

interface ModelFlags {
  clip?: string;
  clipConfig?: string;
  geoclip?: string;
  geoclipDir?: string;
  gallery?: string;
  f16?: boolean;
  offline?: boolean;
  cacheDir?: string;
  concepts?: string;
  conceptParams?: string;
  quiet?: boolean;
}

function modelOptions(command: Command): Command {
  return command
    .option('--clip <location>', 'CLIP weights (HF safetensors: path, URL or hf:owner/repo/file)', process.env.GEOLENS_CLIP)
    .option('--clip-config <location>', 'CLIP config.json (default: ViT-L/14 config from the hub, or the ViT-L/14 preset with --clip)', process.env.GEOLENS_CLIP_CONFIG)
    .option('--geoclip <location>', 'GeoCLIP checkpoint holding image MLP, location encoder and logit scale', process.env.GEOLENS_GEOCLIP)
    .option('--geoclip-dir <dir>', 'folder with GeoCLIP\'s image_encoder_mlp_weights.pth, location_encoder_weights.pth, logit_scale_weights.pth', process.env.GEOLENS_GEOCLIP_DIR)
    .option('--gallery <location>', 'GPS gallery CSV (LAT,LON); default GeoCLIP\'s 100k points', process.env.GEOLENS_GALLERY)
    .option('--f16', 'store the large matrices as f16')
    .option('--offline', 'use cached downloads only')
    .option('--cache-dir <dir>', 'download cache (default $GEOLENS_CACHE or ~/.cache/geolens)')
    .option('--concepts <bank>', 'concept bank (safetensors with names) for explanations and re-ranking', process.env.GEOLENS_CONCEPTS)
    .option('--concept-params <file>', 'fitted concept parameters from `geolens fit-concepts`')
    .option('-q, --quiet', 'no progress output');
}

function progressReporter(quiet: boolean): (p: LoadProgress) => void {
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

function locatorOptions(flags: ModelFlags): GeoLocatorOptions {
  const options: GeoLocatorOptions = {
    clipWeights: flags.clip,
    clipConfig: flags.clipConfig,
    gallery: flags.gallery,
    dtype: flags.f16 ? 'f16' : 'f32',
    offline: flags.offline,
    cacheDir: flags.cacheDir,
    onProgress: progressReporter(!!flags.quiet),
  };
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

function printResults(images: string[], results: LocateResult[]): void {
  results.forEach((result, i) => {
    console.log(`${images[i]}`);
    if (result.imageConcepts) {
      console.log(`  looks like: ${result.imageConcepts.slice(0, 5).map((c) => `${c.name} (${(c.probability * 100).toFixed(1)}%)`).join(', ')}`);
    }
    result.places.forEach((place, rank) => {
      const lat = `${Math.abs(place.lat).toFixed(4)}°${place.lat >= 0 ? 'N' : 'S'}`;
      const lon = `${Math.abs(place.lon).toFixed(4)}°${place.lon >= 0 ? 'E' : 'W'}`;
      let line = `  ${rank + 1}. ${lat} ${lon}  p=${place.probability.toFixed(4)}  (gallery #${place.galleryIndex})`;
      if (place.concepts) line += `  because: ${place.concepts.agreement.slice(0, 3).map((a) => a.name).join(', ')}`;
      console.log(line);
    });
  });
}

modelOptions(
  program
    .command('locate')
    .description('predict where each photo was taken')
    .argument('<images...>', 'JPEG, PNG or WebP files')
    .option('-k, --top-k <n>', 'places per image', positiveInteger, 5)
    .option('--json', 'print JSON')
    .option('--candidates <n>', 'first-stage candidates re-ranked by concepts', positiveInteger, 100),
).action(async (images: string[], flags: ModelFlags & { topK: number; json?: boolean; candidates: number }) => {
  // Fail on a mistyped path now, not after minutes of loading weights.
  for (const image of images) {
    try {
      await access(image, constants.R_OK);
    } catch {
      throw new GeolensError(`cannot read image '${image}'`);
    }
  }
  const locator = await GeoLocator.create(locatorOptions(flags));
  const results = await locator.locate(images, { topK: flags.topK, rerankCandidates: flags.candidates });
  if (flags.json) console.log(JSON.stringify(results.map((r, i) => ({ image: images[i], ...r })), null, 2));
  else printResults(images, results);
});

modelOptions(
  program
    .command('fit-concepts')
    .description('learn the concept projections from cached (image embedding, GPS) pairs')
    .requiredOption('--pairs <file>', 'safetensors with `images` [N,512] and either `locations` [N,512] or `gps` [N,2] (degrees)')
    .requiredOption('--out <file>', 'where to write the fitted parameters (safetensors)')
    .option('--steps <n>', 'optimizer steps', positiveInteger, 200)
    .option('--batch-size <n>', 'pairs per step', positiveInteger, 256)
    .option('--lr <x>', 'learning rate', positiveNumber)
    .option('--optimizer <name>', 'adam or sgd', 'adam')
    .option('--delta', 'also learn a residual on the concept vectors'),
).action(async (flags: ModelFlags & { pairs: string; out: string; steps: number; batchSize: number; lr?: number; optimizer: string; delta?: boolean }) => {
  if (!flags.concepts) throw new GeolensError('fit-concepts needs --concepts <bank>');
  if (flags.optimizer !== 'adam' && flags.optimizer !== 'sgd') throw new GeolensError(`--optimizer must be adam or sgd, got '${flags.optimizer}'`);
  const gpu = await getDevice();
  const bank = await loadConceptBank(flags.concepts);
  const pairs = await openWeights(flags.pairs);
  let images: Float32Array;
  let locations: Float32Array;
  try {
    images = await pairs.readF32('images');
    if (pairs.tensors.has('locations')) {
      locations = await pairs.readF32('locations');
    } else if (pairs.tensors.has('gps')) {
      const weights = locatorOptions(flags).geoclipWeights;
      if (!weights) throw new GeolensError('the pairs hold `gps`: give --geoclip or --geoclip-dir to embed them');
      const geoclip = await loadGeoClip(gpu, weights, { offline: flags.offline, cacheDir: flags.cacheDir });
      const embedded = geoclip.locationEmbeddings(await pairs.readF32('gps'));
      locations = await embedded.read();
      embedded.release();
      geoclip.release();
    } else {
      throw new GeolensError(`${flags.pairs}: needs a tensor named 'locations' [N, ${bank.dim}] or 'gps' [N, 2]`);
    }
  } finally {
    await pairs.close();
  }
  const fit = await fitConcepts(gpu, { images, locations }, {
    bank,
    steps: flags.steps,
    batchSize: flags.batchSize,
    lr: flags.lr,
    optimizer: flags.optimizer as 'adam' | 'sgd',
    train: { image: true, location: true, delta: !!flags.delta },
  });
  await writeFile(flags.out, conceptParamsToSafetensors(fit.params));
  const losses = fit.losses.total;
  console.log(`fitted ${flags.steps} steps: loss ${losses[0]!.toFixed(4)} → ${losses[losses.length - 1]!.toFixed(4)}; wrote ${flags.out}`);
});

modelOptions(
  program
    .command('build-concepts')
    .description('embed concept prompts with CLIP\'s text tower and GeoCLIP\'s image MLP into a concept bank')
    .requiredOption('--out <file>', 'where to write the bank (safetensors)')
    .option('--vocab <location>', 'CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz)', process.env.GEOLENS_CLIP_VOCAB)
    .option('--add <text...>', 'your own concept texts, appended to the curated list')
    .option('--only', 'use only the --add texts, not the curated list')
    .option('--base <bank>', 'append to this existing bank'),
).action(async (flags: ModelFlags & { out: string; vocab?: string; add?: string[]; only?: boolean; base?: string }) => {
  if (flags.only && !flags.add?.length) throw new GeolensError('--only needs at least one --add text');
  const options = locatorOptions(flags);
  const bank = await buildConceptBankFromClip({
    clipWeights: options.clipWeights,
    clipConfig: options.clipConfig as string | undefined,
    geoclipWeights: options.geoclipWeights,
    vocabulary: flags.vocab,
    prompts: flags.only ? [] : undefined,
    extraTexts: flags.add,
    baseBank: flags.base,
    dtype: options.dtype,
    offline: flags.offline,
    cacheDir: flags.cacheDir,
    onProgress: options.onProgress,
  });
  await writeFile(flags.out, conceptBankToSafetensors(bank));
  console.log(`wrote ${bank.names.length} concepts (${bank.dim}-d) to ${flags.out}`);
});

program
  .command('info')
  .description('show the WebGPU adapter geolens uses')
  .action(async () => {
    const gpu = await getDevice({ log: () => {} });
    const l = gpu.limits;
    console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? ' (software)' : ''}`);
    console.log(`features: ${Object.entries(gpu.features).filter(([, on]) => on).map(([name]) => name).join(', ') || 'none'}`);
    console.log(`limits: binding ${l.maxStorageBufferBindingSize} B, workgroup memory ${l.maxComputeWorkgroupStorageSize} B, invocations ${l.maxComputeInvocationsPerWorkgroup}`);
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
    process.exit(0);
  } catch (error) {
    const e = error as Error;
    // Our errors carry a message meant for people; anything else gets its stack.
    console.error(e instanceof GeolensError ? `geolens: ${e.name}: ${e.message}` : e.stack ?? String(e));
    process.exit(1);
  }
}

await main();

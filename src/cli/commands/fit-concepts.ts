import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadGeoClip } from '../../api/loaders.js';
import { getDevice } from '../../runtime/index.js';
import { GeolensError } from '../../runtime/errors.js';
import { loadConceptBank } from '../../model/concepts/bank.js';
import { conceptParamsToSafetensors } from '../../model/concepts/module.js';
import { fitConcepts } from '../../model/concepts/fit.js';
import { openWeights } from '../../weights/index.js';
import { conceptOptions, downloadFlags, geoclipOptions, locatorOptions, quietDevice, positiveInteger, positiveNumber, quietOption, type ModelFlags } from '../options.js';

export function registerFitConcepts(program: Command): void {
  const command = quietOption(downloadFlags(geoclipOptions(conceptOptions(
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
    { params: false },
  ))));
  command.action(async (flags: ModelFlags & { pairs: string; out: string; steps: number; batchSize: number; lr?: number; optimizer: string; delta?: boolean }) => {
    if (!flags.concepts) throw new GeolensError('fit-concepts needs --concepts <bank>');
    if (flags.optimizer !== 'adam' && flags.optimizer !== 'sgd') throw new GeolensError(`--optimizer must be adam or sgd, got '${flags.optimizer}'`);
    await quietDevice(flags);
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
}

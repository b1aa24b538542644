// `geolens convert`: smaller downloads. CLIP towers and GeoCLIP heads rewritten with f16 or block-quantized
// q8 / q4 matrices and their config in the metadata; or the gallery's embeddings written once, so a first
// run needs not embed 100k points.
import type { Command } from 'commander';
import { join } from 'node:path';
import { downloadOptions, openLocation } from '../../api/sources.js';
import { GeolensError } from '../../runtime/errors.js';
import type { WeightSource } from '../../weights/index.js';
import { convertClip, convertGeoClipSources } from '../../weights/convert.js';
import { positiveInteger, progressReporter } from '../options.js';

interface ConvertFlags {
  clip?: string;
  config?: string;
  clipConfig?: string;
  text?: boolean;
  geoclip?: string;
  geoclipDir?: string;
  galleryEmbeddings?: boolean;
  gallery?: string;
  dtype: string;
  out: string;
  offline?: boolean;
  cacheDir?: string;
  batch?: number;
  quiet?: boolean;
}

const DTYPES = ['f32', 'f16', 'q8', 'q4'];

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('write smaller weight files: CLIP towers or GeoCLIP heads as f16 / q8 / q4, or the gallery embeddings')
    .option('--clip <location>', 'CLIP weights to convert (HF safetensors: path, URL or hf:owner/repo/file)')
    .option('--config <location>', 'the CLIP config.json (default: config.json beside an hf: file, else one the file carries)')
    .option('--clip-config <location>', 'same as --config')
    .option('--text', 'keep the text tower too (concepts and text queries need it)')
    .option('--geoclip <location>', 'GeoCLIP heads to convert: one checkpoint holding image MLP, location encoder and logit scale')
    .option('--geoclip-dir <dir>', 'GeoCLIP heads to convert: a folder with the three original .pth files')
    .option('--gallery-embeddings', 'write the gallery embeddings of --geoclip/--geoclip-dir (default: the release) for --gallery')
    .option('--gallery <location>', 'GPS gallery CSV for --gallery-embeddings (default GeoCLIP\'s 100k points)')
    .option('--batch <n>', 'gallery points per GPU batch', positiveInteger)
    .requiredOption('--dtype <dtype>', `storage: ${DTYPES.join(', ')} (gallery embeddings: f16 or q8)`)
    .requiredOption('--out <file>', 'the file to write (safetensors)')
    .option('--offline', 'use cached downloads only')
    .option('--cache-dir <dir>', 'download cache (default $GEOLENS_CACHE or ~/.cache/geolens)')
    .option('-q, --quiet', 'no progress output')
    .action(async (flags: ConvertFlags) => {
      if (!DTYPES.includes(flags.dtype)) throw new GeolensError(`--dtype must be one of ${DTYPES.join(', ')}; got '${flags.dtype}'`);
      const dtype = flags.dtype as 'f32' | 'f16' | 'q8' | 'q4';
      const chosen = [flags.clip && '--clip', (flags.geoclip || flags.geoclipDir) && !flags.galleryEmbeddings && '--geoclip', flags.galleryEmbeddings && '--gallery-embeddings'].filter(Boolean);
      if (chosen.length !== 1) throw new GeolensError(`give one of --clip, --geoclip/--geoclip-dir or --gallery-embeddings (got ${chosen.length ? chosen.join(' and ') : 'none'})`);
      if (flags.geoclip && flags.geoclipDir) throw new GeolensError('give --geoclip or --geoclip-dir, not both');
      const download = downloadOptions({ offline: flags.offline, cacheDir: flags.cacheDir, onProgress: progressReporter(!!flags.quiet) });
      const geoclip = flags.geoclipDir
        ? {
            imageMlp: join(flags.geoclipDir, 'image_encoder_mlp_weights.pth'),
            locationEncoder: join(flags.geoclipDir, 'location_encoder_weights.pth'),
            logitScale: join(flags.geoclipDir, 'logit_scale_weights.pth'),
          }
        : flags.geoclip;
      let summary: string;
      const opened: WeightSource[] = [];
      const open = async (location: string) => {
        const source = await openLocation(location, download);
        opened.push(source);
        return source;
      };
      try {
      if (flags.clip) {
        summary = await convertClip({
          clip: await open(flags.clip), clipLocation: flags.clip, config: flags.config ?? flags.clipConfig, text: !!flags.text, dtype, out: flags.out, download,
        });
      } else if (flags.galleryEmbeddings) {
        if (dtype !== 'f16' && dtype !== 'q8') throw new GeolensError(`gallery embeddings are stored f16 or q8; got --dtype ${dtype}`);
        const { writeGalleryEmbeddings } = await import('../../api/gallery-embeddings-file.js');
        summary = await writeGalleryEmbeddings({ geoclipWeights: geoclip, gallery: flags.gallery, dtype, out: flags.out, batch: flags.batch, download });
      } else {
        const sources = typeof geoclip === 'string'
          ? await open(geoclip)
          : { imageMlp: await open(geoclip!.imageMlp), locationEncoder: await open(geoclip!.locationEncoder), logitScale: await open(geoclip!.logitScale) };
        summary = await convertGeoClipSources({ sources, locations: geoclip, dtype, out: flags.out });
      }
      } finally {
        for (const source of opened) await source.close();
      }
      console.log(summary);
    });
}

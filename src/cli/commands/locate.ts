import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import { GeoLocator, type LocateFailure, type LocateResult } from '../../api/geolocator.js';
import { GeolensError } from '../../runtime/errors.js';
import { ImageError } from '../../image/image.js';
import { locatorOptions, modelOptions, positiveInteger, type ModelFlags } from '../options.js';
import { checkOutputTarget } from '../output-target.js';
import { locateBatch, wantsBatch } from './locate-batch.js';
import { locateExtraOptions, refineFromFlags, runLocateText, type LocateExtraFlags } from './locate-text-refine.js';
import { locateOptionsFor, nameText, placeOptions, writeMaps, type PlaceFlags } from './locate-places.js';

function printResults(images: string[], results: (LocateResult | LocateFailure)[]): void {
  results.forEach((result, i) => {
    if ('error' in result) {
      console.error(`geolens: ${result.error}`);
      return;
    }
    console.log(`${images[i]}`);
    if (result.imageConcepts) {
      console.log(`  looks like: ${result.imageConcepts.slice(0, 5).map((c) => `${c.name} (${(c.probability * 100).toFixed(1)}%)`).join(', ')}`);
    }
    result.places.forEach((place, rank) => {
      // As the gallery gives them (the API already drops float32 noise).
      const lat = `${Math.abs(place.lat)}°${place.lat >= 0 ? 'N' : 'S'}`;
      const lon = `${Math.abs(place.lon)}°${place.lon >= 0 ? 'E' : 'W'}`;
      let line = `  ${rank + 1}. ${place.name ? `${nameText(place)}  ` : ''}${lat} ${lon}  p=${place.probability.toFixed(4)}  (gallery #${place.galleryIndex}${place.members && place.members.length > 1 ? `, ${place.members.length} rows merged` : ''})`;
      if (place.concepts) line += `  because: ${place.concepts.agreement.slice(0, 3).map((a) => a.name).join(', ')}`;
      console.log(line);
      if (place.refined) console.log(`     refined: ${place.refined.lat.toFixed(4)}, ${place.refined.lon.toFixed(4)}  p=${place.refined.probability.toFixed(4)}  (moved ${place.refined.shiftKm.toFixed(1)} km)`);
    });
  });
}

export function registerLocate(program: Command): void {
  placeOptions(modelOptions(locateExtraOptions(
    program
      .command('locate')
      .description('predict where each photo was taken')
      .argument('[images...]', 'JPEG, PNG or WebP files, folders, quoted globs, or list files (.txt, one path or URL a line)')
      .option('-k, --top-k <n>', 'places per image', positiveInteger, 5)
      .option('--json', 'print JSON')
      .option('--candidates <n>', 'first-stage candidates re-ranked by concepts', positiveInteger, 100)
      .option('--out <results.jsonl>', 'append one JSON line per image; a rerun skips images already there')
      .option('--batch-size <n>', 'images per GPU micro-batch (folders, globs, lists, --out)', positiveInteger, 8),
  ))).action(async (images: string[], flags: ModelFlags & PlaceFlags & LocateExtraFlags & { topK: number; json?: boolean; candidates: number; out?: string; batchSize: number }) => {
    const placeFlags = locateOptionsFor(flags);
    // Where results go is checked before the model loads (a missing folder is a second's error, not a lost run).
    if (flags.out) await checkOutputTarget(flags.out, '--out');
    if (flags.map) await checkOutputTarget(flags.map, '--map');
    const print = async (names: string[], results: (LocateResult | LocateFailure)[]) => {
      // The heat map is for the picture; JSON keeps it as plain numbers only when a map was asked for.
      const plain = (r: LocateResult | LocateFailure) => ('error' in r || !r.heatmap ? r : { ...r, heatmap: { ...r.heatmap, values: Array.from(r.heatmap.values) } });
      if (flags.json) console.log(JSON.stringify(results.map((r, i) => ({ image: names[i], ...plain(r) })), null, 2));
      else printResults(names, results);
      if (!flags.map) return;
      // The results come first: a map that cannot be written (a full disk) does not take them with it.
      try {
        for (const file of await writeMaps(flags.map, results.filter((r): r is LocateResult => !('error' in r)))) if (!flags.quiet) console.error(`map: ${file}`);
      } catch (error) {
        if (error instanceof GeolensError) error.message += '; the results are printed above';
        throw error;
      }
    };
    if (flags.text.length > 0) return runLocateText(images, flags, print, placeFlags);
    if (images.length === 0) throw new GeolensError('give one or more photos, or --text "a description"');
    if (await wantsBatch(images, flags)) {
      // A results file holds names and merged places; heat maps belong to single photos.
      if (flags.map) throw new GeolensError('--map draws the map of single photos; it does not go with folders, lists or --out');
      return locateBatch(images, flags, { mergeKm: placeFlags.mergeKm, names: placeFlags.names });
    }
    // Fail on a mistyped path now, not after minutes of loading weights.
    for (const image of images) {
      if (/^(https?|file):/i.test(image)) continue;
      try {
        await access(image, constants.R_OK);
      } catch {
        throw new GeolensError(`cannot read image '${image}'`);
      }
    }
    // Micro-batches no larger than the batch: create compiles only the sizes this run will use.
    const locator = await GeoLocator.create({ ...locatorOptions(flags), microBatch: Math.min(8, images.length) });
    // One unreadable image gets its error line; the others still get their places.
    const results = await locator.locate(images, { topK: flags.topK, rerankCandidates: flags.candidates, refine: refineFromFlags(flags), ...placeFlags, settle: true });
    // A run of one photo that cannot be read is that photo's error, said once.
    const only = results.length === 1 ? results[0]! : null;
    if (only && 'error' in only) throw new ImageError(only.error);
    await print(images, results);
    const failed = results.filter((r) => 'error' in r).length;
    if (failed > 0) throw new GeolensError(`${failed} of ${images.length} image${images.length === 1 ? '' : 's'} could not be located`);
  });
}

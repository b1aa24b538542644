import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import { GeoLocator, type LocateFailure, type LocateResult } from '../../api/geolocator.js';
import { GeolensError } from '../../runtime/errors.js';
import { locatorOptions, modelOptions, positiveInteger, type ModelFlags } from '../options.js';

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
      let line = `  ${rank + 1}. ${lat} ${lon}  p=${place.probability.toFixed(4)}  (gallery #${place.galleryIndex})`;
      if (place.concepts) line += `  because: ${place.concepts.agreement.slice(0, 3).map((a) => a.name).join(', ')}`;
      console.log(line);
    });
  });
}

export function registerLocate(program: Command): void {
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
    const results = await locator.locate(images, { topK: flags.topK, rerankCandidates: flags.candidates, settle: true });
    if (flags.json) console.log(JSON.stringify(results.map((r, i) => ({ image: images[i], ...r })), null, 2));
    else printResults(images, results);
    const failed = results.filter((r) => 'error' in r).length;
    if (failed > 0) throw new GeolensError(`${failed} of ${images.length} image${images.length === 1 ? '' : 's'} could not be located`);
  });
}

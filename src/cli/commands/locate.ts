import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import { GeoLocator, type LocateResult } from '../../api/geolocator.js';
import { GeolensError } from '../../runtime/errors.js';
import { locatorOptions, modelOptions, positiveInteger, type ModelFlags } from '../options.js';
import { locateOptionsFor, nameText, placeOptions, writeMaps, type PlaceFlags } from './locate-places.js';

function printResults(images: string[], results: LocateResult[]): void {
  results.forEach((result, i) => {
    console.log(`${images[i]}`);
    if (result.imageConcepts) {
      console.log(`  looks like: ${result.imageConcepts.slice(0, 5).map((c) => `${c.name} (${(c.probability * 100).toFixed(1)}%)`).join(', ')}`);
    }
    result.places.forEach((place, rank) => {
      const lat = `${Math.abs(place.lat).toFixed(4)}°${place.lat >= 0 ? 'N' : 'S'}`;
      const lon = `${Math.abs(place.lon).toFixed(4)}°${place.lon >= 0 ? 'E' : 'W'}`;
      let line = `  ${rank + 1}. ${place.name ? `${nameText(place)}  ` : ''}${lat} ${lon}  p=${place.probability.toFixed(4)}  (gallery #${place.galleryIndex}${place.members && place.members.length > 1 ? `, ${place.members.length} rows merged` : ''})`;
      if (place.concepts) line += `  because: ${place.concepts.agreement.slice(0, 3).map((a) => a.name).join(', ')}`;
      console.log(line);
    });
  });
}

export function registerLocate(program: Command): void {
  placeOptions(modelOptions(
    program
      .command('locate')
      .description('predict where each photo was taken')
      .argument('<images...>', 'JPEG, PNG or WebP files')
      .option('-k, --top-k <n>', 'places per image', positiveInteger, 5)
      .option('--json', 'print JSON')
      .option('--candidates <n>', 'first-stage candidates re-ranked by concepts', positiveInteger, 100),
  )).action(async (images: string[], flags: ModelFlags & PlaceFlags & { topK: number; json?: boolean; candidates: number }) => {
    // Fail on a mistyped path now, not after minutes of loading weights.
    for (const image of images) {
      try {
        await access(image, constants.R_OK);
      } catch {
        throw new GeolensError(`cannot read image '${image}'`);
      }
    }
    const placeFlags = locateOptionsFor(flags);
    const locator = await GeoLocator.create(locatorOptions(flags));
    const results = await locator.locate(images, { topK: flags.topK, rerankCandidates: flags.candidates, ...placeFlags });
    if (flags.map) for (const file of await writeMaps(flags.map, results)) if (!flags.quiet) console.error(`map: ${file}`);
    // The heat map is for the picture; JSON keeps it as plain numbers only when a map was asked for.
    if (flags.json) console.log(JSON.stringify(results.map((r, i) => ({ image: images[i], ...r, heatmap: r.heatmap && { ...r.heatmap, values: Array.from(r.heatmap.values) } })), null, 2));
    else printResults(images, results);
  });
}

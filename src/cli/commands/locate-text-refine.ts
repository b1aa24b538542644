// Flags `geolens locate` gains beyond photos: text queries (--text) and refinement (--refine*).
import type { Command } from 'commander';
import { GeoLocator, type LocateOptions, type LocateResult } from '../../api/geolocator.js';
import type { RefineOptions } from '../../geo/refine.js';
import { GeolensError } from '../../runtime/errors.js';
import { locatorOptions, positiveInteger, positiveNumber, type ModelFlags } from '../options.js';

export interface LocateExtraFlags {
  text: string[];
  refine?: boolean;
  refineKm?: number;
  refineSteps?: number;
  refineCandidates?: number;
  vocab?: string;
}

export function locateExtraOptions(command: Command): Command {
  return command
    .option('--text <prompt>', 'locate a description instead of photos (repeat for several)', (value: string, all: string[]) => [...all, value], [])
    .option('--vocab <file>', 'CLIP BPE vocabulary for --text (default: downloaded with CLIP)')
    .option('--refine', 'sharpen the top places off the gallery grid with the location encoder (docs/REFINEMENT.md)')
    .option('--refine-km <km>', 'half-width of the first refinement grid (default 25)', positiveNumber)
    .option('--refine-steps <n>', 'coarse-to-fine refinement rounds (default 3)', positiveInteger)
    .option('--refine-candidates <n>', 'top places refined per image (default 3)', positiveInteger);
}

/** The refine option locate() takes, from the flags (undefined without --refine). */
export function refineFromFlags(flags: Pick<LocateExtraFlags, 'refine' | 'refineKm' | 'refineSteps' | 'refineCandidates'>): RefineOptions | undefined {
  const tuned = flags.refineKm !== undefined || flags.refineSteps !== undefined || flags.refineCandidates !== undefined;
  if (!flags.refine && !tuned) return undefined;
  const options: RefineOptions = {};
  if (flags.refineKm !== undefined) options.radiusKm = flags.refineKm;
  if (flags.refineSteps !== undefined) options.steps = flags.refineSteps;
  if (flags.refineCandidates !== undefined) options.candidates = flags.refineCandidates;
  return options;
}

/** `geolens locate --text …`: prompts through CLIP's text tower into the same search; results go to `print`. */
export async function runLocateText(
  images: string[],
  flags: ModelFlags & LocateExtraFlags & { topK: number; candidates: number },
  print: (names: string[], results: LocateResult[]) => Promise<void>,
  placeOptions: Pick<LocateOptions, 'mergeKm' | 'names' | 'heatmap'> = {},
): Promise<void> {
  if (images.length > 0) throw new GeolensError('give photos or --text prompts, not both');
  const locator = await GeoLocator.create({ ...locatorOptions(flags), vocabulary: flags.vocab });
  const results = await locator.locateText(flags.text, { topK: flags.topK, rerankCandidates: flags.candidates, refine: refineFromFlags(flags), ...placeOptions });
  await print(flags.text, results);
}

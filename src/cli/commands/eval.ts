import { stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { GeoLocator } from '../../api/geolocator.js';
import { evalRowsToCsv, evaluate } from '../../eval/evaluate.js';
import { collectImages, resolveLabels } from '../../eval/labels.js';
import { formatAccuracyTable } from '../../eval/metrics.js';
import { GeolensError } from '../../runtime/errors.js';
import { locatorOptions, modelOptions, positiveInteger, positiveNumber, type ModelFlags } from '../options.js';
import { refineFromFlags, type LocateExtraFlags } from './locate-text-refine.js';

type EvalFlags = ModelFlags & Pick<LocateExtraFlags, 'refine' | 'refineKm' | 'refineSteps' | 'refineCandidates'> & {
  labels?: string;
  exif: boolean;
  json?: boolean;
  csv?: string;
  batchSize: number;
  candidates: number;
};

/** Refuses a --csv target whose folder is missing or which is a folder, before any photo is embedded. */
async function checkCsvTarget(path: string): Promise<void> {
  const folder = await stat(dirname(path)).catch(() => null);
  if (!folder?.isDirectory()) throw new GeolensError(`eval: cannot write --csv ${path}: the folder '${dirname(path)}' does not exist`);
  if ((await stat(path).catch(() => null))?.isDirectory()) throw new GeolensError(`eval: cannot write --csv ${path}: it is a folder`);
}

function progressBar(quiet: boolean): { update: (done: number, total: number) => void; stop: () => void } {
  if (quiet) return { update: () => {}, stop: () => {} };
  if (!process.stderr.isTTY) {
    return { update: (done, total) => process.stderr.write(`eval: ${done}/${total} images\n`), stop: () => {} };
  }
  const bar = new cliProgress.SingleBar({ format: ' eval     |{bar}| {value}/{total} images, {eta_formatted} left', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total) => {
      if (!started) bar.start(total, done);
      started = true;
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}

export function registerEval(program: Command): void {
  modelOptions(
    program
      .command('eval')
      .description('accuracy of GeoCLIP (plain, with concepts, refined) on your labeled photos: the papers\' table')
      .argument('<inputs...>', 'photos, folders of photos, or .txt lists of paths')
      .option('--labels <csv>', 'true positions: CSV with columns image,lat,lon (image relative to the CSV\'s folder, or a file name)')
      .option('--no-exif', 'do not take labels from the photos\' EXIF GPS')
      .option('--refine', 'add a column with refinement (docs/REFINEMENT.md)')
      .option('--refine-km <km>', 'half-width of the first refinement grid (default 25)', positiveNumber)
      .option('--refine-steps <n>', 'coarse-to-fine refinement rounds (default 3)', positiveInteger)
      .option('--refine-candidates <n>', 'top places refined per image (default 3)', positiveInteger)
      .option('--candidates <n>', 'first-stage candidates re-ranked by concepts', positiveInteger, 100)
      .option('--batch-size <n>', 'photos embedded per batch', positiveInteger, 8)
      .option('--json', 'print the summary and per-image rows as JSON')
      .option('--csv <file>', 'write per-image rows as CSV'),
  ).action(async (inputs: string[], flags: EvalFlags) => {
    if (flags.csv) await checkCsvTarget(flags.csv);
    const images = await collectImages(inputs);
    if (images.length === 0) throw new GeolensError(`eval: no photos found in ${inputs.join(', ')}`);
    const { labeled, unlabeled, unmatchedLabels } = await resolveLabels(images, { labelsFile: flags.labels, exif: flags.exif });
    // A CSV for a larger set evaluated on part of it is normal use, so unmatched rows warn rather than fail;
    // they are named because a typo in a file name would otherwise quietly shrink the set.
    if (unmatchedLabels.length > 0) {
      const shown = unmatchedLabels.slice(0, 10).map((name) => `'${name}'`).join(', ');
      process.stderr.write(`eval: warning: ${unmatchedLabels.length} row${unmatchedLabels.length === 1 ? '' : 's'} of ${flags.labels} match${unmatchedLabels.length === 1 ? 'es' : ''} no photo: ${shown}${unmatchedLabels.length > 10 ? `, and ${unmatchedLabels.length - 10} more` : ''}\n`);
    }
    if (labeled.length === 0) {
      throw new GeolensError(`eval: none of the ${images.length} photos has a label (${flags.labels ? `not in ${flags.labels}` : 'give --labels'}${flags.exif ? ' and no EXIF GPS' : ''})`);
    }
    const locator = await GeoLocator.create(locatorOptions(flags));
    const bar = progressBar(!!flags.quiet);
    const report = await evaluate(locator, labeled, {
      refine: refineFromFlags(flags) ?? false,
      rerankCandidates: flags.candidates,
      batchSize: flags.batchSize,
      onProgress: bar.update,
    });
    bar.stop();
    // A write that fails this late (a full disk) must not cost the results: they are printed first.
    const csvWritten = flags.csv ? writeFile(flags.csv, evalRowsToCsv(report)).then(() => null, (error: NodeJS.ErrnoException) => error) : Promise.resolve(null);
    const fromExif = report.rows.filter((r) => r.labelSource === 'exif').length;
    const table = [
      formatAccuracyTable(report.methods.map((m) => ({ method: m.name, summary: m.summary }))),
      `${report.rows.length} photos (${report.rows.length - fromExif} labels from ${flags.labels ?? 'the CSV'}, ${fromExif} from EXIF GPS)` +
        (unlabeled.length ? `; ${unlabeled.length} without a label skipped` : '') + (report.failed.length ? `; ${report.failed.length} unreadable` : ''),
      ...report.failed.map(({ image, error }) => `  unreadable: ${image}: ${error}`),
    ].join('\n');
    if (!flags.json) {
      console.log(table);
    } else {
      console.log(JSON.stringify({ methods: report.methods, rows: report.rows, unlabeled, unmatchedLabels, failed: report.failed }, null, 2));
      // JSON owns stdout; the table still goes to the terminal.
      if (!flags.quiet) process.stderr.write(`${table}\n`);
    }
    const csvError = await csvWritten;
    if (csvError) throw new GeolensError(`eval: could not write --csv ${flags.csv} (${csvError.code ?? csvError.message}); the results above are complete`);
  });
}

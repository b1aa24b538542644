// `geolens locate` over folders, globs and list files, or with --out: the batch path of the locate
// command (src/batch/folder.ts does the work; this file adds the flags' meaning, the progress bar and
// stopping on SIGINT / SIGTERM, stop-signals.ts).
import cliProgress from 'cli-progress';
import { GeoLocator, type LocateOptions } from '../../api/geolocator.js';
import { locateMany, type FolderProgress } from '../../batch/folder.js';
import { expandInputs, isManyImagesInput } from '../../batch/inputs.js';
import { locatorOptions, type ModelFlags } from '../options.js';
import { catchStopSignals } from '../stop-signals.js';

export interface BatchFlags extends ModelFlags {
  topK: number;
  candidates: number;
  out?: string;
  batchSize: number;
}

/** The batch path runs when results go to a file or an input names many images. */
export async function wantsBatch(images: string[], flags: { out?: string }): Promise<boolean> {
  if (flags.out) return true;
  for (const image of images) if (await isManyImagesInput(image)) return true;
  return false;
}

export async function locateBatch(inputs: string[], flags: BatchFlags, placeOptions: Pick<LocateOptions, 'mergeKm' | 'names'> = {}): Promise<void> {
  const kept = flags.out ? `; the lines in ${flags.out} are kept, run again to resume` : '';
  const stop = catchStopSignals((signal) => `stopped by ${signal}${kept}`);
  try {
    const images = await expandInputs(inputs);
    // A stop while the model loads has nothing to save.
    const locator = await stop.unlessStopped(GeoLocator.create(locatorOptions(flags)), (signal) => `stopped by ${signal} before any image was located`);
    const progress = progressBar(!!flags.quiet);
    const summary = await locateMany(locator, images, {
      out: flags.out,
      batchSize: flags.batchSize,
      locate: { topK: flags.topK, rerankCandidates: flags.candidates, ...placeOptions },
      onProgress: progress.update,
      signal: stop.signal,
    });
    progress.stop();
    if (stop.received) stop.exit(`stopped by ${stop.received} after ${summary.done} of ${summary.total} images${kept}`);
    if (!flags.quiet) {
      const skipped = summary.skipped > 0 ? `, ${summary.skipped} already in ${flags.out}` : '';
      process.stderr.write(`located ${summary.done - summary.failed} images, ${summary.failed} errors${skipped}\n`);
    }
  } finally {
    stop.release();
  }
}

function progressBar(quiet: boolean): { update: (p: FolderProgress) => void; stop: () => void } {
  if (quiet) return { update: () => {}, stop: () => {} };
  const started = performance.now();
  const rate = (p: FolderProgress) => p.done / Math.max((performance.now() - started) / 1000, 1e-3);
  const eta = (p: FolderProgress) => {
    const r = rate(p);
    if (p.done === 0 || r === 0) return '?';
    const s = Math.round((p.total - p.done) / r);
    return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
  };
  if (!process.stderr.isTTY) {
    // Logs get a line every few seconds, not a redrawn bar.
    let last = 0;
    return {
      update: (p) => {
        const now = performance.now();
        if (now - last < 5000 && p.done < p.total) return;
        last = now;
        process.stderr.write(`locate: ${p.done}/${p.total} images, ${p.failed} errors, ${rate(p).toFixed(1)} images/s, ETA ${eta(p)}\n`);
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: ' locate |{bar}| {value}/{total} images | {rate} images/s | ETA {etaText} | {failed} errors', hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let begun = false;
  return {
    update: (p) => {
      const payload = { rate: rate(p).toFixed(1), etaText: eta(p), failed: p.failed };
      if (!begun) bar.start(p.total, p.done, payload);
      else bar.update(p.done, payload);
      begun = true;
    },
    stop: () => bar.stop(),
  };
}

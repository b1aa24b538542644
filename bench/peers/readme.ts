// Rewrites the performance table in README.md from the peer benchmark's results, so the README shows the
// figures RESULTS.md shows, from the same run and never copied by hand. The table lives between two
// marker comments; everything else in README.md is left as it is.
import { readFileSync, writeFileSync } from 'node:fs';
import { performanceTable, type PeerResults } from './report.js';

export const README_BEGIN = '<!-- performance table: written by `npm run bench:peers` (bench/peers/readme.ts) from bench/results/peers.json; do not edit by hand -->';
export const README_END = '<!-- end of performance table -->';

/** The README text with its marked block replaced by the table for `results`. */
export function withPerformanceTable(readme: string, results: PeerResults): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no performance table block (${README_BEGIN} … ${README_END})`);
  const load = results.loadAverage?.length ? `, load average ${results.loadAverage.map((l) => l.toFixed(1)).join(' → ')}` : '';
  const block = [
    README_BEGIN,
    `Measured ${results.date.slice(0, 10)} on ${results.machine.cpus} × ${results.machine.cpuModel}, no GPU${load}; in parentheses each figure's fraction of its device's ceiling (FMA for compute, copy for search). Details and the peers: bench/RESULTS.md.`,
    '',
    ...performanceTable(results),
    README_END,
  ].join('\n');
  return readme.slice(0, begin) + block + readme.slice(end + README_END.length);
}

export function updateReadme(results: PeerResults, path: string): void {
  writeFileSync(path, withPerformanceTable(readFileSync(path, 'utf8'), results));
}

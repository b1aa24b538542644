// `geolens cache list|clear`: what the download and gallery caches hold, and emptying them.
import { readdir, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { defaultCacheDir } from '../../weights/index.js';

export interface CacheEntry {
  /** Path relative to the cache folder, e.g. `huggingface.co/openai/…/model.safetensors` or `galleries/<key>.bin`. */
  path: string;
  bytes: number;
}

/** Every file under the cache folder (downloads, gallery embeddings, partial downloads), sorted by path. */
export async function listCacheFiles(dir?: string): Promise<CacheEntry[]> {
  const root = dir ?? (await defaultCacheDir());
  const out: CacheEntry[] = [];
  const walk = async (folder: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names) {
      const path = join(folder, name);
      const info = await stat(path);
      if (info.isDirectory()) await walk(path);
      else out.push({ path: relative(root, path), bytes: info.size });
    }
  };
  await walk(root);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Removes everything in the cache folder (the folder itself stays); returns what was removed. */
export async function clearCacheFiles(dir?: string): Promise<CacheEntry[]> {
  const root = dir ?? (await defaultCacheDir());
  const removed = await listCacheFiles(root);
  let names: string[] = [];
  try {
    names = await readdir(root);
  } catch {
    return removed;
  }
  for (const name of names) await rm(join(root, name), { recursive: true, force: true });
  return removed;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function registerCache(program: Command): void {
  const cache = program.command('cache').description('list or clear downloaded weights and cached gallery embeddings');
  cache
    .command('list')
    .description('list the cached files and their sizes')
    .option('--cache-dir <dir>', 'cache folder (default $GEOLENS_CACHE or ~/.cache/geolens)')
    .option('--json', 'print JSON')
    .action(async (flags: { cacheDir?: string; json?: boolean }) => {
      const root = flags.cacheDir ?? (await defaultCacheDir());
      const entries = await listCacheFiles(root);
      const total = entries.reduce((sum, e) => sum + e.bytes, 0);
      if (flags.json) {
        console.log(JSON.stringify({ dir: root, files: entries, bytes: total }, null, 2));
        return;
      }
      for (const entry of entries) console.log(`${formatBytes(entry.bytes).padStart(10)}  ${entry.path}`);
      console.log(`${entries.length} file${entries.length === 1 ? '' : 's'}, ${formatBytes(total)} in ${root}`);
    });
  cache
    .command('clear')
    .description('delete every cached file')
    .option('--cache-dir <dir>', 'cache folder (default $GEOLENS_CACHE or ~/.cache/geolens)')
    .action(async (flags: { cacheDir?: string }) => {
      const root = flags.cacheDir ?? (await defaultCacheDir());
      const removed = await clearCacheFiles(root);
      console.log(`removed ${removed.length} file${removed.length === 1 ? '' : 's'} (${formatBytes(removed.reduce((sum, e) => sum + e.bytes, 0))}) from ${root}`);
    });
}

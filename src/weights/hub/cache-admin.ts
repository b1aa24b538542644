import { isNode } from '../../runtime/env.js';
import { WeightsError } from '../../io/errors.js';
import { defaultCacheDir } from './download.js';

/**
 * What geolens keeps between runs, listed and cleared. Node: every file under the download cache folder
 * ($GEOLENS_CACHE, else ~/.cache/geolens, or `cacheDir`): downloads by host and path, unfinished
 * `.partial` downloads, and `galleries/<key>.bin` gallery embeddings. Browsers: the Cache API caches
 * `geolens` (downloads; `cacheName` overrides) and `geolens-galleries` (gallery embeddings).
 */

/** The Cache API cache that holds gallery embeddings in browsers (see browserGalleryCache). */
export const GALLERY_CACHE_NAME = 'geolens-galleries';
/** The folder under the Node cache that holds gallery embeddings (see fileGalleryCache). */
export const GALLERY_CACHE_FOLDER = 'galleries';

export interface CacheOptions {
  /** Node cache folder; default $GEOLENS_CACHE, else ~/.cache/geolens. */
  cacheDir?: string;
  /** Browser Cache API cache of downloads; default 'geolens'. */
  cacheName?: string;
}

export interface CacheEntry {
  kind: 'download' | 'partial' | 'gallery';
  /** Node: the file's path. Browsers: the cached URL. */
  location: string;
  bytes: number;
}

export interface ClearedCache {
  /** Entries removed. */
  entries: number;
  bytes: number;
  /** Node: the folder cleared. Browsers: the Cache API caches deleted. */
  where: string[];
}

/** Every cached entry, sorted by location. */
export async function listCache(options: CacheOptions = {}): Promise<CacheEntry[]> {
  return isNode() ? listFolder(await cacheFolder(options)) : listBrowserCaches(options);
}

/**
 * Removes everything `listCache` lists (and then the folders left empty in Node). Nothing else under the
 * cache folder is touched, so a cache folder pointed at a shared place loses only geolens' own layout.
 */
export async function clearCache(options: CacheOptions = {}): Promise<ClearedCache> {
  const entries = await listCache(options);
  const bytes = entries.reduce((sum, entry) => sum + entry.bytes, 0);
  if (!isNode()) {
    const names = browserCacheNames(options);
    for (const name of names) await cacheStorage().delete(name);
    return { entries: entries.length, bytes, where: names };
  }
  const folder = await cacheFolder(options);
  const fs = await import('node:fs/promises');
  for (const entry of entries) await fs.rm(entry.location, { force: true });
  await removeEmptyFolders(folder, false);
  return { entries: entries.length, bytes, where: [folder] };
}

async function cacheFolder(options: CacheOptions): Promise<string> {
  const { resolve, parse } = await import('node:path');
  const { homedir } = await import('node:os');
  const folder = resolve(options.cacheDir ?? (await defaultCacheDir()));
  if (folder === parse(folder).root || folder === resolve(homedir())) {
    throw new WeightsError(`refusing to use '${folder}' as the geolens cache: it is a filesystem root or the home folder; set GEOLENS_CACHE to a folder of its own`);
  }
  return folder;
}

async function listFolder(folder: string): Promise<CacheEntry[]> {
  const fs = await import('node:fs/promises');
  const { join, relative, sep } = await import('node:path');
  const entries: CacheEntry[] = [];
  const walk = async (dir: string): Promise<void> => {
    let names: import('node:fs').Dirent[];
    try {
      names = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new WeightsError(`cannot read the cache folder ${dir}: ${(error as Error).message}`);
    }
    for (const name of names) {
      const path = join(dir, name.name);
      if (name.isDirectory()) await walk(path);
      else if (name.isFile()) entries.push({ kind: kindOf(relative(folder, path).split(sep)), location: path, bytes: (await fs.stat(path)).size });
    }
  };
  await walk(folder);
  return entries.sort((a, b) => (a.location < b.location ? -1 : a.location > b.location ? 1 : 0));
}

function kindOf(parts: string[]): CacheEntry['kind'] {
  const name = parts[parts.length - 1]!;
  if (/\.partial(\.etag)?$/.test(name) || /\.tmp$/.test(name)) return 'partial';
  return parts.length === 2 && parts[0] === GALLERY_CACHE_FOLDER && name.endsWith('.bin') ? 'gallery' : 'download';
}

async function removeEmptyFolders(dir: string, removeSelf: boolean): Promise<void> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  const names = await fs.readdir(dir, { withFileTypes: true }).catch(() => null);
  if (!names) return;
  for (const name of names) if (name.isDirectory()) await removeEmptyFolders(join(dir, name.name), true);
  if (removeSelf) await fs.rmdir(dir).catch(() => {});
}

function cacheStorage(): CacheStorage {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) throw new WeightsError('this environment has neither Node nor the Cache API, so geolens keeps no cache here');
  return storage;
}

function browserCacheNames(options: CacheOptions): string[] {
  return [options.cacheName ?? 'geolens', GALLERY_CACHE_NAME];
}

async function listBrowserCaches(options: CacheOptions): Promise<CacheEntry[]> {
  const storage = cacheStorage();
  const entries: CacheEntry[] = [];
  for (const name of browserCacheNames(options)) {
    // has() first: open() would create an empty cache just to list it.
    if (!(await storage.has(name))) continue;
    const cache = await storage.open(name);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      // A cached response's blob is a handle to stored bytes: its size is known without reading them.
      const bytes = response ? (await response.blob()).size : 0;
      entries.push({ kind: name === GALLERY_CACHE_NAME ? 'gallery' : 'download', location: request.url, bytes });
    }
  }
  return entries.sort((a, b) => (a.location < b.location ? -1 : a.location > b.location ? 1 : 0));
}

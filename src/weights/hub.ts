import { isNode, parseContentRange, strongEtag, type FetchLike } from './bytes.js';
import { WeightsError } from './errors.js';
import { resolveAgainstPage } from './page-url.js';

/**
 * Downloads into a local cache: `hf:owner/repo/path` (Hugging Face, `hf:owner/repo@revision/path` for
 * another revision) or a plain http(s) URL. Node keeps files under ~/.cache/geolens (GEOLENS_CACHE or
 * `cacheDir` override) and resumes an interrupted download from the partial file with a Range request;
 * browsers keep them in the Cache API. Size and sha256 are checked before a file enters the cache, and
 * offline mode answers from the cache alone.
 */

export interface DownloadProgress {
  url: string;
  loaded: number;
  /** Null when the server does not say. */
  total: number | null;
}

export interface DownloadOptions {
  /** Node cache folder; default $GEOLENS_CACHE, else ~/.cache/geolens. */
  cacheDir?: string;
  /** Browser Cache API cache name; default 'geolens'. */
  cacheName?: string;
  onProgress?: (progress: DownloadProgress) => void;
  /** Expected sha256 (hex) of the whole file. */
  sha256?: string;
  /** Expected size in bytes. */
  size?: number;
  /** Use the cache only; a file not cached is an error. */
  offline?: boolean;
  fetch?: FetchLike;
  headers?: Record<string, string>;
  /** Hugging Face endpoint; default $HF_ENDPOINT or https://huggingface.co. */
  hubUrl?: string;
  /** Attempts after a dropped connection, each resuming where the last stopped (default 5). */
  retries?: number;
}

/** `hf:owner/repo[@revision]/path/in/repo` → its resolve URL; http(s) URLs pass through. */
export function resolveUrl(location: string, hubUrl?: string): string {
  if (/^https?:\/\//i.test(location)) return location;
  const match = /^hf:([^/@\s]+)\/([^/@\s]+)(?:@([^/\s]+))?\/(.+)$/.exec(location);
  if (!match) throw new WeightsError(`'${location}' is neither an http(s) URL nor hf:owner/repo/file`);
  const [, owner, repo, revision, file] = match;
  if (file!.split('/').some((part) => part === '..' || part === '')) throw new WeightsError(`'${location}': bad file path in repo`);
  const env = isNode() ? process.env.HF_ENDPOINT : undefined;
  const base = (hubUrl ?? env ?? 'https://huggingface.co').replace(/\/+$/, '');
  return `${base}/${owner}/${repo}/resolve/${encodeURIComponent(revision ?? 'main')}/${file!.split('/').map(encodeURIComponent).join('/')}`;
}

export async function defaultCacheDir(): Promise<string> {
  if (process.env.GEOLENS_CACHE) return process.env.GEOLENS_CACHE;
  const [{ homedir }, { join }] = await Promise.all([import('node:os'), import('node:path')]);
  return join(homedir(), '.cache', 'geolens');
}

/** Where a URL lives in the Node cache: host and path, each segment made file-safe. */
export async function cachePath(url: string, cacheDir?: string): Promise<string> {
  const { join } = await import('node:path');
  const parsed = new URL(url);
  const safe = (part: string): string => decodeURIComponent(part).replace(/[^A-Za-z0-9._@=-]/g, '_').replace(/^\.+/, '_') || '_';
  const parts = [parsed.host, ...parsed.pathname.split('/').filter(Boolean)].map(safe);
  if (parsed.search) parts[parts.length - 1] += `_${await sha256Hex(new TextEncoder().encode(parsed.search))}`.slice(0, 17);
  return join(cacheDir ?? (await defaultCacheDir()), ...parts);
}

/**
 * Makes sure the file is cached and returns it: a local path in Node, a Blob (backed by the Cache API)
 * in browsers.
 */
export async function downloadWeights(location: string, options: DownloadOptions = {}): Promise<string | Blob> {
  const url = resolveUrl(location, options.hubUrl);
  return isNode() ? downloadNode(url, options) : downloadBrowser(url, options);
}

async function downloadNode(url: string, options: DownloadOptions): Promise<string> {
  const fs = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  const target = await cachePath(url, options.cacheDir);
  const partial = `${target}.partial`;
  if (await exists(target)) {
    const problem = await verifyFile(target, options);
    if (!problem) return target;
    if (options.offline) throw new WeightsError(`offline: cached ${target} for ${url} fails its check (${problem})`);
    await fs.rm(target, { force: true });
  }
  if (options.offline) throw new WeightsError(`offline: ${url} is not in the cache (looked for ${target})`);
  await fs.mkdir(dirname(target), { recursive: true });

  const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
  const attempts = 1 + (options.retries ?? 5);
  let lastError: unknown = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const start = (await exists(partial)) ? (await fs.stat(partial)).size : 0;
    const headers: Record<string, string> = { ...authHeaders(url), ...options.headers };
    if (start > 0) {
      headers.Range = `bytes=${start}-`;
      // If the file changed since the partial download began, the server answers 200 with all of it.
      const etag = await fs.readFile(`${partial}.etag`, 'utf8').catch(() => null);
      if (etag) headers['If-Range'] = etag;
    }
    let response: Response;
    try {
      response = await fetcher(url, { headers });
    } catch (error) {
      lastError = error;
      continue;
    }
    if (response.status === 416 && start > 0) {
      // Nothing left to fetch if the partial file already holds the whole thing.
      const total = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1];
      await response.body?.cancel();
      if (total !== undefined && Number(total) === start) return finish(url, partial, target, options);
      await fs.rm(partial, { force: true });
      continue;
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel();
      throw new WeightsError(`download of ${url} failed: HTTP ${response.status} ${response.statusText}`);
    }
    let offset = start;
    let total: number | null = null;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get('content-range'));
      if (!range || range.start !== start) {
        await response.body?.cancel();
        throw new WeightsError(`download of ${url}: asked to resume at ${start}, server sent Content-Range '${response.headers.get('content-range')}'`);
      }
      total = range.total;
    } else {
      // 200: the server sends everything again; the partial file is void.
      offset = 0;
      const length = response.headers.get('content-length');
      total = length === null ? null : Number(length);
    }
    if (options.size !== undefined && total !== null && total !== options.size) {
      await response.body?.cancel();
      await fs.rm(partial, { force: true });
      throw new WeightsError(`download of ${url}: server reports ${total} bytes, expected ${options.size}`);
    }
    const etag = strongEtag(response.headers.get('etag'));
    if (offset === 0) await (etag ? fs.writeFile(`${partial}.etag`, etag) : fs.rm(`${partial}.etag`, { force: true }));
    const handle = await fs.open(partial, offset === 0 ? 'w' : 'a');
    try {
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await handle.write(value);
        offset += value.byteLength;
        options.onProgress?.({ url, loaded: offset, total });
      }
    } catch (error) {
      lastError = error;
      continue;
    } finally {
      await handle.close();
    }
    if (total !== null && offset < total) {
      lastError = new Error(`connection closed after ${offset} of ${total} bytes`);
      continue;
    }
    return finish(url, partial, target, options);
  }
  throw new WeightsError(`download of ${url} failed after ${attempts} attempts: ${(lastError as Error | null)?.message ?? 'no response'} (the partial file ${partial} is kept; the next call resumes it)`);
}

/** HF_TOKEN (Node) authorizes gated Hugging Face repos; fetch drops it on the redirect to the CDN. */
function authHeaders(url: string): Record<string, string> {
  const token = isNode() ? process.env.HF_TOKEN : undefined;
  return token && /^https:\/\/huggingface\.co\//.test(url) ? { Authorization: `Bearer ${token}` } : {};
}

async function finish(url: string, partial: string, target: string, options: DownloadOptions): Promise<string> {
  const fs = await import('node:fs/promises');
  const problem = await verifyFile(partial, options);
  if (problem) {
    await fs.rm(partial, { force: true });
    await fs.rm(`${partial}.etag`, { force: true });
    throw new WeightsError(`download of ${url} refused: ${problem}`);
  }
  await fs.rename(partial, target);
  await fs.rm(`${partial}.etag`, { force: true });
  return target;
}

/** Null when the file passes the size and sha256 checks asked for, else what is wrong. */
async function verifyFile(path: string, options: DownloadOptions): Promise<string | null> {
  const fs = await import('node:fs/promises');
  const size = (await fs.stat(path)).size;
  if (options.size !== undefined && size !== options.size) return `size ${size} bytes, expected ${options.size}`;
  if (options.sha256 === undefined) return null;
  const { createHash } = await import('node:crypto');
  const { createReadStream } = await import('node:fs');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) hash.update(chunk as Uint8Array);
  const actual = hash.digest('hex');
  return actual === options.sha256.toLowerCase() ? null : `sha256 ${actual}, expected ${options.sha256.toLowerCase()}`;
}

async function exists(path: string): Promise<boolean> {
  const fs = await import('node:fs/promises');
  try {
    await fs.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function downloadBrowser(url: string, options: DownloadOptions): Promise<Blob> {
  const cacheStorage = (globalThis as { caches?: CacheStorage }).caches;
  if (!cacheStorage) throw new WeightsError('this environment has neither Node nor the Cache API; open the URL directly (Range reads) instead');
  const cache = await cacheStorage.open(options.cacheName ?? 'geolens');
  const cached = await cache.match(url);
  if (cached) {
    const blob = await cached.blob();
    const problem = await verifyBlob(blob, options);
    if (!problem) return blob;
    if (options.offline) throw new WeightsError(`offline: cached ${url} fails its check (${problem})`);
    await cache.delete(url);
  }
  if (options.offline) throw new WeightsError(`offline: ${url} is not in the cache '${options.cacheName ?? 'geolens'}'`);
  const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
  const parts: Blob[] = [];
  let loaded = 0;
  let total: number | null = null;
  let lastError: unknown = null;
  const attempts = 1 + (options.retries ?? 5);
  for (let attempt = 0; attempt < attempts; attempt++) {
    const headers: Record<string, string> = { ...options.headers };
    if (loaded > 0) headers.Range = `bytes=${loaded}-`;
    try {
      const response = await fetcher(url, { headers });
      if (response.status === 200 && loaded > 0) {
        parts.length = 0;
        loaded = 0;
      } else if (response.status !== 200 && response.status !== 206) {
        await response.body?.cancel();
        throw new WeightsError(`download of ${url} failed: HTTP ${response.status} ${response.statusText}`);
      }
      total ??= parseContentRange(response.headers.get('content-range'))?.total ?? (Number(response.headers.get('content-length')) || null);
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(new Blob([value]));
        loaded += value.byteLength;
        options.onProgress?.({ url, loaded, total });
      }
      if (total === null || loaded >= total) break;
    } catch (error) {
      if (error instanceof WeightsError) throw error;
      lastError = error;
    }
    if (attempt === attempts - 1) throw new WeightsError(`download of ${url} failed after ${attempts} attempts: ${(lastError as Error | null)?.message ?? 'connection closed early'}`);
  }
  const blob = new Blob(parts);
  const problem = await verifyBlob(blob, options);
  if (problem) throw new WeightsError(`download of ${url} refused: ${problem}`);
  await cache.put(url, new Response(blob, { headers: { 'Content-Length': String(blob.size) } }));
  return blob;
}

async function verifyBlob(blob: Blob, options: DownloadOptions): Promise<string | null> {
  if (options.size !== undefined && blob.size !== options.size) return `size ${blob.size} bytes, expected ${options.size}`;
  if (options.sha256 === undefined) return null;
  // SubtleCrypto has no streaming digest; checking a hash costs one pass over the file in memory.
  const actual = await sha256Hex(new Uint8Array(await blob.arrayBuffer()));
  return actual === options.sha256.toLowerCase() ? null : `sha256 ${actual}, expected ${options.sha256.toLowerCase()}`;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Reads a small JSON file (config.json) from a path, URL or hf: location, through the cache for hf:. */
export async function loadJson(location: string | URL, options: DownloadOptions & { cache?: boolean } = {}): Promise<unknown> {
  const text = resolveAgainstPage(location instanceof URL ? location.href : location);
  let body: string;
  if (text.startsWith('hf:') || (options.cache && /^https?:/i.test(text))) {
    const file = await downloadWeights(text, options);
    body = typeof file === 'string' ? await (await import('node:fs/promises')).readFile(file, 'utf8') : await file.text();
  } else if (/^https?:/i.test(text)) {
    const response = await (options.fetch ?? fetch)(text, { headers: options.headers });
    if (!response.ok) throw new WeightsError(`cannot fetch ${text}: HTTP ${response.status}`);
    body = await response.text();
  } else {
    if (!isNode()) throw new WeightsError(`cannot read the path '${text}' outside Node`);
    body = await (await import('node:fs/promises')).readFile(text, 'utf8');
  }
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new WeightsError(`${text} is not valid JSON (${(error as Error).message})`);
  }
}

import { parseContentRange, strongEtag, type FetchLike } from '../../io/bytes.js';
import { isNode } from '../../runtime/env.js';
import { defaultCacheDir } from '../../io/cache-dir.js';
import { sha256Hex } from '../../io/sha256.js';
import { WeightsError } from '../../io/errors.js';
import { resolveAgainstPage } from '../../io/page-url.js';
import { activePartials, adoptPartial, newPartialName, removeOrphans } from './cache-files.js';
import { digestFromHeaders, kindFromUrl, sniffKind, type ExpectedKind, type ServerDigest } from './verify.js';

/**
 * Downloads into a local cache: `hf:owner/repo/path` (Hugging Face, `hf:owner/repo@revision/path` for
 * another revision) or a plain http(s) URL. Node keeps files under ~/.cache/geolens (GEOLENS_CACHE or
 * `cacheDir` override) and resumes an interrupted download from the partial file with a Range request;
 * browsers keep them in the Cache API. Before a file enters the cache it must match the size and sha256
 * asked for, the length the server declared, the digest the server gives (Hugging Face's X-Linked-Etag
 * / ETag) and a format sniff of the expected kind (verify.ts); a file that fails is deleted and the
 * error says why. Each writer has its own partial file, renamed into place (cache-files.ts), so
 * processes sharing a cache never mix their bytes. Offline mode answers from the cache alone.
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
  /**
   * What the file must look like to be cached (an HTML page, a cut-short zip or safetensors, invalid JSON
   * are refused). Default: from the URL's extension (.safetensors, .pth/.pt, .json, .csv, .gz), else `any`.
   */
  expect?: ExpectedKind;
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

/** Where a URL lives in the Node cache: host and path, each segment made file-safe. */
export async function cachePath(url: string, cacheDir?: string): Promise<string> {
  const { join } = await import('node:path');
  const parsed = new URL(url);
  const safe = (part: string): string => decodeURIComponent(part).replace(/[^A-Za-z0-9._@=-]/g, '_').replace(/^\.+/, '_') || '_';
  const parts = [parsed.host, ...parsed.pathname.split('/').filter(Boolean)].map(safe);
  if (parsed.search) parts[parts.length - 1] += `_${await sha256Hex([new TextEncoder().encode(parsed.search)])}`.slice(0, 17);
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
  const target = await cachePath(url, options.cacheDir);
  // Two calls in one process for one file share a download; other processes are kept apart by partials.
  const earlier = inFlight.get(target);
  if (earlier) await earlier.catch(() => {});
  const run = downloadNodeOnce(url, target, options);
  inFlight.set(target, run);
  try {
    return await run;
  } finally {
    if (inFlight.get(target) === run) inFlight.delete(target);
  }
}

const inFlight = new Map<string, Promise<string>>();

async function downloadNodeOnce(url: string, target: string, options: DownloadOptions): Promise<string> {
  const fs = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  const kind = options.expect ?? kindFromUrl(url);
  if (await exists(target)) {
    // A cached file was checked when it entered; checking again catches one damaged or planted since.
    const problem = await verifyFile(target, options, { kind, lengthDeclared: true, declaredSize: null, digest: null });
    if (!problem) return target;
    if (options.offline) throw new WeightsError(`offline: cached ${target} for ${url} fails its check (${problem})`);
    await fs.rm(target, { force: true });
  }
  if (options.offline) throw new WeightsError(`offline: ${url} is not in the cache (looked for ${target})`);
  await fs.mkdir(dirname(target), { recursive: true });
  await removeOrphans(dirname(target)).catch(() => {});

  const partial = (await adoptPartial(target)) ?? newPartialName(target);
  activePartials.add(partial);
  try {
    return await fetchInto(url, target, partial, kind, options);
  } finally {
    activePartials.delete(partial);
  }
}

async function fetchInto(url: string, target: string, partial: string, kind: ExpectedKind, options: DownloadOptions): Promise<string> {
  const fs = await import('node:fs/promises');
  const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
  const attempts = 1 + (options.retries ?? 5);
  let lastError: unknown = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const start = (await exists(partial)) ? (await fs.stat(partial)).size : 0;
    // identity: a compressed body's Content-Length would not be the file's length.
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity', ...authHeaders(url), ...options.headers };
    if (start > 0) {
      headers.Range = `bytes=${start}-`;
      // If the file changed since the partial download began, the server answers 200 with all of it.
      const etag = await fs.readFile(`${partial}.etag`, 'utf8').catch(() => null);
      if (etag) headers['If-Range'] = etag;
    }
    // Opened before the request: once the body flows, nothing may wait on the disk before reading it,
    // since a stream that errors drops the chunks it had queued (a cut download would keep nothing).
    const handle = await fs.open(partial, start === 0 ? 'w' : 'r+');
    let outcome: { done: true; expected: Expectations } | { done: false; error: unknown };
    try {
      outcome = await receive(url, partial, handle, start, headers, fetcher, kind, options);
    } catch (error) {
      await handle.close();
      // An empty partial (nothing received, or voided) is no use to a later resume.
      if ((await fs.stat(partial).catch(() => null))?.size === 0) await discard(partial);
      throw error;
    }
    await handle.close();
    if (outcome.done) return finish(url, partial, target, options, outcome.expected);
    lastError = outcome.error;
  }
  throw new WeightsError(`download of ${url} failed after ${attempts} attempts: ${(lastError as Error | null)?.message ?? 'no response'} (the partial file ${partial} is kept; the next call resumes it)`);
}

/**
 * One request into the open partial file. Resolves with what the file must match when the body arrived
 * whole, or with the error to retry after (a dropped connection); throws when retrying cannot help.
 */
async function receive(
  url: string,
  partial: string,
  handle: import('node:fs/promises').FileHandle,
  start: number,
  headers: Record<string, string>,
  fetcher: FetchLike,
  kind: ExpectedKind,
  options: DownloadOptions,
): Promise<{ done: true; expected: Expectations } | { done: false; error: unknown }> {
  const fs = await import('node:fs/promises');
  let answer: Awaited<ReturnType<typeof fetchFollowing>>;
  try {
    answer = await fetchFollowing(fetcher, url, headers);
  } catch (error) {
    if (error instanceof WeightsError) throw error;
    return { done: false, error };
  }
  const { response, linkedEtag, linkedSize } = answer;
  const digest = digestFromHeaders(linkedEtag, response.headers.get('etag'), /\/resolve\//.test(new URL(url).pathname));
  if (response.status === 416 && start > 0) {
    // Nothing left to fetch if the partial file already holds the whole thing.
    const total = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1];
    await response.body?.cancel();
    if (total !== undefined && Number(total) === start) return { done: true, expected: { kind, lengthDeclared: true, declaredSize: start, digest } };
    await handle.truncate(0);
    return { done: false, error: new Error(`the server refused to resume at ${start} (HTTP 416)`) };
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
    const encoded = (response.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
    const length = encoded ? null : response.headers.get('content-length');
    total = length !== null && /^\d+$/.test(length.trim()) ? Number(length) : null;
  }
  if (linkedSize !== null && /^\d+$/.test(linkedSize.trim())) {
    const linked = Number(linkedSize);
    if (total !== null && total !== linked) {
      await response.body?.cancel();
      throw new WeightsError(`download of ${url}: the server declares ${total} bytes in one header and ${linked} in X-Linked-Size`);
    }
    total = linked;
  }
  if (options.size !== undefined && total !== null && total !== options.size) {
    await response.body?.cancel();
    await handle.truncate(0);
    throw new WeightsError(`download of ${url}: server reports ${total} bytes, expected ${options.size}`);
  }
  const etag = strongEtag(response.headers.get('etag'));
  // Not awaited before reading (see above); settled before this attempt ends.
  const sidecar = offset === 0 ? (etag ? fs.writeFile(`${partial}.etag`, etag) : fs.rm(`${partial}.etag`, { force: true })).catch(() => {}) : Promise.resolve();
  // Writes run behind the reads, at most WRITE_BEHIND_BYTES, so the stream is drained as fast as it comes.
  let writing: Promise<unknown> = Promise.resolve();
  let unwritten = 0;
  let written = offset;
  let writeError: Error | null = null;
  let overrun = false;
  let streamError: unknown = null;
  try {
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total !== null && offset + value.byteLength > total) {
        overrun = true;
        await reader.cancel();
        break;
      }
      const position = offset;
      unwritten += value.byteLength;
      writing = writing.then(() => handle.write(value, 0, value.byteLength, position)).then(() => {
        unwritten -= value.byteLength;
        written += value.byteLength;
        options.onProgress?.({ url, loaded: written, total });
      });
      offset += value.byteLength;
      if (unwritten > WRITE_BEHIND_BYTES) await writing.catch(() => {});
    }
  } catch (error) {
    streamError = error;
  }
  await writing.catch((error: Error) => (writeError = error));
  await sidecar;
  if (writeError) throw new WeightsError(`download of ${url}: cannot write ${partial}: ${(writeError as Error).message}`);
  // A 200 after a partial start rewrote the file from 0; whatever lay beyond is void.
  await handle.truncate(offset);
  if (overrun) {
    await handle.truncate(0);
    throw new WeightsError(`download of ${url} refused: the server sent more than the ${total} bytes it declared`);
  }
  if (streamError !== null) return { done: false, error: new Error(`connection closed after ${offset}${total === null ? '' : ` of ${total}`} bytes (${(streamError as Error).message})`) };
  if (total !== null && offset < total) return { done: false, error: new Error(`connection closed after ${offset} of ${total} bytes`) };
  const lengthDeclared = total !== null || options.size !== undefined || options.sha256 !== undefined || digest !== null;
  return { done: true, expected: { kind, lengthDeclared, declaredSize: total, digest } };
}

/**
 * fetch that follows redirects itself, so the headers of each hop can be read: the hub puts the file's
 * sha256 and size (X-Linked-Etag, X-Linked-Size) on the redirect to its CDN, not on the CDN's answer.
 * Credentials are not sent to another origin.
 */
async function fetchFollowing(fetcher: FetchLike, url: string, headers: Record<string, string>): Promise<{ response: Response; linkedEtag: string | null; linkedSize: string | null }> {
  let linkedEtag: string | null = null;
  let linkedSize: string | null = null;
  let current = url;
  let sent = headers;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await fetcher(current, { headers: sent, redirect: 'manual' });
    linkedEtag ??= response.headers.get('x-linked-etag');
    linkedSize ??= response.headers.get('x-linked-size');
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || location === null) return { response, linkedEtag, linkedSize };
    await response.body?.cancel();
    const next = new URL(location, current);
    if (next.origin !== new URL(current).origin) sent = Object.fromEntries(Object.entries(sent).filter(([key]) => key.toLowerCase() !== 'authorization'));
    current = next.href;
  }
  throw new WeightsError(`download of ${url} failed: more than ${MAX_REDIRECTS} redirects`);
}

const MAX_REDIRECTS = 10;
const WRITE_BEHIND_BYTES = 16 << 20;

/** HF_TOKEN (Node) authorizes gated Hugging Face repos; fetch drops it on the redirect to the CDN. */
function authHeaders(url: string): Record<string, string> {
  const token = isNode() ? process.env.HF_TOKEN : undefined;
  return token && /^https:\/\/huggingface\.co\//.test(url) ? { Authorization: `Bearer ${token}` } : {};
}

interface Expectations {
  kind: ExpectedKind;
  /** Whether a server header or the caller vouched for the length (else a cut-short text cannot be told). */
  lengthDeclared: boolean;
  declaredSize: number | null;
  digest: ServerDigest | null;
}

async function finish(url: string, partial: string, target: string, options: DownloadOptions, expected: Expectations): Promise<string> {
  const fs = await import('node:fs/promises');
  const problem = await verifyFile(partial, options, expected);
  if (problem) {
    await discard(partial);
    throw new WeightsError(`download of ${url} refused: ${problem} (deleted, not cached)`);
  }
  // Atomic: readers see either no file or the whole checked one, whichever writer's rename came last.
  await fs.rename(partial, target);
  await fs.rm(`${partial}.etag`, { force: true });
  return target;
}

async function discard(partial: string): Promise<void> {
  const fs = await import('node:fs/promises');
  await fs.rm(partial, { force: true });
  await fs.rm(`${partial}.etag`, { force: true });
}

/** Null when the file passes every check asked for or declared by the server, else what is wrong. */
async function verifyFile(path: string, options: DownloadOptions, expected: Expectations): Promise<string | null> {
  const fs = await import('node:fs/promises');
  const stat = await fs.stat(path);
  if (!stat.isFile()) return 'it is not a regular file';
  const size = stat.size;
  if (options.size !== undefined && size !== options.size) return `size ${size} bytes, expected ${options.size}`;
  if (expected.declaredSize !== null && size !== expected.declaredSize) return `size ${size} bytes, the server declared ${expected.declaredSize}`;
  const wantSha = options.sha256?.toLowerCase() ?? (expected.digest?.algorithm === 'sha256' ? expected.digest.hex : undefined);
  const wantGit = expected.digest?.algorithm === 'git-sha1' ? expected.digest.hex : undefined;
  if (wantSha !== undefined || wantGit !== undefined) {
    const { createHash } = await import('node:crypto');
    const { createReadStream } = await import('node:fs');
    const sha = createHash('sha256');
    // Hugging Face's git ETag: sha1 of "blob <size>\0" and the content.
    const git = createHash('sha1').update(`blob ${size}\0`);
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) {
      if (wantSha !== undefined) sha.update(chunk as Uint8Array);
      if (wantGit !== undefined) git.update(chunk as Uint8Array);
    }
    const from = options.sha256 !== undefined ? 'expected' : `the server's ${expected.digest?.header} says`;
    if (wantSha !== undefined) {
      const actual = sha.digest('hex');
      if (actual !== wantSha) return `sha256 ${actual}, ${from} ${wantSha}`;
    }
    if (wantGit !== undefined) {
      const actual = git.digest('hex');
      if (actual !== wantGit) return `git blob sha1 ${actual}, the server's ETag says ${wantGit}`;
    }
  }
  const handle = await fs.open(path, 'r');
  try {
    return await sniffKind({ size, read: async (offset, length) => {
      const out = new Uint8Array(length);
      await handle.read(out, 0, length, offset);
      return out;
    } }, expected.kind, expected.lengthDeclared);
  } finally {
    await handle.close();
  }
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
    const problem = await verifyBlob(blob, options, url);
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
  if (total !== null && blob.size !== total) throw new WeightsError(`download of ${url} refused: ${blob.size} bytes, the server declared ${total} (not cached)`);
  const problem = await verifyBlob(blob, options, url, total !== null);
  if (problem) throw new WeightsError(`download of ${url} refused: ${problem} (not cached)`);
  await cache.put(url, new Response(blob, { headers: { 'Content-Length': String(blob.size) } }));
  return blob;
}

async function verifyBlob(blob: Blob, options: DownloadOptions, url: string, lengthDeclared = true): Promise<string | null> {
  if (options.size !== undefined && blob.size !== options.size) return `size ${blob.size} bytes, expected ${options.size}`;
  if (options.sha256 !== undefined) {
    // SubtleCrypto has no streaming digest; checking a hash costs one pass over the file in memory.
    const actual = await sha256Hex([new Uint8Array(await blob.arrayBuffer())]);
    if (actual !== options.sha256.toLowerCase()) return `sha256 ${actual}, expected ${options.sha256.toLowerCase()}`;
  }
  const probe = { size: blob.size, read: async (offset: number, length: number) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()) };
  return sniffKind(probe, options.expect ?? kindFromUrl(url), lengthDeclared || options.size !== undefined || options.sha256 !== undefined);
}

/** A downloaded file's bytes (small files: a vocabulary), through the cache like downloadWeights. */
export async function downloadBytes(location: string, options: DownloadOptions = {}): Promise<Uint8Array> {
  const cached = await downloadWeights(location, options);
  if (typeof cached !== 'string') return new Uint8Array(await cached.arrayBuffer());
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(cached));
}

/** Reads a small JSON file (config.json) from a path, URL or hf: location, through the cache for hf:. */
export async function loadJson(location: string | URL, options: DownloadOptions & { cache?: boolean } = {}): Promise<unknown> {
  const text = resolveAgainstPage(location instanceof URL ? location.href : location);
  let body: string;
  if (text.startsWith('hf:') || (options.cache && /^https?:/i.test(text))) {
    const file = await downloadWeights(text, { ...options, expect: options.expect ?? 'json' });
    body = typeof file === 'string' ? await (await import('node:fs/promises')).readFile(file, 'utf8') : await file.text();
  } else if (/^https?:/i.test(text)) {
    const response = await (options.fetch ?? fetch)(text, { headers: options.headers });
    if (!response.ok) throw new WeightsError(`cannot fetch ${text}: HTTP ${response.status}`);
    const { responseText, READ_LIMITS } = await import('../../io/read-file.js');
    body = await responseText(response, READ_LIMITS.jsonBytes, text);
  } else {
    if (!isNode()) throw new WeightsError(`cannot read the path '${text}' outside Node`);
    const { readRegularFile, READ_LIMITS } = await import('../../io/read-file.js');
    body = new TextDecoder().decode(await readRegularFile(text.startsWith('file://') ? decodeURIComponent(new URL(text).pathname) : text, READ_LIMITS.jsonBytes, 'JSON file'));
  }
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new WeightsError(`${text} is not valid JSON (${(error as Error).message})`);
  }
}

export { defaultCacheDir };

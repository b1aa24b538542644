import { headerLength, MAX_HEADER_BYTES } from '../formats/safetensors.js';

/**
 * What a downloaded file must look like before it may enter the cache. A captive portal, a proxy's error
 * page or a body cut short can arrive with status 200 under the real name; these checks keep such a file
 * out of the cache instead of reusing it on every later run.
 */

/** The kinds a caller can ask for; `any` checks only that the body is not an HTML page. */
export type ExpectedKind = 'safetensors' | 'pytorch' | 'weights' | 'json' | 'csv' | 'gzip' | 'any';

/** JSON and CSV files are parsed whole; beyond this they are not what geolens downloads. */
export const MAX_TEXT_DOWNLOAD_BYTES = 256 << 20;

/** The kind a URL's file name implies, when the caller did not say. */
export function kindFromUrl(url: string): ExpectedKind {
  let path: string;
  try {
    path = new URL(url).pathname.toLowerCase();
  } catch {
    return 'any';
  }
  if (path.endsWith('.safetensors')) return 'safetensors';
  if (/\.(pth|pt|ckpt)$/.test(path)) return 'pytorch';
  if (path.endsWith('.json')) return 'json';
  if (path.endsWith('.csv')) return 'csv';
  if (path.endsWith('.gz')) return 'gzip';
  return 'any';
}

/** Random access to the candidate file, however it is stored (a Node file, a Blob). */
export interface FileProbe {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * Null when the file looks like `kind`, else what it looks like instead. `lengthDeclared` says whether
 * anyone (server or caller) vouched for the size: without that, a cut-short CSV is indistinguishable from
 * a whole one unless its last line is terminated, so an unterminated last line is refused.
 */
export async function sniffKind(file: FileProbe, kind: ExpectedKind, lengthDeclared: boolean): Promise<string | null> {
  if (file.size === 0) return 'the file is empty';
  const head = await file.read(0, Math.min(file.size, 512));
  const html = looksLikeHtml(head);
  if (html) return `it is an HTML page (${html}), not ${describeKind(kind)}: a login or captive-portal page, or an error page served with status 200`;
  switch (kind) {
    case 'any':
      return null;
    case 'gzip':
      return head[0] === 0x1f && head[1] === 0x8b ? null : `it does not start with the gzip magic 1f 8b (first bytes ${hex(head)})`;
    case 'safetensors':
      return sniffSafetensors(file, head);
    case 'pytorch':
      return sniffZip(file, head);
    case 'weights':
      return isZipStart(head) ? sniffZip(file, head) : sniffSafetensors(file, head);
    case 'json':
    case 'csv': {
      if (file.size > MAX_TEXT_DOWNLOAD_BYTES) return `${file.size} bytes is more than the ${MAX_TEXT_DOWNLOAD_BYTES}-byte limit for a ${kind.toUpperCase()} file`;
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(await file.read(0, file.size));
      } catch {
        return `it is not UTF-8 text, so not ${describeKind(kind)}`;
      }
      if (kind === 'json') {
        try {
          JSON.parse(text);
          return null;
        } catch (error) {
          return `it is not valid JSON (${(error as Error).message})`;
        }
      }
      if (text.includes('\0')) return 'it holds NUL bytes, so it is not a CSV file';
      const firstLine = text.slice(0, text.search(/\r?\n|$/));
      if (!firstLine.includes(',')) return `its first line '${firstLine.slice(0, 60)}' has no comma, so it is not a CSV file`;
      if (!lengthDeclared && !/\n$/.test(text)) return 'its length was not declared and its last line is unterminated, so it may have been cut short';
      return null;
    }
  }
}

function describeKind(kind: ExpectedKind): string {
  return kind === 'weights' ? 'a weight file' : kind === 'any' ? 'the expected file' : `a ${kind} file`;
}

function looksLikeHtml(head: Uint8Array): string | null {
  const text = new TextDecoder('latin1').decode(head).replace(/^\uFEFF/, '').trimStart().slice(0, 64).toLowerCase();
  const match = /^<(!doctype html|html|head|body)\b/.exec(text);
  return match ? `starts with '<${match[1]}'` : null;
}

function isZipStart(head: Uint8Array): boolean {
  return head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05) && (head[3] === 0x04 || head[3] === 0x06);
}

/** A zip that was cut short has lost its end-of-central-directory record, which sits in the last 64 KiB. */
async function sniffZip(file: FileProbe, head: Uint8Array): Promise<string | null> {
  if (!isZipStart(head)) return `it is not a zip (a PyTorch .pth is one): first bytes ${hex(head)}`;
  const tailLength = Math.min(file.size, 22 + 0xffff);
  const tail = await file.read(file.size - tailLength, tailLength);
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail[i] === 0x50 && tail[i + 1] === 0x4b && tail[i + 2] === 0x05 && tail[i + 3] === 0x06) return null;
  }
  return 'the zip has no end-of-central-directory record: it was cut short or is not a zip';
}

/** The header parses and its last tensor ends exactly at the end of the file. */
async function sniffSafetensors(file: FileProbe, head: Uint8Array): Promise<string | null> {
  let length: number;
  try {
    length = headerLength(head.subarray(0, 8), file.size, 'file');
  } catch (error) {
    return `it is not safetensors: ${(error as Error).message.replace(/^file: /, '')}`;
  }
  if (length > MAX_HEADER_BYTES) return `safetensors header of ${length} bytes is too large`;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await file.read(8, length)));
  } catch (error) {
    return `it is not safetensors: its header is not JSON (${(error as Error).message})`;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return 'it is not safetensors: its header is not a JSON object';
  let end = 0;
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const offsets = (entry as { data_offsets?: unknown } | null)?.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o))) return `it is not safetensors: tensor '${name}' has no data_offsets`;
    end = Math.max(end, offsets[1] as number);
  }
  const expected = 8 + length + end;
  if (expected !== file.size) return `its safetensors header describes ${expected} bytes but the file has ${file.size}${file.size < expected ? ': it was cut short' : ''}`;
  return null;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * The digest a server vouches for, from its headers: Hugging Face sends the LFS sha256 of a file in
 * X-Linked-Etag (on the redirect to its CDN) and the same value, or the git blob sha1 of a small file, as
 * the ETag of a resolve URL. Other servers' ETags are opaque and are not read as digests.
 */
export interface ServerDigest {
  algorithm: 'sha256' | 'git-sha1';
  hex: string;
  header: string;
}

export function digestFromHeaders(linkedEtag: string | null, etag: string | null, hubResolve: boolean): ServerDigest | null {
  const plain = (value: string | null) => value?.replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase() ?? '';
  const linked = plain(linkedEtag);
  if (/^[0-9a-f]{64}$/.test(linked)) return { algorithm: 'sha256', hex: linked, header: 'X-Linked-Etag' };
  if (!hubResolve || etag === null || etag.startsWith('W/')) return null;
  const tag = plain(etag);
  if (/^[0-9a-f]{64}$/.test(tag)) return { algorithm: 'sha256', hex: tag, header: 'ETag' };
  if (/^[0-9a-f]{40}$/.test(tag)) return { algorithm: 'git-sha1', hex: tag, header: 'ETag' };
  return null;
}

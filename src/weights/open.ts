import { BlobByteSource, FileByteSource, HttpByteSource, MemoryByteSource, type ByteSource, type FetchLike } from '../io/bytes.js';
import { WeightsError } from '../io/errors.js';
import { downloadWeights, resolveUrl, type DownloadOptions } from './hub/download.js';
import { resolveAgainstPage } from '../io/page-url.js';
import { PthSource } from './formats/pth.js';
import { QuantizedWeightSource } from './formats/quantized.js';
import { SafetensorsSource } from './formats/safetensors.js';
import { kindFromUrl } from './hub/verify.js';
import type { RangedWeightSource } from './source.js';

export interface OpenOptions extends DownloadOptions {
  /** fetch used for URLs (tests, auth wrappers); defaults to the global fetch. */
  fetch?: FetchLike;
  /** Extra HTTP headers, e.g. { Authorization: 'Bearer …' } for gated Hugging Face repos. */
  headers?: Record<string, string>;
  /**
   * Download a URL into the cache first and read it from there (default: true for hf:, false for plain
   * URLs, which are read in place with Range requests). `offline` implies it.
   */
  cache?: boolean;
  /** Bytes of a URL fetched up front and kept for header reads (default 64 KiB). */
  prefixBytes?: number;
}

/**
 * Opens a checkpoint without reading its tensors: a Node path, an http(s) URL (read with Range requests,
 * or through the download cache), `hf:owner/repo/file`, bytes in memory or a Blob/File. The format comes from the magic bytes: a zip is a PyTorch `.pth`,
 * anything else must be safetensors.
 */
export async function openWeights(location: string | URL | Uint8Array | Blob, options: OpenOptions = {}): Promise<RangedWeightSource> {
  const bytes = await openBytes(location, options);
  try {
    return await openFormat(bytes);
  } catch (error) {
    await bytes.close();
    throw error;
  }
}

export async function openBytes(location: string | URL | Uint8Array | Blob, options: OpenOptions = {}): Promise<ByteSource> {
  if (location instanceof Uint8Array) return new MemoryByteSource(location);
  if (typeof Blob !== 'undefined' && location instanceof Blob) return new BlobByteSource(location, (location as File).name || '<blob>');
  const text = resolveAgainstPage(location instanceof URL ? location.href : (location as string));
  const remote = /^https?:\/\//i.test(text);
  if (text.startsWith('hf:') || (remote && (options.cache || options.offline))) {
    if (options.cache === false && text.startsWith('hf:') && !options.offline) {
      return HttpByteSource.open(resolveUrl(text, options.hubUrl), { fetch: options.fetch, headers: options.headers, prefixBytes: options.prefixBytes });
    }
    const inferred = kindFromUrl(resolveUrl(text, options.hubUrl));
    const expect = options.expect ?? (inferred === 'safetensors' || inferred === 'pytorch' ? inferred : 'weights');
    const cached = await downloadWeights(text, { ...options, expect });
    return typeof cached === 'string' ? FileByteSource.open(cached) : new BlobByteSource(cached, text);
  }
  if (remote) return HttpByteSource.open(text, { fetch: options.fetch, headers: options.headers, prefixBytes: options.prefixBytes });
  if (text.startsWith('file://')) return FileByteSource.open(decodeURIComponent(new URL(text).pathname));
  return FileByteSource.open(text);
}

export async function openFormat(bytes: ByteSource): Promise<RangedWeightSource> {
  const head = await bytes.read(0, Math.min(16, bytes.size));
  if (head.byteLength >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05) && (head[3] === 0x04 || head[3] === 0x06)) {
    return PthSource.open(bytes);
  }
  if (head.byteLength >= 2 && head[0] === 0x80 && head[1] === 0x02) {
    throw new WeightsError(`${bytes.name}: legacy (pre-1.6, non-zip) PyTorch format is not supported; re-save it with torch.save(state_dict, path) from a current PyTorch`);
  }
  const claimed = head.byteLength >= 8 ? new DataView(head.buffer, head.byteOffset, 8) : null;
  const plausibleLength = claimed !== null && claimed.getUint32(4, true) === 0 && claimed.getUint32(0, true) <= bytes.size - 8;
  if (head.byteLength >= 9 && head[8] !== 0x7b && !plausibleLength) {
    const shown = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new WeightsError(`${bytes.name}: not a weight file geolens knows: neither a PyTorch zip (PK) nor safetensors (8-byte length then '{'); first bytes ${shown}`);
  }
  return QuantizedWeightSource.wrap(await SafetensorsSource.open(bytes), bytes.name);
}

// What `geolens locate` and `geolens queue add` accept besides single files: folders (walked recursively),
// globs (quoted so the shell leaves them alone: 'photos/**/*.jpg'), list files (one path or URL a line)
// and http(s) URLs. Expansion is sorted, so two runs over the same inputs see the same order.
import { opendir, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { AbortError } from '../runtime/abort.js';
import type { RawImage } from '../image/image.js';
import { readImage, type ReadImageOptions } from '../image/read.js';
import { GeolensError } from '../runtime/errors.js';
import { readRegularFile } from '../io/read-file.js';

/** Files a folder or glob walk picks up (case-insensitive). A file named on its own is taken whatever its name. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;
/** A named file with one of these endings is a list of images, one per line ('#' starts a comment). */
export const LIST_EXTENSIONS = ['.txt', '.lst', '.list'] as const;
/** Largest list file read: 64 MiB, about a million paths. */
export const MAX_LIST_BYTES = 64 << 20;

const GLOB_CHARS = /[*?[{]/;

export function isUrl(input: string): boolean {
  return /^https?:\/\//i.test(input);
}

function hasExtension(name: string, extensions: readonly string[]): boolean {
  const lower = name.toLowerCase();
  return extensions.some((e) => lower.endsWith(e));
}

/** True when an input names many images (folder, glob or list file) rather than one. */
export async function isManyImagesInput(input: string): Promise<boolean> {
  if (isUrl(input)) return false;
  if (GLOB_CHARS.test(input)) return true;
  if (hasExtension(input, LIST_EXTENSIONS)) return true;
  try {
    return (await stat(input)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every image the inputs name, in a stable order, each once. Paths keep the form they were given in
 * (relative stays relative), so results read like the command line; list-file entries are relative to
 * the list's folder. A missing input is an error up front, before any model loads.
 */
export async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (image: string) => {
    const key = isUrl(image) ? image : resolve(image);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(image);
    }
  };
  for (const input of inputs) {
    if (isUrl(input)) add(input);
    else if (GLOB_CHARS.test(input)) {
      const matches = await globImages(input);
      if (matches.length === 0) throw new GeolensError(`no images match '${input}'`);
      matches.forEach(add);
    } else {
      let info;
      try {
        info = await stat(input);
      } catch {
        throw new GeolensError(`cannot read '${input}' (no such file or folder)`);
      }
      if (info.isDirectory()) (await walkImages(input)).forEach(add);
      else if (hasExtension(input, LIST_EXTENSIONS)) (await readList(input)).forEach(add);
      else add(input);
    }
  }
  return out;
}

async function walkImages(folder: string, keep: (path: string) => boolean = () => true): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    const names: { name: string; dir: boolean }[] = [];
    for await (const entry of await opendir(dir)) {
      if (entry.name.startsWith('.')) continue;
      names.push({ name: entry.name, dir: entry.isDirectory() });
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, dir: isDir } of names) {
      const path = join(dir, name);
      if (isDir) await visit(path);
      else if (hasExtension(name, IMAGE_EXTENSIONS) && keep(path)) found.push(path);
    }
  };
  await visit(folder);
  return found;
}

/**
 * A list file's entries: a regular file (a FIFO or /dev/zero is refused by type, unopened), at most
 * MAX_LIST_BYTES, UTF-8 text; relative paths resolved against the list's folder. `what` names the file in
 * errors (eval says 'eval: list file').
 */
export async function readList(listFile: string, what = 'list file'): Promise<string[]> {
  const base = dirname(listFile);
  const bytes = await readRegularFile(listFile, MAX_LIST_BYTES, what, GeolensError);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new GeolensError(`${what} '${listFile}' is not UTF-8 text (one image path or URL a line)`);
  }
  if (text.includes('\0')) throw new GeolensError(`${what} '${listFile}' holds NUL bytes: not a text list of images`);
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => (isUrl(line) || line.startsWith('/') ? line : join(base, line)));
}

async function globImages(pattern: string): Promise<string[]> {
  // Walk from the deepest folder without wildcards, keep what the whole pattern matches.
  const parts = pattern.split(/[\\/]/);
  const firstWild = parts.findIndex((p) => GLOB_CHARS.test(p));
  const root = parts.slice(0, firstWild).join(sep) || (pattern.startsWith('/') ? '/' : '.');
  const matcher = globToRegExp(pattern.replace(/^\.\//, ''));
  try {
    if (!(await stat(root)).isDirectory()) return [];
  } catch {
    return [];
  }
  return walkImages(root, (path) => matcher.test(path.split(sep).join('/')));
}

/** `*` within a path segment, `**` across segments, `?`, `[abc]` and `{a,b}`, as shells and globby read them. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const slash = pattern[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else re += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

/**
 * Reads and decodes one image (readImage: regular files, byte caps, URL timeouts, the pixel cap); the
 * error names the image. An abort is passed on as it is: it belongs to the run, not to the image.
 */
export async function loadImage(location: string, options: ReadImageOptions = {}): Promise<RawImage> {
  try {
    return await readImage(location, options);
  } catch (error) {
    // Named once: a file error already carries its path.
    if (error instanceof GeolensError && !(error instanceof AbortError) && !error.message.includes(location)) error.message = `${location}: ${error.message}`;
    throw error;
  }
}

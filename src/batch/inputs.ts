// What `geolens locate` and `geolens queue add` accept besides single files: folders (walked recursively),
// globs (quoted so the shell leaves them alone: 'photos/**/*.jpg'), list files (one path or URL a line)
// and http(s) URLs. Expansion is sorted, so two runs over the same inputs see the same order.
import { opendir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { decodeImage } from '../image/decode-node.js';
import { ImageError, type RawImage } from '../image/image.js';
import { GeolensError } from '../runtime/errors.js';

/** Files a folder or glob walk picks up (case-insensitive). A file named on its own is taken whatever its name. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;
/** A named file with one of these endings is a list of images, one per line ('#' starts a comment). */
export const LIST_EXTENSIONS = ['.txt', '.lst', '.list'] as const;

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

async function readList(listFile: string): Promise<string[]> {
  const base = dirname(listFile);
  const text = await readFile(listFile, 'utf8');
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

/** The encoded bytes of an image path or http(s) URL. A missing file or an HTTP error status is an ImageError. */
export async function readImageBytes(location: string): Promise<Uint8Array> {
  if (isUrl(location)) {
    let response: Response;
    try {
      response = await fetch(location);
    } catch (error) {
      // A network failure may pass: not an ImageError, so queue workers retry it.
      throw new GeolensError(`${location}: fetch failed (${(error as Error).message})`);
    }
    if (!response.ok) {
      if (response.status >= 500 || response.status === 429) throw new GeolensError(`${location}: HTTP ${response.status}`);
      throw new ImageError(`${location}: HTTP ${response.status}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  }
  try {
    return new Uint8Array(await readFile(location));
  } catch (error) {
    throw new ImageError(`${location}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Reads and decodes one image; the error names it. */
export async function loadImage(location: string): Promise<RawImage> {
  const bytes = await readImageBytes(location);
  try {
    return await decodeImage(bytes);
  } catch (error) {
    if (error instanceof ImageError) error.message = `${location}: ${error.message}`;
    throw error;
  }
}

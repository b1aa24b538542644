/**
 * What `geolens eval` evaluates: photos (files, folders, list files) and their true positions, from a
 * labels CSV (columns image, lat, lon) or from the photos' own EXIF GPS.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import { readExifGps } from '../geo/exif.js';
import { parseDecimal } from '../model/geoclip/gallery.js';
import { GeolensError } from '../runtime/errors.js';
import { READ_LIMITS, readRegularFile } from '../io/read-file.js';
import { LIST_EXTENSIONS, readList } from '../batch/inputs.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.avif', '.heic']);

export interface LabeledImage {
  /** The path as found (CSV-relative paths resolved against the CSV's folder). */
  path: string;
  lat: number;
  lon: number;
  source: 'labels' | 'exif';
}

export interface Label {
  lat: number;
  lon: number;
}

/** A label and the CSV line (1-based) it came from, for errors about the row. */
interface LabelRow extends Label {
  line: number;
}

/**
 * Parses a labels CSV: a header naming `image`, `lat` and `lon` columns (any order, case-insensitive,
 * `latitude`/`longitude` and `file`/`path` accepted), one photo per line. Coordinates are read as the
 * gallery CSV reads them (plain decimals: no `0x10`, `0b1`, `Infinity` or `1_0`). Throws naming the line for
 * a missing or bad value, a coordinate out of range, or a photo listed twice.
 */
export function parseLabelsCsv(text: string, what = 'labels CSV'): Map<string, Label> {
  return new Map([...parseLabelRows(text, what)].map(([image, { lat, lon }]) => [image, { lat, lon }]));
}

function parseLabelRows(text: string, what: string): Map<string, LabelRow> {
  const lines = text.split(/\r?\n/).map((line, i) => ({ line, number: i + 1 })).filter(({ line }) => line.trim() !== '');
  if (lines.length === 0) throw new GeolensError(`${what}: empty (expected a header: image,lat,lon)`);
  const header = splitCsvLine(lines[0]!.line).map((h) => h.trim().toLowerCase());
  const column = (...names: string[]) => header.findIndex((h) => names.includes(h));
  const imageColumn = column('image', 'file', 'path', 'filename');
  const latColumn = column('lat', 'latitude');
  const lonColumn = column('lon', 'lng', 'longitude');
  if (imageColumn < 0 || latColumn < 0 || lonColumn < 0) {
    throw new GeolensError(`${what}: line ${lines[0]!.number} must be a header naming image, lat and lon columns, got '${lines[0]!.line.slice(0, 80)}'`);
  }
  const labels = new Map<string, LabelRow>();
  for (const { line, number } of lines.slice(1)) {
    const cells = splitCsvLine(line);
    const image = cells[imageColumn]?.trim() ?? '';
    if (image === '') throw new GeolensError(`${what}: line ${number} has no image name`);
    const lat = parseDecimal(cells[latColumn]?.trim() ?? '');
    const lon = parseDecimal(cells[lonColumn]?.trim() ?? '');
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) {
      throw new GeolensError(`${what}: line ${number} ('${image}') has lat '${(cells[latColumn] ?? '').slice(0, 40)}', lon '${(cells[lonColumn] ?? '').slice(0, 40)}', not finite numbers (plain decimals only)`);
    }
    if (Math.abs(lat) > 90) throw new GeolensError(`${what}: line ${number} ('${image}') has latitude ${lat}, outside [-90, 90]`);
    if (Math.abs(lon) > 180) throw new GeolensError(`${what}: line ${number} ('${image}') has longitude ${lon}, outside [-180, 180]`);
    if (labels.has(image)) throw new GeolensError(`${what}: line ${number} lists '${image}' a second time`);
    labels.set(image, { lat, lon, line: number });
  }
  return labels;
}

/** Splits one CSV line, honouring double-quoted cells ("a, b" and "" for a quote). */
function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  cells.push(cell);
  return cells;
}

/**
 * The photos named by `inputs`: image files as they are, folders searched recursively for images,
 * and list files (`.txt`, `.lst`, `.list`) read as locate reads them (batch/inputs.ts readList). Sorted, no duplicates.
 */
export async function collectImages(inputs: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  const walk = async (folder: string): Promise<void> => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) found.add(path);
    }
  };
  for (const input of inputs) {
    const info = await stat(input).catch(() => null);
    if (!info) throw new GeolensError(`eval: cannot read '${input}' (no such file or folder)`);
    if (info.isDirectory()) await walk(input);
    else if ((LIST_EXTENSIONS as readonly string[]).includes(extname(input).toLowerCase())) {
      for (const entry of await readList(input, 'eval: list file')) found.add(entry);
    } else found.add(input);
  }
  return [...found];
}

/** The labels file as UTF-8 text: a regular file within the CSV size cap (FIFOs, devices refused unopened). */
async function readText(path: string, what: string): Promise<string> {
  const bytes = await readRegularFile(path, READ_LIMITS.csvBytes, `eval: ${what}`, GeolensError);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new GeolensError(`eval: ${what} '${path}' is not UTF-8 text`);
  }
}

export interface LabelResolution {
  labeled: LabeledImage[];
  /** Photos with neither a CSV row nor EXIF GPS. */
  unlabeled: string[];
  /** Labels-CSV rows (image names as written) that no photo matched, in file order. */
  unmatchedLabels: string[];
}

/**
 * Finds each photo's true position: its labels-CSV row (matched by the path relative to the CSV's
 * folder, then by the path as given, then by file name), else its EXIF GPS unless `exif` is false.
 * A row two photos would take (`a/x.jpg`, `b/x.jpg` and one row `x.jpg`) is an error naming both; rows no photo matched are returned in `unmatchedLabels`.
 */
export async function resolveLabels(images: readonly string[], options: { labelsFile?: string; exif?: boolean } = {}): Promise<LabelResolution> {
  let labels = new Map<string, LabelRow>();
  let base = '.';
  if (options.labelsFile) {
    labels = parseLabelRows(await readText(options.labelsFile, 'labels file'), `labels ${options.labelsFile}`);
    base = dirname(options.labelsFile);
  }
  const labeled: LabeledImage[] = [];
  const unlabeled: string[] = [];
  /** Row name → the photo that took it. */
  const taken = new Map<string, string>();
  for (const path of images) {
    const key = [relative(base, path).split('\\').join('/'), path, basename(path)].find((k) => labels.has(k));
    if (key !== undefined) {
      const other = taken.get(key);
      if (other !== undefined) {
        throw new GeolensError(`labels ${options.labelsFile}: line ${labels.get(key)!.line} ('${key}') matches two photos, '${other}' and '${path}'; name the row by its path relative to the CSV's folder`);
      }
      taken.set(key, path);
      const { lat, lon } = labels.get(key)!;
      labeled.push({ path, lat, lon, source: 'labels' });
      continue;
    }
    const gps = options.exif === false ? null : await readExifGps(path);
    if (gps) labeled.push({ path, ...gps, source: 'exif' });
    else unlabeled.push(path);
  }
  return { labeled, unlabeled, unmatchedLabels: [...labels.keys()].filter((key) => !taken.has(key)) };
}

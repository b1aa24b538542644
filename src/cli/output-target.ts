// Files a command will write (`--out`, `--map`) are checked before any model loads: a typo in a folder
// name should cost a second, not the minutes of a run whose results then have nowhere to go.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GeolensError } from '../runtime/errors.js';

function code(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * Throws a one-line GeolensError unless `path` can be written: its folder exists and takes new files, and
 * the path itself, if it exists, is a writable regular file or a character device (/dev/null). A FIFO
 * is refused: opening it would wait for a reader.
 */
export async function checkOutputTarget(path: string, flag: string): Promise<void> {
  const folder = dirname(resolve(path));
  let existing: import('node:fs').Stats | null = null;
  try {
    existing = await stat(path);
  } catch (error) {
    if (code(error) !== 'ENOENT') throw new GeolensError(`${flag} ${path}: cannot use this path (${code(error)})`);
  }
  if (existing) {
    if (existing.isDirectory()) throw new GeolensError(`${flag} ${path} is a folder; give a file name`);
    if (!existing.isFile() && !existing.isCharacterDevice()) throw new GeolensError(`${flag} ${path} is not a regular file (a FIFO or socket); give a file name`);
    try {
      await access(path, constants.W_OK);
    } catch (error) {
      throw new GeolensError(`${flag} ${path}: the file is not writable (${code(error)})`);
    }
    return;
  }
  let folderStat: import('node:fs').Stats;
  try {
    folderStat = await stat(folder);
  } catch (error) {
    throw new GeolensError(`${flag} ${path}: the folder ${folder} ${code(error) === 'ENOENT' ? 'does not exist' : `cannot be used (${code(error)})`}`);
  }
  if (!folderStat.isDirectory()) throw new GeolensError(`${flag} ${path}: ${folder} is not a folder`);
  try {
    await access(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new GeolensError(`${flag} ${path}: cannot create files in ${folder} (${code(error)})`);
  }
}

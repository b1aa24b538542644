/**
 * Temporary files of the Node download cache, shared by every process on the machine. Each writer
 * downloads into its own partial file, `<target>.partial-<pid>-<nonce>`, and renames it over the target
 * only after it passed its checks, so no two writers ever share a file and no reader sees a partial
 * one. A partial whose writer is gone (its process exited, or it has not grown for STALE_MS) is adopted
 * by the next writer with an atomic rename, which only one of several racing writers can win, and the
 * download resumes from it.
 */

/** A partial file untouched for this long belongs to nobody, whatever its process id says. */
export const STALE_PARTIAL_MS = 10 * 60_000;
/** Leftovers nobody adopted (another revision, a file no longer wanted) are removed after this long. */
export const ORPHAN_PARTIAL_MS = 7 * 24 * 3600_000;
/** `*.<pid>.tmp` files (gallery cache writes) whose writer is gone are removed after this long. */
export const ORPHAN_TMP_MS = 3600_000;

/** Partial files this process is writing right now; other downloads in the process leave them alone. */
export const activePartials = new Set<string>();

const PARTIAL = /\.partial-(\d+)-[0-9a-f]+$/;
const TMP = /\.(\d+)\.tmp$/;

export function newPartialName(target: string): string {
  const nonce = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${target}.partial-${process.pid}-${nonce}`;
}

/** Whether a process with this id exists on this machine. */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes over the largest abandoned partial file of `target`, renamed to a name of this writer; null if none. */
export async function adoptPartial(target: string): Promise<string | null> {
  const fs = await import('node:fs/promises');
  const { basename, dirname, join } = await import('node:path');
  const folder = dirname(target);
  const prefix = `${basename(target)}.partial-`;
  const candidates: { path: string; size: number }[] = [];
  for (const name of await fs.readdir(folder).catch(() => [] as string[])) {
    const match = PARTIAL.exec(name);
    if (!name.startsWith(prefix) || !match) continue;
    const path = join(folder, name);
    if (activePartials.has(path)) continue;
    const stat = await fs.stat(path).catch(() => null);
    if (!stat?.isFile()) continue;
    const pid = Number(match[1]);
    const abandoned = (pid === process.pid || !processAlive(pid)) || Date.now() - stat.mtimeMs > STALE_PARTIAL_MS;
    if (abandoned) candidates.push({ path, size: stat.size });
  }
  candidates.sort((a, b) => b.size - a.size);
  for (const { path } of candidates) {
    const mine = newPartialName(target);
    try {
      await fs.rename(path, mine);
    } catch {
      continue; // another writer adopted it first
    }
    await fs.rename(`${path}.etag`, `${mine}.etag`).catch(() => {});
    return mine;
  }
  return null;
}

/** Removes partial and temporary files in `folder` that no live writer owns and nobody adopted in time. */
export async function removeOrphans(folder: string): Promise<string[]> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  const removed: string[] = [];
  const now = Date.now();
  for (const name of await fs.readdir(folder).catch(() => [] as string[])) {
    const path = join(folder, name);
    const partial = PARTIAL.exec(name.replace(/\.etag$/, ''));
    const tmp = TMP.exec(name);
    if (!partial && !tmp) continue;
    if (activePartials.has(path.replace(/\.etag$/, ''))) continue;
    const stat = await fs.lstat(path).catch(() => null);
    if (!stat?.isFile()) continue;
    const age = now - stat.mtimeMs;
    const pid = Number((partial ?? tmp)![1]);
    const orphan = partial ? age > ORPHAN_PARTIAL_MS : age > ORPHAN_TMP_MS && (pid === process.pid ? false : !processAlive(pid));
    if (!orphan) continue;
    await fs.rm(path, { force: true });
    removed.push(path);
  }
  return removed;
}

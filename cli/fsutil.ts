/** File writes for the CLI: atomic (temp file in the same folder, then rename) and change-aware. */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { usageError } from './exit.js';

const why = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT': return 'no such folder';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a directory';
    case 'ENOTDIR': return 'a parent is not a folder';
    case 'EROFS': return 'read-only file system';
    case 'EEXIST': return 'a file of that name is in the way';
    default: return err.message ?? String(e);
  }
};

/** Writes `data` to `path` (absolute) so readers see the old or the new file, never half of one. */
export async function writeAtomic(path: string, data: string | Uint8Array, shownAs = path): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw usageError(`cannot write '${shownAs}': ${why(e)}`);
  }
}

/** Writes only when the contents differ from what is there; returns whether it wrote. */
export async function writeIfChanged(path: string, data: Uint8Array, shownAs = path): Promise<boolean> {
  const old = await readFile(path).catch(() => null);
  if (old !== null && old.equals(data)) return false;
  await writeAtomic(path, data, shownAs);
  return true;
}

/**
 * `mkdir -p`, one level at a time. Node 20's `mkdir(path, { recursive: true })` never returns
 * when the kernel answers ENOENT for a folder whose parent exists (e.g. under /proc).
 */
async function mkdirp(path: string): Promise<void> {
  const existsAsDir = async (e: unknown): Promise<void> => {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(path).catch(() => null))?.isDirectory()) return;
    throw e;
  };
  try {
    await mkdir(path);
  } catch (e) {
    const parent = dirname(path);
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) return existsAsDir(e);
    await mkdirp(parent);
    await mkdir(path).catch(existsAsDir); // ENOENT again: the parent exists, so this folder cannot be made
  }
}

export async function makeDir(path: string, shownAs = path): Promise<void> {
  try {
    await mkdirp(path);
  } catch (e) {
    throw usageError(`cannot create folder '${shownAs}': ${why(e)}`);
  }
}

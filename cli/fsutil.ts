/** File writes for the CLI: atomic (temp file in the same folder, then rename) and change-aware. */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
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

export async function makeDir(path: string, shownAs = path): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (e) {
    throw usageError(`cannot create folder '${shownAs}': ${why(e)}`);
  }
}

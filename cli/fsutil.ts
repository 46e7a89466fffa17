/**
 * Files for the CLI: every command reads its inputs and writes its outputs through
 * runtime/files.ts (regular files only, size caps, atomic writes that never land on a link, a
 * device, a FIFO or an input of the same command). Here: its errors as usage errors (exit 2), and
 * `mkdir -p`.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FileError, Outputs, errnoText, type Written } from '../runtime/files.js';
import { usageError } from './exit.js';
import type { Io } from './io.js';

/** Runs a step that reads or writes files; a FileError becomes a usage error (exit 2). */
export async function fileStep<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof FileError) throw usageError(e.message);
    throw e;
  }
}

/** The outputs of one command run, the files it reads (paths as typed) recorded as inputs. */
export async function outputsFor(io: Io, inputs: readonly string[]): Promise<Outputs> {
  const o = new Outputs();
  for (const p of inputs) await o.inputPath(resolve(io.cwd, p), p);
  return o;
}

/**
 * Writes files (paths as typed) as one transaction: every one is replaced, or none is. Returns
 * what was written, in order. `inputs`: the files the command read.
 */
export function writeOutputs(io: Io, inputs: readonly string[], files: readonly { path: string; data: string | Uint8Array }[]): Promise<Written[]> {
  return fileStep(async () => {
    const o = await outputsFor(io, inputs);
    await o.transaction(async () => {
      for (const f of files) await o.stage(resolve(io.cwd, f.path), f.path, typeof f.data === 'string' ? Buffer.from(f.data, 'utf8') : f.data);
    });
    return o.written;
  });
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
    const why = (e as NodeJS.ErrnoException).code === 'EEXIST' ? 'a file of that name is in the way' : errnoText(e, 'no such folder');
    throw usageError(`cannot create folder '${shownAs}': ${why}`);
  }
}

/**
 * How every command touches files: one way to read an input, one way to write outputs.
 *
 * Reading (`readInput`, `openInput`, `openInside`): regular files only, opened non-blocking so
 * a FIFO cannot hang the open, checked with fstat (a FIFO, device, socket or folder is refused
 * before a byte is read), the size compared with a cap before reading. A file an input names
 * (an ONNX model's external data) must resolve, through every symlink, to a regular file inside
 * the input's folder.
 *
 * Writing (`Outputs`): one per command run. A target must be a new name in an existing folder or
 * an existing regular file: never a symlink (it would point elsewhere), a device, a FIFO, a
 * folder, nor any file the run reads (compared by device and inode, so `d/m.onnx` with `d -> .`
 * and hard links are caught). Data goes to a temp file beside the target (O_EXCL: a planted
 * symlink is not followed) and is renamed over the target only when every output of the run is
 * ready; on any failure the temps are removed and nothing is replaced.
 */
import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';

/** A file that cannot be read or written as asked: `cannot read 'x': why`, on one line. */
export class FileError extends Error {
  override name = 'FileError';
  constructor(readonly verb: 'read' | 'write', readonly shownAs: string, readonly why: string) {
    super(`cannot ${verb} '${shownAs}': ${why}`);
  }
}

/** Identity of a file: what two paths to one file share. */
export interface FileId { readonly dev: bigint; readonly ino: bigint }
const idOf = (s: BigIntStats): FileId => ({ dev: s.dev, ino: s.ino });
export const sameFile = (a: FileId, b: FileId): boolean => a.dev === b.dev && a.ino === b.ino;

/** Why a file that is not regular is refused, for messages (`is a FIFO, not a regular file`). */
function notRegular(s: BigIntStats): string {
  if (s.isDirectory()) return 'is a directory';
  const kind = s.isSymbolicLink() ? 'a symbolic link' : s.isFIFO() ? 'a FIFO' : s.isCharacterDevice() ? 'a character device'
    : s.isBlockDevice() ? 'a block device' : s.isSocket() ? 'a socket' : 'something else';
  return `is ${kind}, not a regular file`;
}

/** An errno as a few words. */
export function errnoText(e: unknown, missing = 'no such file'): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT': return missing;
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a directory';
    case 'ENOTDIR': return 'a parent is not a folder';
    case 'ELOOP': return 'too many levels of symbolic links';
    case 'ENAMETOOLONG': return 'the name is too long';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'EXDEV': return 'the temp file and the target are on different file systems';
    default: return (err.message ?? String(e)).split('\n')[0];
  }
}

const bytes = (n: number | bigint): string => `${n.toLocaleString('en-US')} bytes`;

/** Size caps of what gratc reads, each with the words that name it. */
export interface Cap { readonly bytes: number; readonly what: string }

/** An input opened for reading: a regular file of `size` bytes. Close it. */
export interface OpenedFile {
  readonly fh: FileHandle;
  readonly size: number;
  readonly id: FileId;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

async function openChecked(path: string, shownAs: string, cap: Cap, flags: number): Promise<OpenedFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, flags);
  } catch (e) {
    throw new FileError('read', shownAs, errnoText(e));
  }
  try {
    const s = await fh.stat({ bigint: true });
    if (!s.isFile()) throw new FileError('read', shownAs, notRegular(s));
    if (s.size > BigInt(cap.bytes)) throw new FileError('read', shownAs, `it has ${bytes(s.size)}, more than ${cap.what} may have (${bytes(cap.bytes)})`);
    return { fh, size: Number(s.size), id: idOf(s) };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Opens a file the user named (symlinks followed): a regular file of at most `cap.bytes`. */
export const openInput = (path: string, shownAs: string, cap: Cap): Promise<OpenedFile> => openChecked(path, shownAs, cap, READ_FLAGS);

/** Reads a whole regular file of at most `cap.bytes` (see openInput). */
export async function readInput(path: string, shownAs: string, cap: Cap): Promise<{ bytes: Buffer; id: FileId }> {
  const f = await openInput(path, shownAs, cap);
  try {
    return { bytes: await readAt(f, 0, f.size, shownAs), id: f.id };
  } finally {
    await f.fh.close();
  }
}

/** `length` bytes of an opened file from `offset`; a file that shrank meanwhile is an error. */
export async function readAt(f: OpenedFile, offset: number, length: number, shownAs: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await f.fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) throw new FileError('read', shownAs, 'it got shorter while gratc was reading it');
    got += bytesRead;
  }
  return buf;
}

/** Whether `path` is `root` or lies under it (both real paths). */
const inside = (root: string, path: string): boolean => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

/**
 * Opens `rel`, a path an input file names, under the input's folder `dir`: it must resolve, every
 * symlink followed, to a regular file inside `dir` (itself resolved). `rel` is checked for
 * `..` and absoluteness by the caller, whose words `outside` are used when it leaves the folder.
 */
export async function openInside(dir: string, rel: string, shownAs: string, outside: string): Promise<OpenedFile & { real: string }> {
  let root: string, real: string;
  try {
    root = await realpath(dir);
    real = await realpath(join(dir, rel));
  } catch (e) {
    throw new FileError('read', shownAs, errnoText(e, 'is missing'));
  }
  if (!inside(root, real)) throw new FileError('read', shownAs, outside);
  // O_NOFOLLOW: the resolved path's last part must not have become a symlink since
  const f = await openChecked(real, shownAs, { bytes: Number.MAX_SAFE_INTEGER, what: 'a file' }, READ_FLAGS | constants.O_NOFOLLOW);
  return { ...f, real };
}

/** Identity of the folder a path is in (symlinks followed), or null when there is none. */
export async function folderId(path: string): Promise<FileId | null> {
  const s = await stat(path, { bigint: true }).catch(() => null);
  return s?.isDirectory() ? idOf(s) : null;
}

export const sameFolder = async (a: string, b: string): Promise<boolean> => {
  const [x, y] = await Promise.all([folderId(a), folderId(b)]);
  return x !== null && y !== null && sameFile(x, y);
};

// ---- writing ----

export interface WriteOptions {
  /** Refuse an existing file at the target (default: an existing regular file is replaced). */
  readonly mustBeNew?: string;
  /** The target's folder must resolve inside this folder (symlinked subfolders included). */
  readonly within?: string;
  /** Leave the target alone (and say 'unchanged') when it already holds exactly these bytes. */
  readonly ifChanged?: boolean;
}

/** A file written (or found already holding the bytes, with `ifChanged`). */
export interface Written {
  readonly path: string;
  readonly shownAs: string;
  readonly bytes: number;
  readonly status: 'written' | 'unchanged';
}

interface Staged { readonly target: string; readonly shownAs: string; readonly tmp: string; bytes: number }

/**
 * The outputs of one command run (see the module comment). `input` and `inputPath` record what
 * the run reads; `stage` checks a target and writes its temp file; `commit` renames every staged
 * temp over its target; `discard` (or a failing `transaction`) removes the temps.
 */
export class Outputs {
  private readonly inputs: { id: FileId; shownAs: string }[] = [];
  private staged: Staged[] = [];
  private readonly targets = new Map<string, string>(); // place → path as shown
  readonly written: Written[] = [];

  /** A file the run reads: no output may land on it. */
  input(id: FileId, shownAs: string): void {
    this.inputs.push({ id, shownAs });
  }

  /** The same, by path (symlinks followed); a path that does not exist is no input. */
  async inputPath(path: string, shownAs: string): Promise<void> {
    const s = await stat(path, { bigint: true }).catch(() => null);
    if (s) this.input(idOf(s), shownAs);
  }

  /**
   * Checks that `target` may be written: a new name in an existing folder, or an existing
   * regular file that is none of the run's inputs. Returns the existing file's stats or null.
   */
  private async check(target: string, shownAs: string, opts: WriteOptions): Promise<{ existing: BigIntStats | null; key: string }> {
    const refuse = (why: string): never => { throw new FileError('write', shownAs, why); };
    const dir = dirname(target);
    const d = await stat(dir, { bigint: true }).catch((e) => refuse(errnoText(e, 'no such folder')));
    if (!d.isDirectory()) refuse('a parent is not a folder');
    if (opts.within !== undefined) {
      const [root, real] = await Promise.all([realpath(opts.within), realpath(dir)]).catch((e) => refuse(errnoText(e, 'no such folder')));
      if (!inside(root, real)) refuse('its folder is a symbolic link to outside the output folder');
    }
    // one key per place, whatever path leads there (d/x and x with d -> . are one file)
    const key = `${d.dev}:${d.ino}/${basename(target)}`;
    const twice = this.targets.get(key);
    if (twice !== undefined) refuse(twice === shownAs ? 'it is named twice in this command' : `it is the same file as '${twice}', also written by this command`);
    const existing = await lstat(target, { bigint: true }).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : refuse(errnoText(e))));
    if (existing) {
      if (existing.isSymbolicLink()) refuse('is a symbolic link (gratc does not write through links: remove it, or name the file it points to)');
      if (!existing.isFile()) refuse(notRegular(existing));
      const inp = this.inputs.find((i) => sameFile(i.id, idOf(existing)));
      if (inp) refuse(inp.shownAs === shownAs ? 'it is an input of this command' : `it is the input '${inp.shownAs}' of this command (same file)`);
      if (opts.mustBeNew !== undefined) refuse(opts.mustBeNew);
    }
    return { existing, key };
  }

  /**
   * Checks `target` and writes `data` (bytes, or a function writing through the temp file's
   * handle and returning the size) to a temp file beside it. With `ifChanged`, a target already
   * holding these bytes is left alone. Nothing is visible at the target before `commit`.
   */
  async stage(target: string, shownAs: string, data: Uint8Array | ((fh: FileHandle) => Promise<number>), opts: WriteOptions = {}): Promise<'staged' | 'unchanged'> {
    const { existing, key } = await this.check(target, shownAs, opts);
    if (opts.ifChanged && existing && data instanceof Uint8Array && existing.size === BigInt(data.length)) {
      const old = await readInput(target, shownAs, { bytes: data.length, what: 'an output' }).catch(() => null);
      if (old && old.bytes.equals(data)) {
        this.targets.set(key, shownAs);
        this.written.push({ path: target, shownAs, bytes: data.length, status: 'unchanged' });
        return 'unchanged';
      }
    }
    // the temp name is short enough whatever the target's name, and never an existing file
    const tmp = join(dirname(target), `.${basename(target).slice(0, 180)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'wx', existing ? Number(existing.mode & 0o777n) : 0o666);
    } catch (e) {
      throw new FileError('write', shownAs, errnoText(e, 'no such folder'));
    }
    this.targets.set(key, shownAs);
    const entry: Staged = { target, shownAs, tmp, bytes: 0 };
    this.staged.push(entry); // before writing: a failed write's temp is removed by discard
    try {
      if (data instanceof Uint8Array) {
        await fh.writeFile(data);
        entry.bytes = data.length;
      } else {
        entry.bytes = await data(fh);
      }
    } catch (e) {
      if (e instanceof FileError) throw e;
      throw new FileError('write', shownAs, errnoText(e));
    } finally {
      await fh.close();
    }
    return 'staged';
  }

  /** Renames every staged temp over its target (each target checked again first), in order. */
  async commit(): Promise<void> {
    const todo = this.staged;
    try {
      for (const s of todo) {
        // the target may have changed since it was staged: never rename over a link, device or input
        const now = await lstat(s.target, { bigint: true }).catch(() => null);
        if (now && (!now.isFile() || this.inputs.some((i) => sameFile(i.id, idOf(now))))) {
          throw new FileError('write', s.shownAs, `it changed while gratc was writing (now it ${now.isFile() ? 'is an input of this command' : notRegular(now)})`);
        }
      }
      for (const s of todo) {
        await rename(s.tmp, s.target).catch((e) => { throw new FileError('write', s.shownAs, errnoText(e)); });
        this.written.push({ path: s.target, shownAs: s.shownAs, bytes: s.bytes, status: 'written' });
        this.staged = this.staged.filter((x) => x !== s);
      }
    } catch (e) {
      await this.discard();
      throw e;
    }
  }

  /** Removes every staged temp file (nothing of this run stays behind). */
  async discard(): Promise<void> {
    const todo = this.staged;
    this.staged = [];
    await Promise.all(todo.map((s) => unlink(s.tmp).catch(() => undefined)));
  }

  /** Runs `f` with these outputs, then commits what it staged; on a failure, discards. */
  async transaction<T>(f: (o: Outputs) => Promise<T>): Promise<T> {
    try {
      const r = await f(this);
      await this.commit();
      return r;
    } catch (e) {
      await this.discard();
      throw e;
    }
  }
}

/**
 * Known noise from native libraries, kept off the user's terminal. Dawn (the `webgpu` package,
 * and onnxruntime's WebGPU provider) prints, with fprintf on file descriptor 2 and no switch to
 * turn it off, two lines whenever it opens a Vulkan adapter:
 *
 *   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...
 *
 * (it clamps a limit gratc never uses). Node cannot dup2, so `quietNative` points fd 2 at a
 * temporary file by closing it and opening the file (POSIX gives the lowest free number, 2),
 * runs the call, puts the original stderr back the same way (reopened through /proc/self/fd),
 * and forwards whatever was written there except those lines. Linux only, and only when stderr
 * is a terminal, a pipe or /dev/null; otherwise the call runs unfiltered.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The lines dropped: Dawn's limit clamping, and nothing else. */
export const DAWN_LIMIT_NOTICE = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?\n?/gm;

/** Text written to fd 2 during a call, less the known noise. */
export const withoutNoise = (text: string): string => text.replace(DAWN_LIMIT_NOTICE, '');

/**
 * Makes `path` file descriptor 2 (close, then open: POSIX hands out the lowest free number).
 * Returns false, with fd 2 closed, when the open fails or another thread took number 2 between
 * the two calls (nothing then can be put back safely).
 */
function openAsFd2(path: string): boolean {
  closeSync(2);
  let fd: number;
  try { fd = openSync(path, 'a'); } catch { return false; }
  if (fd === 2) return true;
  closeSync(fd);
  return false;
}

/**
 * Only a terminal, a pipe or /dev/null is reopened. A regular file is not: `2>&1 >log` shares
 * one offset between stdout and stderr, which a second open of the file would not.
 */
function reopenable(): boolean {
  try {
    const st = fstatSync(2);
    return st.isFIFO() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

let capturing = false;

/**
 * Runs `f` with fd 2 captured, then forwards the captured text minus DAWN_LIMIT_NOTICE to the
 * original stderr. Nested calls run `f` directly.
 */
export async function quietNative<T>(f: () => T | Promise<T>): Promise<T> {
  if (process.platform !== 'linux' || capturing || !reopenable()) return f();
  let saved: number;
  try { saved = openSync('/proc/self/fd/2', 'a'); } catch { return f(); }
  const restore = (): void => { openAsFd2(`/proc/self/fd/${saved}`); closeSync(saved); };
  const path = join(tmpdir(), `gratc-native-stderr-${process.pid}-${randomBytes(6).toString('hex')}.txt`);
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch {
    closeSync(saved);
    return f();
  }
  if (!openAsFd2(path)) {
    restore();
    try { unlinkSync(path); } catch { /* gone already */ }
    return f();
  }
  capturing = true;
  try {
    return await f();
  } finally {
    capturing = false;
    restore();
    let text = '';
    try { text = readFileSync(path, 'utf8'); } catch { /* nothing to forward */ }
    try { unlinkSync(path); } catch { /* gone already */ }
    const rest = withoutNoise(text);
    if (rest) process.stderr.write(rest);
  }
}

/**
 * Where the CLI writes, injectable so tests can run commands in-process. `main.ts` builds the
 * process one; everything else takes an `Io`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Colour diagnostics on stderr: only when stderr is a TTY and NO_COLOR is unset. */
  readonly color: boolean;
  /** Folder relative paths are resolved against. */
  readonly cwd: string;
  /** Where progress is drawn (cli/progress.ts): stderr when it is a terminal, else none. */
  readonly progress?: NodeJS.WritableStream | null;
}

/** Colour only on a terminal, and never when NO_COLOR is set (to anything: https://no-color.org). */
export const useColor = (isTTY: boolean, env: Readonly<Record<string, string | undefined>>): boolean => isTTY && env.NO_COLOR === undefined;

export function processIo(): Io {
  return {
    out: (t) => { process.stdout.write(t); },
    err: (t) => { process.stderr.write(t); },
    color: useColor(process.stderr.isTTY === true, process.env),
    cwd: process.cwd(),
    progress: process.stderr.isTTY === true ? process.stderr : null,
  };
}

/** An Io that records what was written (tests, and callers that want the text). */
export function memoryIo(cwd = process.cwd()): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) { io.stdout += t; },
    err(t: string) { io.stderr += t; },
    color: false,
    cwd,
  };
  return io;
}

let cachedVersion: string | null = null;

/**
 * The package version, read from the nearest package.json named "gratc" above this module
 * (works from both `cli/` under vitest and `dist/cli/` when installed).
 */
export function version(): string {
  if (cachedVersion !== null) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'gratc' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
      } catch { /* keep looking */ }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return (cachedVersion = '0.0.0');
}

/** What a command's action gets: where to write, and how to set the exit code. */
export interface CommandContext {
  readonly io: Io;
  /** Raise the exit code (the highest one set wins). */
  exit(code: number): void;
}

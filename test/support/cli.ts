/** Helpers for the CLI tests: run gratc as a subprocess or in-process, and write .grat files. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryIo } from '../../cli/io.js';
import { runCli } from '../../cli/run.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MAIN = join(ROOT, 'dist', 'cli', 'main.js');

export interface Ran { code: number; stdout: string; stderr: string }

/** `node dist/cli/main.js ARGS` in `cwd` (built by test/support/build.ts). */
export function gratc(args: readonly string[], cwd: string, env: Record<string, string> = {}): Ran {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (vitest's globalSetup test/support/build.ts does it)`);
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.NO_COLOR;
  delete base.FORCE_COLOR;
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', env: { ...base, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The same, in-process (faster; sees the TypeScript sources). */
export async function gratcIn(args: readonly string[], cwd: string): Promise<Ran> {
  const io = memoryIo(cwd);
  const code = await runCli(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'gratc-cli-'));

/** Writes `name` (a .grat text) into dir and returns its name. */
export function put(dir: string, name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

export const FLUX = `# Flux GRAT-B: 16x16 groups, 3x3 neighbouring groups, 512 T5 tokens before the image
pattern flux_grat_b
grid   h=64 w=64
group  h=16 w=16
order  raster
text   512 before
image attends neighbors(1) + text
text  attends all
head_dim 128
dtype    bf16
`;

export const VIDEO = `pattern video_grat_x
grid  t=8 h=16 w=24
group t=2 h=8 w=8
order grouped
text  256 after
image attends crisscross + text
head_dim 128
`;

/** 70 = 4·16 + 6: the last group along w is 6 wide; sizes are bound on the command line. */
export const SYMBOLIC = `grid h=? w=?
group h=16 w=16
text ? before
image attends neighbors(h=1, w=2) + text
head_dim 64
`;

export const MALFORMED = `pattern broken
grid h=64 w=64
group h=16 w=16
image attends neighbours(1)
head_dim 128
`;

/** W0401: a term given twice is a warning, not an error. */
export const WARNS = `pattern twice
grid x=1000
group x=10
image attends neighbors(1) + neighbors(1)
head_dim 64
`;

export const LINE_1D = `pattern line
grid x=1000
group x=10
image attends neighbors(3)
head_dim 64
`;

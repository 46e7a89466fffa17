/**
 * What every command shares: parsing the size flags, reading a `.grat` file, running the
 * checker, and printing its diagnostics (stderr, `file:line:col`, colour only on a TTY).
 */
import { basename, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import type { Diagnostic, SourceFile } from '../dsl/diagnostics.js';
// render.js is light; the parser and checker (chevrotain) load on first use, so --help,
// --version and usage errors answer fast
import { lineCol, renderDiagnostics } from '../dsl/render.js';
import { identifierOf } from '../compiler/identifier.js';
import type { PatternIR } from '../compiler/ir.js';
import { SCHEDULE_KEYS } from '../codegen/targets.js';
import { readInput } from '../runtime/files.js';
import { terminalSafe } from './exit.js';
import { fileStep } from './fsutil.js';
import type { Io } from './io.js';

/** Diagnostic codes for a `?` size the command line did not bind (grid, text). */
export const UNBOUND_GRID = 'E0301';
export const UNBOUND_TEXT = 'E0302';

// ---- flag values (commander argParsers: an InvalidArgumentError becomes a usage error, exit 2) ----

/** `--grid 128x128`, `--grid 4x45x80`, `--grid 4096`: 1 to 3 positive integers, outermost first. */
export function parseGrid(value: string): number[] {
  const parts = value.trim().split(/[x×X,]/);
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => !/^\d+$/.test(p.trim()))) {
    throw new InvalidArgumentError('expected 1 to 3 positive integers joined by x, outermost first (e.g. 128x128 or 4x45x80).');
  }
  const sizes = parts.map((p) => Number(p.trim()));
  if (sizes.some((s) => !Number.isSafeInteger(s) || s < 1)) throw new InvalidArgumentError('every size must be an integer >= 1.');
  return sizes;
}

/** A non-negative integer flag value (`--text 512`, `--valid 77`, `--query 5`). */
export function parseCount(value: string): number {
  const v = value.trim();
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('expected a non-negative integer.');
  return Number(v);
}

/** `--query-at 10,20`: token coordinates, comma separated, outermost first. */
export function parseCoords(value: string): number[] {
  const parts = value.trim().split(',');
  if (parts.length > 3 || parts.some((p) => !/^\d+$/.test(p.trim()))) {
    throw new InvalidArgumentError('expected 1 to 3 non-negative integers joined by commas, outermost first (e.g. 10,20).');
  }
  return parts.map((p) => Number(p.trim()));
}

// ---- reading and checking ----

export interface SizeFlags {
  readonly grid?: number[];
  readonly text?: number;
}

export interface Loaded {
  /** The path as the user wrote it (used in diagnostics). */
  readonly path: string;
  readonly file: SourceFile;
  readonly ir: PatternIR | null;
  readonly diagnostics: readonly Diagnostic[];
}

/** Largest .grat file read (real patterns are a few hundred bytes; 100 MB aborted V8). */
export const MAX_GRAT_BYTES = 2 ** 20;

/** Reads a .grat file: a regular file of at most MAX_GRAT_BYTES (runtime/files.ts), else exit 2. */
export async function readSource(io: Io, path: string): Promise<SourceFile> {
  const { bytes } = await fileStep(() => readInput(resolve(io.cwd, path), path, { bytes: MAX_GRAT_BYTES, what: 'a .grat file' }));
  return { path, text: bytes.toString('utf8') };
}

/** The pattern name used when the file has none: the file's base name as an identifier. */
export function defaultNameFor(path: string): string {
  const base = basename(path).replace(/\.grat$/i, '');
  return identifierOf(base);
}

/**
 * Reads and checks one file. With `allowUnbound`, diagnostics for `?` sizes that no flag bound
 * are dropped (`check` does not need sizes): E0301 when `--grid` is absent, E0302 when `--text` is.
 * With `runtimeSizes` (`compile` for a backend that takes sizes at launch), those sizes are left
 * to launch (ir.runtime) instead.
 */
export async function loadPattern(io: Io, path: string, sizes: SizeFlags, allowUnbound = false, runtimeSizes = false): Promise<Loaded> {
  const file = await readSource(io, path);
  const { checkSource } = await import('../compiler/index.js');
  const result = checkSource(file.text, { grid: sizes.grid, text: sizes.text, defaultName: defaultNameFor(path), schedules: SCHEDULE_KEYS, runtimeSizes });
  let diagnostics = result.diagnostics;
  if (allowUnbound) {
    diagnostics = diagnostics.filter((d) => !((d.code === UNBOUND_GRID && sizes.grid === undefined) || (d.code === UNBOUND_TEXT && sizes.text === undefined)));
  }
  return { path, file, ir: result.ir, diagnostics };
}

// ---- printing ----

export interface Counts { errors: number; warnings: number }

export const countOf = (ds: readonly Diagnostic[]): Counts => ({
  errors: ds.filter((d) => d.severity === 'error').length,
  warnings: ds.filter((d) => d.severity === 'warning').length,
});

export const addCounts = (a: Counts, b: Counts): Counts => ({ errors: a.errors + b.errors, warnings: a.warnings + b.warnings });

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `1 error, 2 warnings`. */
export const summaryLine = (c: Counts): string => `${plural(c.errors, 'error')}, ${plural(c.warnings, 'warning')}`;

/** Renders diagnostics of one file to stderr (nothing when there are none). */
export function printDiagnostics(io: Io, ds: readonly Diagnostic[], file: SourceFile): void {
  if (ds.length === 0) return;
  // the path is shown as typed, but a hostile file name must not drive the terminal
  const text = renderDiagnostics([...ds], { ...file, path: terminalSafe(file.path) }, { color: io.color });
  io.err(`${text.replace(/\n+$/, '')}\n\n`);
}

/** Prints the summary line to stderr when there was anything to report. */
export function printSummary(io: Io, c: Counts): void {
  if (c.errors + c.warnings > 0) io.err(`${summaryLine(c)}\n`);
}

// ---- JSON ----

export interface DiagnosticJson {
  severity: string;
  code: string;
  message: string;
  line: number | null;
  col: number | null;
  endLine: number | null;
  endCol: number | null;
  hint: string | null;
  notes: { message: string; line: number | null; col: number | null; endLine: number | null; endCol: number | null }[];
}

function position(text: string, offset: number | undefined): { line: number | null; col: number | null } {
  if (offset === undefined) return { line: null, col: null };
  const lc = lineCol(text, offset);
  return { line: lc.line, col: lc.col };
}

/** A diagnostic as JSON: 1-based lines and columns (null when it has no span). */
export function diagnosticJson(d: Diagnostic, text: string): DiagnosticJson {
  const s = position(text, d.span?.start), e = position(text, d.span?.end);
  return {
    severity: d.severity,
    code: d.code,
    message: d.message,
    line: s.line,
    col: s.col,
    endLine: e.line,
    endCol: e.col,
    hint: d.hint ?? null,
    notes: (d.notes ?? []).map((n) => {
      const ns = position(text, n.span?.start), ne = position(text, n.span?.end);
      return { message: n.message, line: ns.line, col: ns.col, endLine: ne.line, endCol: ne.col };
    }),
  };
}

/**
 * JSON on stdout, two-space indented, one trailing newline. JSON.stringify escapes C0 controls
 * inside strings but leaves DEL, C1 and bidi controls raw; terminalSafe turns them into the
 * equivalent JSON escapes (line by line: the line breaks between values are layout).
 */
export const printJson = (io: Io, value: unknown): void => io.out(`${JSON.stringify(value, null, 2).split('\n').map(terminalSafe).join('\n')}\n`);

// ---- options every pattern command takes ----

export const gridOption = (): Option =>
  new Option('--grid <sizes>', 'bind the grid sizes, outermost first (e.g. 128x128 or 4x45x80)').argParser(parseGrid);

export const textOption = (): Option =>
  new Option('--text <n>', 'bind the text token count of `text ? before|after`').argParser(parseCount);

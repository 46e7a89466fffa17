/**
 * Diagnostics as text, esbuild/rustc style:
 *
 *   x.grat:3:7: error[E0002]: expected an integer or '?' after 'h='
 *       3 | grid h= w=64
 *         |         ^
 *     hint: ...
 *
 * Lines and columns are 1-based and computed here, from UTF-16 offsets (a column counts code units).
 */
import type { Diagnostic, SourceFile } from './diagnostics.js';
import type { Span } from './span.js';

/**
 * Characters that must not reach a terminal raw: C0 controls (ESC, CR, newline, tab…), DEL, C1
 * controls (U+009B is a one-byte CSI), line/paragraph separators, and the bidi controls that
 * reorder what is shown (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069: "Trojan Source").
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * Text from an input (a file name, a node name of a model, a source line, a message quoting
 * either) made safe for a terminal: each unsafe character is shown as `\uXXXX`. The one escaping
 * function of gratc: every name and path printed goes through it. Idempotent (its output holds
 * no unsafe character), and applied to JSON text it only rewrites characters inside strings into
 * equivalent JSON escapes.
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface RenderOptions {
  /** ANSI colours (default false). */
  readonly color?: boolean;
}

/** Offsets where each line starts; `\r\n`, `\r` and `\n` each end a line, as in the lexer. */
const computeLineStarts = (text: string): number[] => {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 /* \r */) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    } else if (c === 10 /* \n */) {
      starts.push(i + 1);
    }
  }
  return starts;
};

// Rendering many diagnostics of one file reuses its line table.
let cachedText: string | undefined;
let cachedStarts: number[] = [];
const lineStartsOf = (text: string): number[] => {
  if (text !== cachedText) {
    cachedText = text;
    cachedStarts = computeLineStarts(text);
  }
  return cachedStarts;
};

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Number.isFinite(x) ? x : lo));

/** 0-based index of the line holding `offset`. */
const lineIndex = (starts: readonly number[], offset: number): number => {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
};

/** 1-based line and column of a UTF-16 offset (clamped into the text). */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  const starts = lineStartsOf(text);
  const o = clamp(offset, 0, text.length);
  const i = lineIndex(starts, o);
  return { line: i + 1, col: o - starts[i] + 1 };
}

/** The text of 0-based line `i`, without its line break. */
const lineText = (text: string, starts: readonly number[], i: number): string => {
  const end = i + 1 < starts.length ? starts[i + 1] : text.length;
  return text.slice(starts[i], end).replace(/\r?\n$|\r$/, '');
};

interface Style { bold(s: string): string; sev(sev: Diagnostic['severity'], s: string): string; blue(s: string): string; cyan(s: string): string }
const plain: Style = { bold: (s) => s, sev: (_, s) => s, blue: (s) => s, cyan: (s) => s };
const ansi: Style = {
  bold: (s) => `\x1b[1m${s}\x1b[0m`,
  sev: (sev, s) => `\x1b[1;${sev === 'error' ? 31 : 33}m${s}\x1b[0m`,
  blue: (s) => `\x1b[34m${s}\x1b[0m`,
  cyan: (s) => `\x1b[1;36m${s}\x1b[0m`,
};

/** Longest source line shown whole; longer ones are cut to a window around the span. */
const MAX_SHOWN = 160;

/** `file:line:col`, for a span (or the path alone without one). */
const where = (file: SourceFile, s: Span | null): string => {
  if (!s) return file.path;
  const { line, col } = lineCol(file.text, s.start);
  return `${file.path}:${line}:${col}`;
};

/** The source line of a span's start, with carets under the span (clipped to that line). */
function snippet(file: SourceFile, s: Span, mark: (s: string) => string, st: Style): string[] {
  const starts = lineStartsOf(file.text);
  const start = clamp(s.start, 0, file.text.length);
  const end = clamp(s.end, start, file.text.length);
  const i = lineIndex(starts, start);
  const raw = lineText(file.text, starts, i);
  const rawFrom = start - starts[i], rawTo = Math.max(rawFrom, Math.min(end - starts[i], raw.length));
  // Unsafe characters are shown escaped (tabs stay tabs, for the caret line below); the span's
  // columns are moved by what the escapes before and inside it add.
  const safe = (s: string): string => s.split('\t').map(terminalSafe).join('\t');
  const before = safe(raw.slice(0, rawFrom)), inside = safe(raw.slice(rawFrom, rawTo));
  const full = before + inside + safe(raw.slice(rawTo));
  let from = before.length;
  let to = Math.max(from + 1, from + inside.length);
  let shown = full;
  if (full.length > MAX_SHOWN) {
    // A window around the span, marked with an ellipsis on each cut side.
    const ws = Math.max(0, from - 60);
    const we = Math.min(full.length, ws + MAX_SHOWN);
    shown = (ws > 0 ? '…' : '') + full.slice(ws, we) + (we < full.length ? '…' : '');
    const shift = ws > 0 ? ws - 1 : 0;
    from -= shift;
    to = Math.max(from + 1, Math.min(to - shift, we - shift));
  }
  const num = String(i + 1);
  const width = Math.max(5, num.length + 1);
  // Tabs stay tabs under the text so the carets line up whatever the tab width.
  const pad = shown.slice(0, from).replace(/[^\t]/g, ' ');
  return [
    `${st.blue(`${num.padStart(width)} |`)} ${shown}`,
    `${st.blue(`${' '.repeat(width)} |`)} ${pad}${mark('^'.repeat(to - from))}`,
  ];
}

export function renderDiagnostic(d: Diagnostic, file: SourceFile, options: RenderOptions = {}): string {
  const st = options.color ? ansi : plain;
  // the path and messages may quote input text: escaped before any colour is added
  const f = { ...file, path: terminalSafe(file.path) };
  const out = [`${st.bold(`${where(f, d.span)}:`)} ${st.sev(d.severity, `${d.severity}[${d.code}]`)}: ${terminalSafe(d.message)}`];
  if (d.span) out.push(...snippet(f, d.span, (x) => st.sev(d.severity, x), st));
  if (d.hint !== undefined) out.push(`  ${st.cyan('hint')}: ${terminalSafe(d.hint)}`);
  for (const n of d.notes ?? []) {
    const msg = terminalSafe(n.message);
    out.push(n.span ? `  ${st.cyan('note')}: ${where(f, n.span)}: ${msg}` : `  ${st.cyan('note')}: ${msg}`);
    if (n.span) out.push(...snippet(file, n.span, st.blue, st));
  }
  return out.join('\n');
}

/** Every diagnostic, in order, separated by blank lines. */
export function renderDiagnostics(ds: readonly Diagnostic[], file: SourceFile, options: RenderOptions = {}): string {
  return ds.map((d) => renderDiagnostic(d, file, options)).join('\n\n');
}

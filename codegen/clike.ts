/**
 * Printing the closed form's small expressions for C-like targets. CUDA and WGSL differ only in
 * how an integer is read as unsigned and how literals are checked; everything else is shared, so
 * a predicate or a window means the same in every kernel (tinygrad-style: shared rules, small
 * overrides). Only numbers and fixed identifiers reach the text.
 */
import type { AxisRange, Border, BoolExpr, IntExpr, Order } from '../compiler/ir.js';
import type { PlanTerm } from '../compiler/plan.js';

export interface Dialect {
  /** An integer read as unsigned (one compare tests 0 <= x < w): `(unsigned)(x)` in C, `u32(x)` in WGSL. */
  readonly asUnsigned: (intExpr: string) => string;
}

export const CUDA_DIALECT: Dialect = { asUnsigned: (x) => `(unsigned)(${x})` };
export const WGSL_DIALECT: Dialect = { asUnsigned: (x) => `u32(${x})` };

/**
 * A size as printed: a number (compiled in: printed as a literal, folded where it can be) or the
 * text of a run-time value (a field of the launch's geometry, e.g. `G.n0`), an identifier path.
 */
export type SizeExpr = number | string;

/** `n - k` for a size: folded when compiled in. */
export const minus = (n: SizeExpr, k: number): string => (typeof n === 'number' ? int(n - k) : k === 0 ? n : `(${n} - ${k})`);
const sz = (n: SizeExpr): string => (typeof n === 'number' ? int(n) : n);

/** A signed 32-bit literal, parenthesized when negative. */
export const int = (n: number): string => {
  if (!Number.isSafeInteger(n) || Math.abs(n) > 2 ** 31 - 1) throw new RangeError(`not a 32-bit integer: ${n}`);
  return n < 0 ? `(${n})` : `${n}`;
};

/**
 * An integer predicate expression over arrays `q` and `k` of group coordinates, mirroring
 * compiler/predicate.ts (floor_div/floor_mod: floor semantics, zero divisor 0). The same text in
 * C and WGSL: `abs`, `min`, `max` and the operators are spelled alike.
 */
export function printInt(e: IntExpr, ngroups: readonly SizeExpr[]): string {
  const r = (x: IntExpr): string => printInt(x, ngroups);
  switch (e.op) {
    case 'int': return int(e.value);
    case 'var':
      switch (e.ref) {
        case 'q': return `q[${e.axis}]`;
        case 'k': return `k[${e.axis}]`;
        case 'd': return `(k[${e.axis}] - q[${e.axis}])`;
        case 'n': return sz(ngroups[e.axis]);
      }
    // falls through (unreachable: the switch above is exhaustive)
    case 'neg': return `(-${r((e as { a: IntExpr }).a)})`;
    case 'abs': return `abs(${r(e.a)})`;
    case '+': case '-': case '*': return `(${r(e.a)} ${e.op} ${r(e.b)})`;
    case '/': return `floor_div(${r(e.a)}, ${r(e.b)})`;
    case '%': return `floor_mod(${r(e.a)}, ${r(e.b)})`;
    case 'min': case 'max': return `${e.op}(${r(e.a)}, ${r(e.b)})`;
  }
}

/** A condition as a boolean expression (`bool` in C++ and WGSL alike), parenthesized. */
export function printPredicate(e: BoolExpr, ngroups: readonly SizeExpr[]): string {
  const r = (x: BoolExpr): string => printPredicate(x, ngroups);
  switch (e.op) {
    case 'bool': return e.value ? 'true' : 'false';
    case 'not': return `!${r(e.a)}`;
    case '&&': case '||': return `(${r(e.a)} ${e.op} ${r(e.b)})`;
    default: return `(${printInt(e.a, ngroups)} ${e.op} ${printInt(e.b, ngroups)})`;
  }
}

/**
 * `lo = ...; hi = ...;` for one axis of a term's window (compiler/keys.ts axisInterval with the
 * border), q the query group's coordinates; `lo`/`hi` are the target's lvalues for this axis.
 * With a run-time group count n, a shifted window's "wider than the axis" case is folded into
 * the clamps (lo = max(min(max(q + lo, 0), n - width), 0), hi = min(lo + width - 1, n - 1)).
 */
export function printAxisWindow(r: AxisRange, a: number, n: SizeExpr, border: Border, lo: string, hi: string): string {
  if (r.kind === 'all') return `${lo} = 0; ${hi} = ${minus(n, 1)};`;
  if (r.lo > r.hi) return `${lo} = 1; ${hi} = 0;`;
  if (border === 'shift') {
    const width = r.hi - r.lo + 1;
    if (typeof n === 'string') return `${lo} = ${shiftStart(r.lo, width, a, n)}; ${hi} = min(${lo} + ${int(width - 1)}, ${minus(n, 1)});`;
    if (width >= n) return `${lo} = 0; ${hi} = ${int(n - 1)};`;
    return `${lo} = min(max(q[${a}] + ${int(r.lo)}, 0), ${int(n - width)}); ${hi} = ${lo} + ${int(width - 1)};`;
  }
  return `${lo} = max(q[${a}] + ${int(r.lo)}, 0); ${hi} = min(q[${a}] + ${int(r.hi)}, ${minus(n, 1)});`;
}

/** A shifted window's first key group along axis a for a run-time group count n (0 when the window is wider than the axis). */
const shiftStart = (lo: number, width: number, a: number, n: string): string => `max(min(max(q[${a}] + ${int(lo)}, 0), ${minus(n, width)}), 0)`;

/** Tokens of group c along axis a (the last group of a ragged axis is shorter). */
export const printGroupLength = (size: SizeExpr, group: number, a: number): string =>
  typeof size === 'number' && size % group === 0 ? int(group) : `min(${int(group)}, ${sz(size)} - c[${a}] * ${int(group)})`;

/**
 * The first token of group c (compiler/keys.ts groupedStart, or the group's first raster row),
 * given lengths `len0..` of the group along each axis already in scope.
 */
export function printGroupBase(order: Order, size: readonly SizeExpr[], group: readonly number[], imageOffset: SizeExpr): string {
  const D = size.length;
  if (order === 'grouped') {
    const terms: string[] = [];
    for (let a = 0; a < D; a++) {
      const f = [`min(c[${a}] * ${int(group[a])}, ${sz(size[a])})`];
      for (let j = 0; j < a; j++) f.push(`len${j}`);
      for (let j = a + 1; j < D; j++) f.push(sz(size[j]));
      terms.push(f.join(' * '));
    }
    return `${sz(imageOffset)} + ${terms.join(' + ')}`;
  }
  let lin = `c[0] * ${int(group[0])}`;
  for (let a = 1; a < D; a++) lin = `(${lin}) * ${sz(size[a])} + c[${a}] * ${int(group[a])}`;
  return `${sz(imageOffset)} + ${lin}`;
}

/** A boolean: does term t's box (or predicate bounds) contain key group k, and its predicate hold? */
export function printTermContains(t: PlanTerm, ngroups: readonly SizeExpr[], d: Dialect): string {
  const axes = t.kind === 'box' ? t.axes : t.bounds;
  const border = t.kind === 'box' ? t.border : 'clip';
  const parts: string[] = [];
  axes.forEach((r, a) => {
    const n = ngroups[a];
    if (r.kind === 'all') return;
    if (r.lo > r.hi) { parts.push('false'); return; }
    if (border === 'shift') {
      const width = r.hi - r.lo + 1;
      if (typeof n === 'string') { parts.push(`(${d.asUnsigned(`k[${a}] - ${shiftStart(r.lo, width, a, n)}`)} < ${width}u)`); return; }
      if (width >= n) return;
      parts.push(`(${d.asUnsigned(`k[${a}] - min(max(q[${a}] + ${int(r.lo)}, 0), ${int(n - width)})`)} < ${width}u)`);
      return;
    }
    // clip: q+lo <= k <= q+hi (k is always inside the grid)
    parts.push(`(k[${a}] - q[${a}] >= ${int(r.lo)} && k[${a}] - q[${a}] <= ${int(r.hi)})`);
  });
  if (t.kind === 'predicate') parts.push(printPredicate(t.expr, ngroups));
  return parts.length ? parts.join(' && ') : 'true';
}

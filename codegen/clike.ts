/**
 * Printing the closed form's small expressions for C-like targets. CUDA and WGSL differ only in
 * how a boolean becomes an integer and how literals are checked; everything else is shared, so a
 * predicate or a window means the same in every kernel (tinygrad-style: shared rules, small
 * overrides). Only numbers and fixed identifiers reach the text.
 */
import type { AxisRange, Border, PExpr } from '../compiler/ir.js';

export interface Dialect {
  /** An integer from a comparison or logical expression: `(int)(x)` in C, `i32(x)` in WGSL. */
  readonly asInt: (boolExpr: string) => string;
}

export const CUDA_DIALECT: Dialect = { asInt: (x) => `(int)(${x})` };
export const WGSL_DIALECT: Dialect = { asInt: (x) => `i32(${x})` };

/** A signed 32-bit literal, parenthesized when negative. */
export const int = (n: number): string => {
  if (!Number.isSafeInteger(n) || Math.abs(n) > 2 ** 31 - 1) throw new RangeError(`not a 32-bit integer: ${n}`);
  return n < 0 ? `(${n})` : `${n}`;
};

/**
 * A predicate as an integer expression (0/1 for booleans) over arrays `q` and `k` of group
 * coordinates, mirroring compiler/predicate.ts (floor_div/floor_mod: floor semantics, zero divisor 0).
 */
export function printPredicate(e: PExpr, ngroups: readonly number[], d: Dialect): string {
  const r = (x: PExpr): string => printPredicate(x, ngroups, d);
  switch (e.op) {
    case 'int': return int(e.value);
    case 'var':
      switch (e.ref) {
        case 'q': return `q[${e.axis}]`;
        case 'k': return `k[${e.axis}]`;
        case 'd': return `(k[${e.axis}] - q[${e.axis}])`;
        case 'n': return int(ngroups[e.axis]);
      }
      break;
    case 'neg': return `(-${r(e.a)})`;
    case 'not': return d.asInt(`${r(e.a)} == 0`);
    case 'abs': return `abs(${r(e.a)})`;
    case '+': case '-': case '*': return `(${r(e.a)} ${e.op} ${r(e.b)})`;
    case '/': return `floor_div(${r(e.a)}, ${r(e.b)})`;
    case '%': return `floor_mod(${r(e.a)}, ${r(e.b)})`;
    case 'min': case 'max': return `${e.op}(${r(e.a)}, ${r(e.b)})`;
    case '==': case '!=': case '<': case '<=': case '>': case '>=': return d.asInt(`${r(e.a)} ${e.op} ${r(e.b)}`);
    case '&&': return d.asInt(`(${r(e.a)} != 0) && (${r(e.b)} != 0)`);
    case '||': return d.asInt(`(${r(e.a)} != 0) || (${r(e.b)} != 0)`);
  }
  throw new Error(`unknown predicate op ${(e as { op: string }).op}`);
}

/**
 * `lo = ...; hi = ...;` for one axis of a term's window (compiler/keys.ts axisInterval with the
 * border), q the query group's coordinates; `lo`/`hi` are the target's lvalues for this axis.
 */
export function printAxisWindow(r: AxisRange, a: number, n: number, border: Border, lo: string, hi: string): string {
  if (r.kind === 'all') return `${lo} = 0; ${hi} = ${int(n - 1)};`;
  if (r.lo > r.hi) return `${lo} = 1; ${hi} = 0;`;
  if (border === 'shift') {
    const width = r.hi - r.lo + 1;
    if (width >= n) return `${lo} = 0; ${hi} = ${int(n - 1)};`;
    return `${lo} = min(max(q[${a}] + ${int(r.lo)}, 0), ${int(n - width)}); ${hi} = ${lo} + ${int(width - 1)};`;
  }
  return `${lo} = max(q[${a}] + ${int(r.lo)}, 0); ${hi} = min(q[${a}] + ${int(r.hi)}, ${int(n - 1)});`;
}

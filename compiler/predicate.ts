/**
 * Predicates over group coordinates: evaluation (a closure tree, no string eval) and the
 * interval analysis that bounds the key-group window each predicate can touch.
 * Arithmetic is on integers: `/` and `%` floor; a zero divisor gives 0 (kernels emit the same).
 */
import type { AxisRange, BoolExpr, CmpOp, IntExpr } from './ir.js';

/** Coordinates seen by a predicate: query group, key group, group counts; one entry per dim. */
export interface Coords {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  n: ArrayLike<number>;
}

type IntFn = (c: Coords) => number;
type BoolFn = (c: Coords) => boolean;

// Exact: the checker proved every value within ±(2^31 - 1), where float64 arithmetic is exact.
const floorDiv = (a: number, b: number): number => (b === 0 ? 0 : Math.floor(a / b));
const floorMod = (a: number, b: number): number => (b === 0 ? 0 : a - b * Math.floor(a / b));

/** An integer expression as a closure. */
export function compileInt(e: IntExpr): IntFn {
  switch (e.op) {
    case 'int': { const v = e.value; return () => v; }
    case 'var': {
      const i = e.axis;
      switch (e.ref) {
        case 'q': return (c) => c.q[i];
        case 'k': return (c) => c.k[i];
        case 'd': return (c) => c.k[i] - c.q[i];
        case 'n': return (c) => c.n[i];
      }
    }
    // falls through (unreachable: the switch above is exhaustive)
    case 'neg': { const a = compileInt((e as { a: IntExpr }).a); return (c) => -a(c); }
    case 'abs': { const a = compileInt(e.a); return (c) => Math.abs(a(c)); }
  }
  const a = compileInt(e.a), b = compileInt(e.b);
  switch (e.op) {
    case '+': return (c) => a(c) + b(c);
    case '-': return (c) => a(c) - b(c);
    case '*': return (c) => a(c) * b(c);
    case '/': return (c) => floorDiv(a(c), b(c));
    case '%': return (c) => floorMod(a(c), b(c));
    case 'min': return (c) => Math.min(a(c), b(c));
    case 'max': return (c) => Math.max(a(c), b(c));
  }
}

/** The comparison operators as functions on numbers. */
export const COMPARE: Record<CmpOp, (a: number, b: number) => boolean> = {
  '==': (a, b) => a === b, '!=': (a, b) => a !== b, '<': (a, b) => a < b,
  '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b,
};

/** A condition as a closure. */
export function compilePredicate(e: BoolExpr): BoolFn {
  switch (e.op) {
    case 'bool': { const v = e.value; return () => v; }
    case 'not': { const a = compilePredicate(e.a); return (c) => !a(c); }
    case '&&': { const a = compilePredicate(e.a), b = compilePredicate(e.b); return (c) => a(c) && b(c); }
    case '||': { const a = compilePredicate(e.a), b = compilePredicate(e.b); return (c) => a(c) || b(c); }
  }
  const a = compileInt(e.a), b = compileInt(e.b), cmp = COMPARE[e.op];
  return (c) => cmp(a(c), b(c));
}

// ---- interval analysis: which d_i = k_i - q_i can satisfy the predicate ----

type Iv = readonly [number, number]; // inclusive; lo > hi = empty
const ALL: Iv = [-Infinity, Infinity];
const meet = (a: Iv, b: Iv): Iv => [Math.max(a[0], b[0]), Math.min(a[1], b[1])];
const hull = (a: Iv, b: Iv): Iv => (a[0] > a[1] ? b : b[0] > b[1] ? a : [Math.min(a[0], b[0]), Math.max(a[1], b[1])]);

/** For a comparison `x op c` (x a delta, c a constant), the set of x satisfying it. */
function solve(op: string, c: number, absOf: boolean): Iv {
  // |x| op c  →  bound on |x|, then mirror
  let iv: Iv;
  switch (op) {
    case '==': iv = [c, c]; break;
    case '<': iv = [-Infinity, c - 1]; break;
    case '<=': iv = [-Infinity, c]; break;
    case '>': iv = [c + 1, Infinity]; break;
    case '>=': iv = [c, Infinity]; break;
    default: return ALL; // != leaves a hole: no interval bound
  }
  if (!absOf) return iv;
  // |x| in [lo, hi] ∩ [0, ∞) → x in [-hi, hi] (holes inside are over-approximated away)
  const hi = iv[1];
  if (hi < 0 || iv[0] > hi) return [1, 0];
  return [-hi, hi];
}

/** `d_axis` or `|d_axis|`: the shapes compiler/simplify.ts leaves on the left of a comparison. */
function deltaAtom(e: IntExpr): { axis: number; abs: boolean } | null {
  if (e.op === 'var' && e.ref === 'd') return { axis: e.axis, abs: false };
  if (e.op === 'abs' && e.a.op === 'var' && e.a.ref === 'd') return { axis: e.a.axis, abs: true };
  return null;
}

function bound(e: BoolExpr, dims: number): Iv[] {
  const all = (): Iv[] => Array.from({ length: dims }, () => ALL);
  switch (e.op) {
    case '&&': { const a = bound(e.a, dims), b = bound(e.b, dims); return a.map((x, i) => meet(x, b[i])); }
    case '||': {
      const a = bound(e.a, dims), b = bound(e.b, dims);
      // if either side is unsatisfiable on some axis, it contributes nothing anywhere
      const aEmpty = a.some((x) => x[0] > x[1]), bEmpty = b.some((x) => x[0] > x[1]);
      if (aEmpty) return b;
      if (bEmpty) return a;
      return a.map((x, i) => hull(x, b[i]));
    }
    case '==': case '<': case '<=': case '>': case '>=': {
      const out = all();
      const l = deltaAtom(e.a);
      if (l && e.b.op === 'int') out[l.axis] = solve(e.op, e.b.value, l.abs);
      return out;
    }
    case 'bool': return e.value ? all() : all().map(() => [1, 0] as Iv);
    default: return all();
  }
}

/**
 * Per-axis delta window outside of which the predicate is false for sure. With the group counts
 * (at most `groups[i]` along axis i), a window is cut to the deltas the grid has, -(n-1)..n-1,
 * and one that covers them all is `all`.
 */
export function deltaBounds(e: BoolExpr, dims: number, groups?: readonly number[]): AxisRange[] {
  return bound(e, dims).map((iv, i): AxisRange => {
    const top = groups ? groups[i] - 1 : 2 ** 31 - 1;
    const lo = Math.max(iv[0], -top), hi = Math.min(iv[1], top);
    if (lo > hi) return { kind: 'offset', lo: 1, hi: 0 }; // empty
    if (lo === -top && hi === top && (groups || (iv[0] === -Infinity && iv[1] === Infinity))) return { kind: 'all' };
    return { kind: 'offset', lo, hi };
  });
}

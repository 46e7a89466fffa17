/**
 * The predicate simplifier: an IR → IR pass run by the checker before bounds are derived, so
 * `dt >= -2` reads as `d_t >= -2` (a bound) and not as `d_t >= neg(2)` (none), and kernels print
 * less. Every rule keeps the predicate's value for every pair of groups of the grid:
 *   - constants fold (`n` too, once the grid is bound), and so does any value or comparison the
 *     interval analysis (int_range.ts) decides over the grid (`dh >= -2147483647` is true);
 *   - `-c` → the literal, `--x` → x, `k - q` → d, `x + 0`, `x * 1`, `x / 1` → x, `x * 0`, `x % 1` → 0;
 *   - comparisons put the constant on the right and move constants off the left
 *     (`-2 <= dt`, `dt + 1 <= 0`, `-dt >= 2` all become `dt <op> c`);
 *   - `!` is pushed inward (negated comparisons, De Morgan), and `&&`/`||` drop constant sides.
 * No rule creates a value the source did not compute except a moved constant, which is kept only
 * where it fits ±(2^31 - 1): the checker's proof that every value fits still holds afterwards.
 */
import type { BoolExpr, CmpOp, IntExpr, IntOp } from './ir.js';
import { binaryRange, constant, fits, floorDiv, floorMod, unaryRange, varRange, type IntRange } from './int_range.js';

/** Per dim, the group counts the grid may have ([n, n] once bound), as the checker's context. */
export type GroupRanges = readonly (readonly [number, number])[];

interface Ranged { readonly e: IntExpr; readonly r: IntRange }

/** `a op b` ⇔ `b flip(op) a`. */
export const FLIP: Record<CmpOp, CmpOp> = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
/** `!(a op b)` ⇔ `a negate(op) b` (integers are totally ordered). */
const NEGATE: Record<CmpOp, CmpOp> = { '==': '!=', '!=': '==', '<': '>=', '<=': '>', '>': '<=', '>=': '<' };

const lit = (v: bigint): Ranged => ({ e: { op: 'int', value: Number(v) }, r: constant(v) });
const isLit = (x: Ranged, v?: bigint): boolean => x.e.op === 'int' && (v === undefined || BigInt(x.e.value) === v);
const litValue = (x: IntExpr): bigint => BigInt((x as { value: number }).value);

/** `a op b` exactly, with compiler/predicate.ts's floor semantics. */
function exactOp(op: IntOp, a: bigint, b: bigint): bigint {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return b === 0n ? 0n : floorDiv(a, b);
    case '%': return b === 0n ? 0n : floorMod(a, b);
    case 'min': return a < b ? a : b;
    case 'max': return a > b ? a : b;
  }
}

function simplifyInt(e: IntExpr, groups: GroupRanges): Ranged {
  switch (e.op) {
    case 'int': return lit(BigInt(e.value));
    case 'var': {
      const [lo, hi] = groups[e.axis];
      if (e.ref === 'n' && lo === hi) return lit(BigInt(lo));
      return { e, r: varRange(e.ref, lo, hi) };
    }
    case 'neg': case 'abs': {
      const a = simplifyInt(e.a, groups);
      const r = unaryRange(e.op, a.r);
      if (r[0] === r[1] && fits(r)) return lit(r[0]);
      if (e.op === 'neg' && a.e.op === 'neg') return { e: a.e.a, r };
      // |−x| = |x|; |x| = x where x >= 0
      if (e.op === 'abs' && a.e.op === 'neg') return { e: { op: 'abs', a: a.e.a }, r };
      if (e.op === 'abs' && a.r[0] >= 0n) return a;
      return { e: { op: e.op, a: a.e }, r };
    }
  }
  const a = simplifyInt(e.a, groups), b = simplifyInt(e.b, groups);
  const r = binaryRange(e.op, a.r, b.r);
  if (r[0] === r[1] && fits(r)) return lit(r[0]);
  if (isLit(a) && isLit(b)) {
    const v = exactOp(e.op, litValue(a.e), litValue(b.e));
    if (fits([v, v])) return lit(v);
  }
  switch (e.op) {
    case '+':
      if (isLit(b, 0n)) return a;
      if (isLit(a, 0n)) return b;
      break;
    case '-':
      if (isLit(b, 0n)) return a;
      if (a.e.op === 'var' && a.e.ref === 'k' && b.e.op === 'var' && b.e.ref === 'q' && a.e.axis === b.e.axis) {
        return { e: { op: 'var', ref: 'd', axis: a.e.axis }, r };
      }
      break;
    case '*':
      if (isLit(b, 1n)) return a;
      if (isLit(a, 1n)) return b;
      break;
    case '/':
      if (isLit(b, 1n)) return a;
      break;
    case 'min': case 'max': {
      // one side below the other everywhere: min/max is that side
      const lower = a.r[1] <= b.r[0] ? a : b.r[1] <= a.r[0] ? b : null;
      if (lower) return e.op === 'min' ? lower : lower === a ? b : a;
      break;
    }
  }
  return { e: { op: e.op, a: a.e, b: b.e }, r };
}

const TRUE: BoolExpr = { op: 'bool', value: true };
const FALSE: BoolExpr = { op: 'bool', value: false };
const bool = (v: boolean): BoolExpr => (v ? TRUE : FALSE);

/** The comparison's value over every pair of groups, when the ranges decide it. */
function decide(op: CmpOp, a: IntRange, b: IntRange): boolean | null {
  const lt = a[1] < b[0], ge = a[0] >= b[1], gt = a[0] > b[1], le = a[1] <= b[0];
  const eq = a[0] === a[1] && b[0] === b[1] && a[0] === b[0], ne = a[1] < b[0] || b[1] < a[0];
  switch (op) {
    case '<': return lt ? true : ge ? false : null;
    case '<=': return le ? true : gt ? false : null;
    case '>': return gt ? true : le ? false : null;
    case '>=': return ge ? true : lt ? false : null;
    case '==': return eq ? true : ne ? false : null;
    case '!=': return ne ? true : eq ? false : null;
  }
}

/**
 * `x op c` with constants moved off x: `x + c1 op c` → `x op c - c1`, `x - c1`, `c1 - x`, `-x`.
 * Stops where a moved constant would not fit 32 bits (the comparison stays as it was).
 */
function isolate(op: CmpOp, x: Ranged, c: bigint, groups: GroupRanges): { op: CmpOp; x: IntExpr; c: bigint } {
  for (;;) {
    const e = x.e;
    let next: { op: CmpOp; x: IntExpr; c: bigint } | null = null;
    if (e.op === 'neg') next = { op: FLIP[op], x: e.a, c: -c };
    else if ((e.op === '+' || e.op === '-') && e.b.op === 'int') next = { op, x: e.a, c: e.op === '+' ? c - litValue(e.b) : c + litValue(e.b) };
    else if (e.op === '+' && e.a.op === 'int') next = { op, x: e.b, c: c - litValue(e.a) };
    else if (e.op === '-' && e.a.op === 'int') next = { op: FLIP[op], x: e.b, c: litValue(e.a) - c };
    if (!next || !fits([next.c, next.c])) return { op, x: e, c };
    op = next.op;
    c = next.c;
    x = simplifyInt(next.x, groups);
  }
}

function simplifyBool(e: BoolExpr, groups: GroupRanges): BoolExpr {
  switch (e.op) {
    case 'bool': return e;
    case 'not': return negate(simplifyBool(e.a, groups));
    case '&&': case '||': {
      const a = simplifyBool(e.a, groups), b = simplifyBool(e.b, groups);
      const absorbing = e.op === '||'; // true absorbs ||, false absorbs &&
      for (const [x, y] of [[a, b], [b, a]]) {
        if (x.op === 'bool') return x.value === absorbing ? x : y;
      }
      return { op: e.op, a, b };
    }
  }
  let a = simplifyInt(e.a, groups), b = simplifyInt(e.b, groups), op: CmpOp = e.op;
  const decided = decide(op, a.r, b.r);
  if (decided !== null) return bool(decided);
  if (isLit(a) && !isLit(b)) [a, b, op] = [b, a, FLIP[op]];
  if (!isLit(b)) return { op, a: a.e, b: b.e };
  const iso = isolate(op, a, litValue(b.e), groups);
  return { op: iso.op, a: iso.x, b: { op: 'int', value: Number(iso.c) } };
}

/** `!x` for a simplified x, pushed inward so no `not` is left. */
function negate(x: BoolExpr): BoolExpr {
  switch (x.op) {
    case 'bool': return bool(!x.value);
    case 'not': return x.a;
    case '&&': return { op: '||', a: negate(x.a), b: negate(x.b) };
    case '||': return { op: '&&', a: negate(x.a), b: negate(x.b) };
    default: return { op: NEGATE[x.op], a: x.a, b: x.b };
  }
}

/** The simplified predicate (same value for every pair of groups of any grid in `groups`). */
export const simplify = (e: BoolExpr, groups: GroupRanges): BoolExpr => simplifyBool(e, groups);

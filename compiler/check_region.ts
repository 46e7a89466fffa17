/**
 * Regions and predicates: AST terms → IR terms, with positioned diagnostics.
 */
import type { Expr, Region, RegionTerm, CallArg, Ident } from '../dsl/ast.js';
import { diag, type Diagnostic } from '../dsl/diagnostics.js';
import type { AxisRange, Border, BoolExpr, BoxTerm, CmpOp, ImageRegion, ImageTerm, IntExpr, IntOp, TextRegion } from './ir.js';
import { deltaBounds } from './predicate.js';
import { simplify } from './simplify.js';
import { binaryRange, constant, fits, INT_LIMIT, showRange, unaryRange, varRange, type IntRange } from './int_range.js';
import { didYouMean } from './nearest.js';

export const MAX_LITERAL = 2 ** 31 - 1;
const TERM_NAMES = ['neighbors', 'crisscross', 'where', 'grid', 'text', 'all'];
const MAX_PRED_DEPTH = 64;

export interface RegionContext {
  readonly dimNames: readonly string[];
  /**
   * Per dim, the group counts the grid may have: [n, n] once its size is bound, [1, most] while
   * it is `?`. Predicate ranges are proved over these (int_range.ts).
   */
  readonly groups: readonly (readonly [number, number])[];
  /** The ranges are final (run-time sizes: 1 to the maxima), so a possible overflow is E0506, not W0503. */
  readonly proven?: boolean;
  readonly border: Border;
  readonly hasText: boolean;
  readonly source: string;
  readonly diags: Diagnostic[];
}

/** A term's source text for display: comments dropped, whitespace (line breaks of a continued region included) collapsed. */
const originOf = (ctx: RegionContext, t: { span: { start: number; end: number } }) =>
  ctx.source.slice(t.span.start, t.span.end).replace(/#[^\r\n]*/g, ' ').replace(/\s+/g, ' ').trim();

function noArgs(ctx: RegionContext, t: RegionTerm & { kind: 'call' }): void {
  ctx.diags.push(diag('E0402', `'${t.name.name}' takes no arguments`, t.span, { hint: `write '${t.name.name}' alone` }));
}

function needText(ctx: RegionContext, at: Ident): boolean {
  if (ctx.hasText) return true;
  ctx.diags.push(diag('E0404', `'${at.name}' names the text keys, but the pattern has no text segment`, at.span, { hint: "add a 'text N before' or 'text N after' statement, or remove this term" }));
  return false;
}

function neighbors(ctx: RegionContext, t: RegionTerm & { kind: 'call' }): BoxTerm | null {
  const D = ctx.dimNames.length;
  const radii = new Array<number | null>(D).fill(null);
  const named = t.args.filter((a) => a.kind === 'named');
  const positional = t.args.filter((a) => a.kind === 'positional');
  const example = `neighbors(${ctx.dimNames.map((n) => `${n}=1`).join(', ')})`;
  if (t.args.length === 0 || (named.length > 0 && positional.length > 0) || positional.length > 1) {
    ctx.diags.push(diag('E0402', 'neighbors() takes one radius for every dim, or one radius per dim by name', t.span, { hint: `e.g. neighbors(1) or ${example}` }));
    return null;
  }
  let ok = true;
  const radius = (v: { value: number; text: string; span: { start: number; end: number } }): number | null => {
    if (!Number.isSafeInteger(v.value) || Math.abs(v.value) > MAX_LITERAL) {
      ctx.diags.push(diag('E0205', `radius ${v.text} is too large`, v.span, { hint: `at most ${MAX_LITERAL}` }));
      return null;
    }
    if (v.value < 0) {
      ctx.diags.push(diag('E0403', `radius must be >= 0, got ${v.value}`, v.span, { hint: 'radius 0 means the same group only' }));
      return null;
    }
    return v.value;
  };
  if (positional.length === 1) {
    const a = positional[0] as CallArg & { kind: 'positional' };
    if (!('kind' in a.value) || a.value.kind !== 'int') {
      ctx.diags.push(diag('E0402', 'neighbors() expects an integer radius', a.span, { hint: `e.g. neighbors(1) or ${example}` }));
      return null;
    }
    const r = radius(a.value);
    if (r === null) return null;
    radii.fill(r);
  } else {
    for (const a of named as (CallArg & { kind: 'named' })[]) {
      const i = ctx.dimNames.indexOf(a.key.name);
      if (i < 0) {
        ctx.diags.push(diag('E0408', `unknown dim '${a.key.name}'`, a.key.span, didYouMean(a.key.name, ctx.dimNames)));
        ok = false;
        continue;
      }
      if (radii[i] !== null) {
        ctx.diags.push(diag('E0402', `dim '${a.key.name}' is given twice`, a.key.span));
        ok = false;
        continue;
      }
      const r = radius(a.value);
      if (r === null) { ok = false; continue; }
      radii[i] = r;
    }
    const missing = ctx.dimNames.filter((_, i) => radii[i] === null);
    if (ok && missing.length > 0) {
      ctx.diags.push(diag('E0402', `neighbors() needs a radius for every dim; missing ${missing.join(', ')}`, t.span, { hint: `e.g. ${example}` }));
      return null;
    }
  }
  if (!ok) return null;
  return { kind: 'box', axes: radii.map((r) => ({ kind: 'offset', lo: -r!, hi: r! })), border: ctx.border, origin: originOf(ctx, t) };
}

/** Official GRAT-X: a box per axis, that axis fixed. Lines: a box per axis, that axis free. */
function crisscross(ctx: RegionContext, form: 'planes' | 'lines', origin: string): BoxTerm[] {
  const D = ctx.dimNames.length;
  const same: AxisRange = { kind: 'offset', lo: 0, hi: 0 };
  const all: AxisRange = { kind: 'all' };
  if (form === 'lines' && D === 1) return [{ kind: 'box', axes: [all], border: 'clip', origin }];
  return Array.from({ length: D }, (_, i) => ({
    kind: 'box' as const,
    axes: Array.from({ length: D }, (_, j) => (form === 'planes' ? (j === i ? same : all) : j === i ? all : same)),
    border: 'clip' as const,
    origin,
  }));
}

/**
 * A typed predicate node: a condition, or an integer with `range`, the values it takes over the
 * grid (null once an overflow below was reported), and `exact`, whether that range is over bound
 * sizes only (so an overflow is certain to be possible: an error, not a warning).
 */
type IntNode = { readonly type: 'int'; readonly e: IntExpr; readonly range: IntRange | null; readonly exact: boolean };
type BoolNode = { readonly type: 'bool'; readonly e: BoolExpr };
type Typed = IntNode | BoolNode | null;

const LIMIT_HINT = `kernels compute predicates in 32-bit integers: every value must stay within ±${INT_LIMIT.toLocaleString('en-US')} for every pair of query and key groups`;
const INT_OPS: readonly string[] = ['+', '-', '*', '/', '%'];

/** Reports a value range past the 32-bit limit at the node that first leaves it; null range then. */
function ranged(ctx: RegionContext, at: Expr, e: IntExpr, range: IntRange | null, exact: boolean): IntNode | null {
  if (range === null || fits(range)) return { type: 'int', e, range, exact };
  if (exact) {
    const message = range[0] === range[1]
      ? `this value is ${showRange(range)}, past 32-bit integers`
      : `cannot prove this value fits 32-bit integers: ${ctx.proven ? 'up to the run-time size limits' : 'on this grid'} it lies within ${showRange(range)}`;
    ctx.diags.push(diag('E0506', message, at.span, { hint: LIMIT_HINT }));
    return null;
  }
  ctx.diags.push(diag('W0503', `with grid sizes left as ?, this value may lie within ${showRange(range)}, past 32-bit integers`, at.span,
    { hint: 'bind the sizes (e.g. --grid) to check it; compile refuses the pattern if it can overflow' }));
  return { type: 'int', e, range: null, exact };
}

function predicate(ctx: RegionContext, e: Expr, depth = 0): Typed {
  if (depth > MAX_PRED_DEPTH) {
    ctx.diags.push(diag('E0505', `expression nested too deeply (more than ${MAX_PRED_DEPTH} levels)`, e.span));
    return null;
  }
  const sub = (x: Expr) => predicate(ctx, x, depth + 1);
  function want(x: Typed, type: 'int', at: Expr, what: string): x is IntNode;
  function want(x: Typed, type: 'bool', at: Expr, what: string): x is BoolNode;
  function want(x: Typed, type: 'int' | 'bool', at: Expr, what: string): boolean {
    if (!x) return false;
    if (x.type === type) return true;
    ctx.diags.push(diag('E0502', `${what} needs ${type === 'int' ? 'a number' : 'a condition'}, but this is ${x.type === 'int' ? 'a number' : 'a condition'}`, at.span,
      type === 'bool' ? { hint: 'compare it, e.g. `dh == 0`' } : {}));
    return false;
  }
  const binRange = (op: IntOp, a: IntNode, b: IntNode) => (a.range && b.range ? binaryRange(op, a.range, b.range) : null);
  switch (e.kind) {
    case 'int': {
      if (!Number.isSafeInteger(e.lit.value) || Math.abs(e.lit.value) > MAX_LITERAL) {
        ctx.diags.push(diag('E0205', `number ${e.lit.text} is too large`, e.span, { hint: `at most ${MAX_LITERAL}` }));
        return null;
      }
      return { type: 'int', e: { op: 'int', value: e.lit.value }, range: constant(e.lit.value), exact: true };
    }
    case 'var': {
      const name = e.name.name;
      const ref = name[0] as 'q' | 'k' | 'd' | 'n';
      const axis = 'qkdn'.includes(ref) ? ctx.dimNames.indexOf(name.slice(1)) : -1;
      if (axis < 0) {
        const known = ctx.dimNames.flatMap((d) => ['q', 'k', 'd', 'n'].map((p) => p + d));
        ctx.diags.push(diag('E0501', `unknown variable '${name}'`, e.name.span, {
          ...didYouMean(name, known),
          notes: [{ message: `variables: q<dim> (query group coordinate), k<dim> (key group), d<dim> = k - q, n<dim> (group count); dims: ${ctx.dimNames.join(', ')}`, span: null }],
        }));
        return null;
      }
      const [lo, hi] = ctx.groups[axis];
      return { type: 'int', e: { op: 'var', ref, axis }, range: varRange(ref, lo, hi), exact: lo === hi || ctx.proven === true };
    }
    case 'unary': {
      const a = sub(e.arg);
      if (e.op === '!') return want(a, 'bool', e.arg, "'!'") ? { type: 'bool', e: { op: 'not', a: a.e } } : null;
      if (!want(a, 'int', e.arg, e.op === 'abs' ? '|…|' : "unary '-'")) return null;
      const op = e.op === 'abs' ? 'abs' : 'neg';
      return ranged(ctx, e, { op, a: a.e }, a.range && unaryRange(op, a.range), a.exact);
    }
    case 'call': {
      const fn = e.fn.name;
      const arity = fn === 'abs' ? 1 : fn === 'min' || fn === 'max' ? 2 : -1;
      if (arity < 0) {
        ctx.diags.push(diag('E0503', `unknown function '${fn}'`, e.fn.span, didYouMean(fn, ['abs', 'min', 'max'])));
        return null;
      }
      if (e.args.length !== arity) {
        ctx.diags.push(diag('E0503', `${fn}() takes ${arity} argument${arity > 1 ? 's' : ''}, got ${e.args.length}`, e.span));
        return null;
      }
      const args = e.args.map(sub);
      const ints: IntNode[] = [];
      for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (want(a, 'int', e.args[i], `${fn}()`)) ints.push(a);
      }
      if (ints.length !== arity) return null;
      const [a, b] = ints;
      if (fn === 'abs') return ranged(ctx, e, { op: 'abs', a: a.e }, a.range && unaryRange('abs', a.range), a.exact);
      const op = fn as 'min' | 'max';
      return ranged(ctx, e, { op, a: a.e, b: b.e }, binRange(op, a, b), a.exact && b.exact);
    }
    case 'binary': {
      const a = sub(e.left), b = sub(e.right);
      if (e.op === '&&' || e.op === '||') {
        const okA = want(a, 'bool', e.left, `'${e.op}'`), okB = want(b, 'bool', e.right, `'${e.op}'`);
        return okA && okB ? { type: 'bool', e: { op: e.op, a: a.e, b: b.e } } : null;
      }
      const okA = want(a, 'int', e.left, `'${e.op}'`), okB = want(b, 'int', e.right, `'${e.op}'`);
      if (!okA || !okB) return null;
      if ((e.op === '/' || e.op === '%') && b.e.op === 'int' && b.e.value === 0) {
        ctx.diags.push(diag('W0502', `division by zero gives 0 here`, e.right.span));
      }
      if (INT_OPS.includes(e.op)) {
        const op = e.op as IntOp;
        return ranged(ctx, e, { op, a: a.e, b: b.e }, binRange(op, a, b), a.exact && b.exact);
      }
      return { type: 'bool', e: { op: e.op as CmpOp, a: a.e, b: b.e } };
    }
  }
}

export function imageRegion(ctx: RegionContext, region: Region): ImageRegion | null {
  const terms: ImageTerm[] = [];
  let text = false, ok = true;
  const seen = new Map<string, RegionTerm>();
  for (const t of region.terms) {
    const origin = originOf(ctx, t).replace(/\s+/g, ' ');
    const prev = seen.get(origin);
    if (prev) ctx.diags.push(diag('W0401', `'${origin}' appears twice in this region`, t.span, { notes: [{ message: 'first here', span: prev.span }] }));
    seen.set(origin, t);
    const name = t.kind === 'where' ? 'where' : t.name.name;
    if (t.kind === 'where') {
      const p = predicate(ctx, t.expr);
      if (!p) { ok = false; continue; }
      if (p.type !== 'bool') {
        ctx.diags.push(diag('E0502', 'where() needs a condition, but this is a number', t.expr.span, { hint: 'compare it, e.g. `where(dh == 0)`' }));
        ok = false;
        continue;
      }
      // simplified first, so `dt >= -2` bounds dt and kernels print less
      const expr = simplify(p.e, ctx.groups);
      const bounds = deltaBounds(expr, ctx.dimNames.length, ctx.groups.map((g) => g[1]));
      if (bounds.some((b) => b.kind === 'offset' && b.lo > b.hi)) ctx.diags.push(diag('W0501', 'this condition can never hold: the term adds no keys', t.span));
      terms.push({ kind: 'predicate', expr, bounds, origin });
      continue;
    }
    switch (name) {
      case 'text':
        if (t.kind === 'call') { noArgs(ctx, t); ok = false; break; }
        if (!needText(ctx, t.name)) { ok = false; break; }
        text = true;
        break;
      case 'grid':
      case 'all':
        if (t.kind === 'call') { noArgs(ctx, t); ok = false; break; }
        terms.push({ kind: 'box', axes: ctx.dimNames.map(() => ({ kind: 'all' })), border: 'clip', origin });
        if (name === 'all' && ctx.hasText) text = true;
        break;
      case 'crisscross': {
        let form: 'planes' | 'lines' = 'planes';
        if (t.kind === 'call') {
          const a = t.args[0];
          const word = t.args.length === 1 && a.kind === 'positional' && !('kind' in a.value) ? a.value.name : null;
          if (word !== 'planes' && word !== 'lines') {
            ctx.diags.push(diag('E0402', 'crisscross takes one of: planes, lines', t.span, { hint: 'crisscross (= planes, the official GRAT-X) or crisscross(lines)' }));
            ok = false;
            break;
          }
          form = word;
        }
        terms.push(...crisscross(ctx, form, origin));
        break;
      }
      case 'neighbors': {
        if (t.kind === 'word') {
          ctx.diags.push(diag('E0402', 'neighbors needs a radius', t.span, { hint: `e.g. neighbors(1) or neighbors(${ctx.dimNames.map((n) => `${n}=1`).join(', ')})` }));
          ok = false;
          break;
        }
        const b = neighbors(ctx, t);
        if (b) terms.push(b); else ok = false;
        break;
      }
      default:
        ctx.diags.push(diag('E0401', `unknown region '${name}'`, t.name.span, didYouMean(name, TERM_NAMES)));
        ok = false;
    }
  }
  return ok ? { terms, text } : null;
}

export function textRegion(ctx: RegionContext, region: Region): TextRegion | null {
  let grid = false, text = false, ok = true;
  for (const t of region.terms) {
    const name = t.kind === 'where' ? 'where' : t.name.name;
    if (t.kind === 'call' && ['all', 'grid', 'text'].includes(name)) { noArgs(ctx, t); ok = false; continue; }
    if (name === 'all') { grid = true; text = true; }
    else if (name === 'grid') grid = true;
    else if (name === 'text') text = true;
    else if (TERM_NAMES.includes(name)) {
      ctx.diags.push(diag('E0407', `text queries have no group coordinates, so '${name}' does not apply to them`, t.span, { hint: 'text queries accept: all, grid, text' }));
      ok = false;
    } else {
      ctx.diags.push(diag('E0401', `unknown region '${name}'`, t.kind === 'where' ? t.span : t.name.span, didYouMean(name, ['all', 'grid', 'text'])));
      ok = false;
    }
  }
  return ok ? { grid, text } : null;
}

/**
 * The kernel plan shared by the kernel backends (CUDA, WGSL): the parts of a specialization
 * that do not depend on the target, normalised so emitted integer arithmetic cannot overflow,
 * and the canonical hash that names a kernel. Backends add their own tiling and variants.
 */
import { createHash } from 'node:crypto';
import type { AxisRange, Border, BoolExpr, ImageTerm, Order, PatternIR, PExpr, TextPlace } from './ir.js';

export type PlanTerm =
  | { readonly kind: 'box'; readonly axes: readonly AxisRange[]; readonly border: Border }
  | { readonly kind: 'predicate'; readonly bounds: readonly AxisRange[]; readonly expr: BoolExpr };

/** What every kernel of a pattern computes, independent of the target. */
export interface PlanGeometry {
  readonly pattern: string; // an identifier
  readonly dims: readonly { readonly size: number; readonly group: number; readonly groups: number }[];
  readonly order: Order;
  readonly text: { readonly count: number; readonly place: TextPlace } | null;
  readonly terms: readonly PlanTerm[];
  readonly imageSeesText: boolean;
  readonly textQueries: { readonly grid: boolean; readonly text: boolean } | null;
  readonly headDim: number;
  readonly scale: number;
}

/** A pattern name as a C/WGSL/Python identifier (the checker already guarantees one; file names may not). */
export const identifierOf = (name: string): string => {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
  return s.length > 0 ? s.slice(0, 48) : 'pattern';
};

/** A delta beyond ±groups selects nothing more: clamp so emitted 32-bit arithmetic never overflows. */
export function finiteRange(r: AxisRange, groups: number): AxisRange {
  if (r.kind === 'all') return r;
  if (r.lo > r.hi) return { kind: 'offset', lo: 1, hi: 0 };
  const lo = Math.max(r.lo, -groups), hi = Math.min(r.hi, groups);
  return lo > hi ? { kind: 'offset', lo: 1, hi: 0 } : { kind: 'offset', lo, hi };
}

export function planTerm(t: ImageTerm, ir: PatternIR): PlanTerm {
  const g = ir.dims.map((d) => d.groups);
  if (t.kind === 'box') return { kind: 'box', axes: t.axes.map((a, i) => finiteRange(a, g[i])), border: t.border };
  return { kind: 'predicate', bounds: t.bounds.map((a, i) => finiteRange(a, g[i])), expr: t.expr };
}

/** Every constant of a predicate fits a signed 32-bit integer (the checker bounds literals; this re-checks for kernels). */
export function exprFitsI32(e: PExpr): boolean {
  switch (e.op) {
    case 'int': return Number.isSafeInteger(e.value) && Math.abs(e.value) <= 2 ** 31 - 1;
    case 'var': case 'bool': return true;
    case 'neg': case 'not': case 'abs': return exprFitsI32(e.a);
    default: return exprFitsI32(e.a) && exprFitsI32(e.b);
  }
}

export function planGeometry(ir: PatternIR): PlanGeometry {
  return {
    pattern: identifierOf(ir.name),
    dims: ir.dims.map((d) => ({ size: d.size, group: d.group, groups: d.groups })),
    order: ir.order,
    text: ir.text ? { count: ir.text.count, place: ir.text.place } : null,
    terms: ir.image.terms.map((t) => planTerm(t, ir)),
    imageSeesText: ir.image.text && ir.text !== null,
    textQueries: ir.textQueries ? { grid: ir.textQueries.grid, text: ir.textQueries.text } : null,
    headDim: ir.headDim,
    scale: ir.scale,
  };
}

/** JSON with sorted keys: byte-stable, so equal specializations hash equally. */
export function canonicalJson(v: unknown): string {
  const sortKeys = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sortKeys);
    if (x !== null && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
    }
    return x;
  };
  return JSON.stringify(sortKeys(v));
}

export const specHashOf = (spec: unknown): string => createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);

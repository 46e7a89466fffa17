/**
 * The typed predicate IR and its simplifier (compiler/simplify.ts, issue 17 item 3): bounds are
 * derived after simplification, so they are tight for the shapes people write; the simplified
 * predicate has the same value as the source for every pair of groups (an evaluator written
 * here, over random typed trees and grids); it is in normal form (no `!`, no `k - q`, no
 * constant-on-the-left comparisons, no constant sides of `&&`/`||`); its values still fit 32 bits;
 * and kernels print booleans as booleans.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { AxisRange, BoolExpr, CmpOp, IntExpr, IntOp, PatternIR } from '../compiler/ir.js';
import { groupCount } from '../compiler/ir.js';
import { binaryRange, fits, unaryRange, varRange, type IntRange } from '../compiler/int_range.js';
import { axisInterval, groupCoords } from '../compiler/keys.js';
import { simplify } from '../compiler/simplify.js';
import { evalBool } from './support/predicate_eval.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { compileWgsl } from '../codegen/wgsl/index.js';

const ROOT = join(import.meta.dirname, '..');

const boundsOf = (where: string, grid = 't=40 h=8', group = 't=2 h=2'): readonly AxisRange[] => {
  const r = checkSource(`grid ${grid}\ngroup ${group}\nimage attends where(${where})\nhead_dim 64\n`, {});
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  const t = r.ir.image.terms[0];
  if (t.kind !== 'predicate') throw new Error('expected a predicate');
  return t.bounds;
};

describe('bounds after simplification are tight', () => {
  const T: AxisRange = { kind: 'offset', lo: -2, hi: 0 };
  it.each([
    'dt >= -2 && dt <= 0', // -2 was neg(int 2): no bound
    '-2 <= dt && 0 >= dt', // constants on the left
    'dt + 2 >= 0 && dt - 1 < 0', // constants moved off the delta
    '-dt <= 2 && -dt >= 0', // negated delta
    'kt - qt >= -2 && kt - qt <= 0', // k - q is d
    '!(dt < -2) && !(dt > 0)', // negations pushed into the comparisons
    '!(dt < -2 || dt > 0)', // De Morgan
    'dt >= 0 - 2 && dt <= 1 * 0', // folded constants
  ])('%s → t in [-2, 0]', (where) => {
    expect(boundsOf(where)).toEqual([T, { kind: 'all' }]);
  });
  it('cuts half-open bounds to the deltas the grid has (20 groups: -19..19)', () => {
    expect(boundsOf('dt <= 0')).toEqual([{ kind: 'offset', lo: -19, hi: 0 }, { kind: 'all' }]);
    expect(boundsOf('dt > -100')).toEqual([{ kind: 'all' }, { kind: 'all' }]);
  });
  it('decides comparisons the grid settles: nh is 4, |dh| <= 3 always holds, dh > 3 never', () => {
    expect(boundsOf('dt == 1 && |dh| <= nh - 1')).toEqual([{ kind: 'offset', lo: 1, hi: 1 }, { kind: 'all' }]);
    const r = checkSource('grid t=40 h=8\ngroup t=2 h=2\nimage attends where(dh > 3) + grid\nhead_dim 64\n', {});
    expect(r.diagnostics.map((d) => d.code)).toEqual(['W0501']);
  });
});

/** The window-size bound of the key groups a grid-wide sweep visits: query groups × Σ_terms Π_axes window widths (clipped to the group counts). */
function windowBound(ir: PatternIR): number {
  let perGroup = 0;
  for (const t of ir.image.terms) {
    const axes = t.kind === 'box' ? t.axes : t.bounds;
    perGroup += axes.reduce((n, a, i) => n * (a.kind === 'all' ? ir.dims[i].groups : Math.max(0, Math.min(a.hi - a.lo + 1, ir.dims[i].groups))), 1);
  }
  return groupCount(ir) * perGroup;
}

/** The key groups enumeration visits over the whole grid: Σ over query groups and terms of the clipped window's size. */
function visits(ir: PatternIR): number {
  let n = 0;
  for (let g = 0; g < groupCount(ir); g++) {
    const q = groupCoords(ir, g);
    for (const t of ir.image.terms) {
      const axes = t.kind === 'box' ? t.axes : t.bounds, border = t.kind === 'box' ? t.border : 'clip';
      n += axes.reduce((m, a, i) => { const iv = axisInterval(a, q[i], ir.dims[i].groups, border); return m * Math.max(0, iv[1] - iv[0] + 1); }, 1);
    }
  }
  return n;
}

describe('examples/video_causal_anchor.grat (issue 17.3)', () => {
  const ir = checkSource(readFileSync(join(ROOT, 'examples/video_causal_anchor.grat'), 'utf8'), {}).ir!;
  it('its causal terms get time bounds [-2, 0]', () => {
    const t = ir.image.terms.map((x) => (x.kind === 'predicate' ? x.bounds[0] : null));
    expect(t).toEqual([{ kind: 'offset', lo: -2, hi: 0 }, { kind: 'offset', lo: -2, hi: 0 }, { kind: 'all' }]);
  });
  it('its whole-grid key-group visits drop from 892,980 to 560,340 (window bound) and 622,248 to 520,440 (exact)', () => {
    expect(windowBound(ir)).toBe(560_340);
    expect(visits(ir)).toBe(520_440);
    // the bounds derived before simplification: no lower bound on dt (lo -2^31)
    const before: PatternIR = {
      ...ir,
      image: { ...ir.image, terms: ir.image.terms.map((x) => (x.kind === 'predicate' && x.bounds[0].kind === 'offset' ? { ...x, bounds: [{ kind: 'offset', lo: -(2 ** 31), hi: 0 }, ...x.bounds.slice(1)] } : x)) },
    };
    expect(windowBound(before)).toBe(892_980);
    expect(visits(before)).toBe(622_248);
  });
  it('kernels scan from q - 2, and print the predicates as booleans', () => {
    const cu = emitCuda(ir).files.map((f) => (typeof f.contents === 'string' ? f.contents : '')).join('\n');
    expect(cu).toContain('c.lo[0] = max(q[0] + (-2), 0); c.hi[0] = min(q[0] + 0, 10);');
    expect(cu).not.toContain('q[0] + (-11)');
    const visible = cu.slice(cu.indexOf('bool term_visible'), cu.indexOf('bool stage_on'));
    expect(visible).toContain('case 1: {\n    return (((((k[0] - q[0]) <= 0) && ((k[0] - q[0]) >= (-2))) && (abs((k[1] - q[1])) <= 1)) && (abs((k[2] - q[2])) <= 1))\n      && !term_contains_0(q, k);');
    expect(visible).not.toMatch(/\(int\)\(|!= 0\)/);
    const wgsl = compileWgsl(ir).source!.variants.map((v) => v.code).join('\n');
    const wv = wgsl.slice(wgsl.indexOf('fn term_visible'), wgsl.indexOf('fn odometer_step'));
    expect(wv).toContain('case 2: {\n    return (k[0] == 0)\n');
    expect(wv).not.toMatch(/i32\(/);
  });
});

// ---- random typed trees: same values, normal form, 32-bit values ----

const evalB = evalBool;

/** Normal-form violations of a simplified tree (empty when it is in normal form). */
function violations(e: BoolExpr, top = true): string[] {
  const out: string[] = [];
  const int = (x: IntExpr): void => {
    if (x.op === 'var' && x.ref === 'n') out.push('n left unfolded');
    if (x.op === 'neg' && (x.a.op === 'int' || x.a.op === 'neg')) out.push('neg of a literal or of neg');
    if (x.op === '-' && x.a.op === 'var' && x.a.ref === 'k' && x.b.op === 'var' && x.b.ref === 'q' && x.a.axis === x.b.axis) out.push('k - q');
    if ('b' in x) { if (x.a.op === 'int' && x.b.op === 'int') out.push('unfolded constants'); int(x.a); int(x.b); } else if ('a' in x) int(x.a);
  };
  switch (e.op) {
    case 'bool': if (!top) out.push('a constant side of && or ||'); break;
    case 'not': out.push('not'); break;
    case '&&': case '||': out.push(...violations(e.a, false), ...violations(e.b, false)); break;
    default:
      if (e.a.op === 'int') out.push('a constant on the left');
      int(e.a); int(e.b);
  }
  return out;
}

/** Every int node's range over the grid (int_range rules) fits 32 bits. */
function allFit(e: BoolExpr, groups: readonly number[]): boolean {
  const range = (x: IntExpr): IntRange => {
    switch (x.op) {
      case 'int': return [BigInt(x.value), BigInt(x.value)];
      case 'var': return varRange(x.ref, groups[x.axis], groups[x.axis]);
      case 'neg': case 'abs': return unaryRange(x.op, range(x.a));
      default: return binaryRange(x.op, range(x.a), range(x.b));
    }
  };
  const ok = (x: IntExpr): boolean => fits(range(x)) && ('b' in x ? ok(x.a) && ok(x.b) : 'a' in x ? ok(x.a) : true);
  switch (e.op) {
    case 'bool': return true;
    case 'not': return allFit(e.a, groups);
    case '&&': case '||': return allFit(e.a, groups) && allFit(e.b, groups);
    default: return ok(e.a) && ok(e.b);
  }
}

describe('simplify on random typed predicates', () => {
  const D = 2;
  const { bool } = fc.letrec<{ int: IntExpr; bool: BoolExpr }>((tie) => ({
    int: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.integer({ min: -4, max: 4 }).map((value): IntExpr => ({ op: 'int', value })),
      fc.record({ ref: fc.constantFrom('q' as const, 'k' as const, 'd' as const, 'n' as const), axis: fc.integer({ min: 0, max: D - 1 }) }).map((x): IntExpr => ({ op: 'var', ...x })),
      fc.record({ op: fc.constantFrom('neg' as const, 'abs' as const), a: tie('int') }),
      fc.record({ op: fc.constantFrom<IntOp>('+', '-', '*', '/', '%', 'min', 'max'), a: tie('int'), b: tie('int') }),
      // k - q, d + c, c - d: the shapes the rules rewrite
      fc.record({ axis: fc.integer({ min: 0, max: D - 1 }), c: fc.integer({ min: -3, max: 3 }), form: fc.integer({ min: 0, max: 2 }) }).map(({ axis, c, form }): IntExpr => {
        const d: IntExpr = { op: 'var', ref: 'd', axis }, lit: IntExpr = { op: 'int', value: c };
        if (form === 0) return { op: '-', a: { op: 'var', ref: 'k', axis }, b: { op: 'var', ref: 'q', axis } };
        return form === 1 ? { op: '+', a: d, b: lit } : { op: '-', a: lit, b: d };
      }),
    ),
    bool: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ op: fc.constantFrom<CmpOp>('==', '!=', '<', '<=', '>', '>='), a: tie('int'), b: tie('int') }),
      fc.record({ op: fc.constantFrom('&&' as const, '||' as const), a: tie('bool'), b: tie('bool') }),
      tie('bool').map((a): BoolExpr => ({ op: 'not', a })),
      fc.boolean().map((value): BoolExpr => ({ op: 'bool', value })),
    ),
  }));

  it('keeps every value, leaves normal form, and every value still fits 32 bits', () => {
    fc.assert(fc.property(bool, fc.array(fc.integer({ min: 1, max: 5 }), { minLength: D, maxLength: D }), (raw, groups) => {
      const s = simplify(raw, groups.map((g) => [g, g] as const));
      expect(violations(s)).toEqual([]);
      if (allFit(raw, groups)) expect(allFit(s, groups)).toBe(true);
      for (let q0 = 0; q0 < groups[0]; q0++) for (let q1 = 0; q1 < groups[1]; q1++) {
        for (let k0 = 0; k0 < groups[0]; k0++) for (let k1 = 0; k1 < groups[1]; k1++) {
          const q = [q0, q1], k = [k0, k1];
          if (evalB(s, q, k, groups) !== evalB(raw, q, k, groups)) throw new Error(`q=${q} k=${k}: ${JSON.stringify(s)}`);
        }
      }
    }), { numRuns: 1000 });
  });

  it('makes ill-typed predicates unrepresentable', () => {
    // @ts-expect-error an integer is not a condition
    const notACondition: BoolExpr = { op: 'int', value: 1 };
    // @ts-expect-error && joins conditions, not integers
    const andOfInts: BoolExpr = { op: '&&', a: { op: 'int', value: 1 }, b: { op: 'int', value: 0 } };
    // @ts-expect-error a comparison compares integers, not conditions
    const cmpOfConds: BoolExpr = { op: '==', a: { op: 'bool', value: true }, b: { op: 'int', value: 0 } };
    // @ts-expect-error arithmetic on a condition
    const sumOfCond: IntExpr = { op: '+', a: { op: 'bool', value: true }, b: { op: 'int', value: 0 } };
    expect([notACondition, andOfInts, cmpOfConds, sumOfCond]).toHaveLength(4);
  });
});

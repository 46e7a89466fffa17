/**
 * The language's integer semantics (docs/language.md, "Integers"): predicates compute on
 * mathematical integers, floor `/` and `%`, a zero divisor gives 0, and the checker proves by
 * interval analysis that every value fits ±(2³¹ − 1) over the bound grid, or refuses the pattern
 * with E0506 at the sub-expression. Checked against an evaluator written here in BigInt (no
 * compiler code): the interval rules on their own, the checker's verdicts on random predicates
 * with large constants and products, and the values of accepted predicates as the compiler
 * evaluates them, as the printed CUDA computes them (g++ with UBSan trapping on any signed
 * overflow, the kernels' floor_div/floor_mod as codegen/cursor.ts prints them) and as the printed WGSL computes them on
 * a real WebGPU device (Dawn; lavapipe in CI).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR, PredicateTerm } from '../compiler/ir.js';
import { binaryRange, unaryRange, type IntRange } from '../compiler/int_range.js';
import { groupCoords } from '../compiler/keys.js';
import { compilePredicate } from '../compiler/predicate.js';
import { printPredicate } from '../codegen/clike.js';
import { CUDA, printCursor, WGSL, type KernelDialect } from '../codegen/cursor.js';
import { kernelPlan } from '../compiler/plan.js';
import { runI32Shader } from './support/wgsl_i32.js';
import { checkFull } from './support/diag.js';

const LIMIT = 2n ** 31n - 1n;
const SCALE = Number(process.env.GRATC_FUZZ_SCALE ?? 1) || 1;

// ---- an independent evaluator: floor division and modulo in BigInt, a zero divisor gives 0 ----

const fdiv = (a: bigint, b: bigint): bigint => {
  if (b === 0n) return 0n;
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
};
const fmod = (a: bigint, b: bigint): bigint => (b === 0n ? 0n : a - b * fdiv(a, b));
const INT_OPS: Record<string, (a: bigint, b: bigint) => bigint> = {
  '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': fdiv, '%': fmod,
  min: (a, b) => (a < b ? a : b), max: (a, b) => (a > b ? a : b),
};
const CMP_OPS: Record<string, (a: bigint, b: bigint) => boolean> = {
  '==': (a, b) => a === b, '!=': (a, b) => a !== b, '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b,
};

type Coords = readonly number[];
/** Every int node's value is passed to `seen` (so a test can look for overflow anywhere, short-circuits ignored). */
interface Env { readonly q: Coords; readonly k: Coords; readonly n: Coords; readonly seen: (v: bigint) => void }
interface IntE { readonly s: string; readonly f: (env: Env) => bigint }
interface BoolE { readonly s: string; readonly f: (env: Env) => boolean }

const checked = (f: (env: Env) => bigint) => (env: Env): bigint => { const v = f(env); env.seen(v); return v; };

/** Constants around the 32-bit limit's factors, so products and sums land on both sides of it. */
const BIG = [2 ** 15, 46_340, 46_341, 65_536, 1_000_000, 2 ** 30, 2 ** 31 - 1, 2 ** 31 - 8, 715_827_883];

function intExpr(dims: readonly string[], depth: number): fc.Arbitrary<IntE> {
  const constant = fc.oneof(fc.integer({ min: -3, max: 4 }), { weight: 2, arbitrary: fc.constantFrom(...BIG) }, fc.integer({ min: 0, max: 2 ** 31 - 1 }))
    .chain((c) => fc.boolean().map((neg) => (neg ? -c : c)))
    .map((c): IntE => ({ s: c < 0 ? `(${c})` : String(c), f: checked(() => BigInt(c)) }));
  const variable = fc.tuple(fc.constantFrom('q', 'k', 'd', 'n'), fc.integer({ min: 0, max: dims.length - 1 })).map(([p, i]): IntE => ({
    s: `${p}${dims[i]}`,
    f: checked(({ q, k, n }) => BigInt(p === 'q' ? q[i] : p === 'k' ? k[i] : p === 'd' ? k[i] - q[i] : n[i])),
  }));
  const leaf = fc.oneof(constant, variable);
  if (depth <= 0) return leaf;
  const sub = intExpr(dims, depth - 1);
  return fc.oneof(
    { weight: 2, arbitrary: leaf },
    { weight: 5, arbitrary: fc.tuple(sub, fc.constantFrom('+', '-', '*', '*', '*', '/', '%'), sub).map(([a, op, b]): IntE => ({ s: `(${a.s} ${op} ${b.s})`, f: checked((env) => INT_OPS[op](a.f(env), b.f(env))) })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('min', 'max'), sub, sub).map(([fn, a, b]): IntE => ({ s: `${fn}(${a.s}, ${b.s})`, f: checked((env) => INT_OPS[fn](a.f(env), b.f(env))) })) },
    { weight: 1, arbitrary: fc.tuple(sub, fc.boolean()).map(([a, bars]): IntE => ({ s: bars ? `| ${a.s} |` : `abs(${a.s})`, f: checked((env) => { const v = a.f(env); return v < 0n ? -v : v; }) })) },
    { weight: 1, arbitrary: sub.map((a): IntE => ({ s: `(-${a.s})`, f: checked((env) => -a.f(env)) })) },
  );
}

function boolExpr(dims: readonly string[], depth: number): fc.Arbitrary<BoolE> {
  const cmp = fc.tuple(intExpr(dims, 2), fc.constantFrom(...Object.keys(CMP_OPS)), intExpr(dims, 2))
    .map(([a, op, b]): BoolE => ({ s: `${a.s} ${op} ${b.s}`, f: (env) => CMP_OPS[op](a.f(env), b.f(env)) }));
  if (depth <= 0) return cmp;
  const sub = boolExpr(dims, depth - 1);
  return fc.oneof(
    { weight: 3, arbitrary: cmp },
    // both sides evaluated: an overflow on either side counts, whatever C's short-circuit skips
    { weight: 1, arbitrary: fc.tuple(sub, fc.constantFrom('&&', '||'), sub).map(([a, op, b]): BoolE => ({ s: `(${a.s} ${op} ${b.s})`, f: (env) => { const x = a.f(env), y = b.f(env); return op === '&&' ? x && y : x || y; } })) },
    { weight: 1, arbitrary: sub.map((a): BoolE => ({ s: `!(${a.s})`, f: (env) => !a.f(env) })) },
  );
}

interface Case { readonly dims: readonly string[]; readonly groups: readonly number[]; readonly expr: BoolE; readonly text: string }

const DIM_NAMES = [['x'], ['h', 'w'], ['t', 'h', 'w']] as const;
const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 3 }).chain((D) => {
  const dims = DIM_NAMES[D - 1];
  return fc.record({
    groups: fc.array(fc.integer({ min: 1, max: D === 3 ? 3 : 5 }), { minLength: D, maxLength: D }),
    expr: boolExpr(dims, 1),
  }).map(({ groups, expr }): Case => ({
    dims,
    groups,
    expr,
    // groups of 2 tokens, the last one ragged where the size is odd
    text: `grid ${dims.map((d, i) => `${d}=${2 * groups[i] - (i % 2)}`).join(' ')}\ngroup ${dims.map((d) => `${d}=2`).join(' ')}\nimage attends where(${expr.s})\nhead_dim 64\n`,
  }));
});

/** Every (query group, key group) pair in enumeration order: g = q's index, then k's. */
function pairs(ir: PatternIR): { q: number[]; k: number[] }[] {
  const G = ir.dims.reduce((a, d) => a * d.groups, 1), out: { q: number[]; k: number[] }[] = [];
  for (let g = 0; g < G; g++) for (let h = 0; h < G; h++) out.push({ q: groupCoords(ir, g), k: groupCoords(ir, h) });
  return out;
}

/** The BigInt truth per pair, and whether any value on the way left ±(2³¹ − 1). */
function truth(c: Case, ps: { q: number[]; k: number[] }[]): { values: boolean[]; overflows: boolean } {
  let overflows = false;
  const seen = (v: bigint) => { if (v > LIMIT || v < -LIMIT) overflows = true; };
  const values = ps.map(({ q, k }) => c.expr.f({ q, k, n: c.groups, seen }));
  return { values, overflows };
}

const term = (ir: PatternIR): PredicateTerm => {
  const t = ir.image.terms[0];
  if (t.kind !== 'predicate') throw new Error('expected a predicate term');
  return t;
};

describe('integer ranges (compiler/int_range.ts) hold every value of their operator', () => {
  // small ranges, some next to the limits, enumerated exhaustively
  const range = fc.tuple(fc.constantFrom(0n, 40n, -40n, LIMIT - 3n, -LIMIT + 3n, 46_340n, 65_536n), fc.integer({ min: -4, max: 4 }), fc.integer({ min: 0, max: 5 }))
    .map(([c, lo, w]): IntRange => [c + BigInt(lo), c + BigInt(lo + w)]);
  const values = (r: IntRange): bigint[] => { const out: bigint[] = []; for (let v = r[0]; v <= r[1]; v++) out.push(v); return out; };
  it('binary operators', () => {
    fc.assert(fc.property(fc.constantFrom('+', '-', '*', '/', '%', 'min', 'max' as const), range, range, (op, a, b) => {
      const [lo, hi] = binaryRange(op, a, b);
      for (const x of values(a)) for (const y of values(b)) {
        const v = INT_OPS[op](x, y);
        if (v < lo || v > hi) throw new Error(`${x} ${op} ${y} = ${v} is outside [${lo}, ${hi}]`);
      }
    }), { numRuns: 2000 * SCALE });
  });
  it('negation and abs', () => {
    fc.assert(fc.property(fc.constantFrom('neg', 'abs' as const), range, (op, a) => {
      const [lo, hi] = unaryRange(op, a);
      for (const x of values(a)) {
        const v = op === 'neg' ? -x : x < 0n ? -x : x;
        expect(v >= lo && v <= hi).toBe(true);
      }
    }), { numRuns: 500 * SCALE });
  });
});

describe('E0506: values past 32 bits are refused where they arise (issue 15.10)', () => {
  const src = (w: string) => `grid h=64 w=64\ngroup h=16 w=16\nimage attends ${w}\nhead_dim 64\n`;
  it('dh * 65536 * 65536: the product, with its range', () => {
    expect(checkFull(src('where(dh * 65536 * 65536 == 0)'))).toBe([
      'x.grat:3:21: error[E0506]: cannot prove this value fits 32-bit integers: on this grid it lies within -12,884,901,888 to 12,884,901,888',
      '    3 | image attends where(dh * 65536 * 65536 == 0)',
      '      |                     ^^^^^^^^^^^^^^^^^^',
      '  hint: kernels compute predicates in 32-bit integers: every value must stay within ±2,147,483,647 for every pair of query and key groups',
    ].join('\n'));
  });
  it('65536 * 65536: a constant, refused even with the grid unbound', () => {
    const text = src('where(dh == 65536 * 65536)').replace('h=64 w=64', 'h=? w=?');
    const r = checkSource(text, {});
    expect(r.diagnostics.filter((d) => d.code === 'E0506').map((d) => [d.message, text.slice(d.span!.start, d.span!.end)]))
      .toEqual([['this value is 4,294,967,296, past 32-bit integers', '65536 * 65536']]);
  });
  it('a product that fits this grid is accepted; a larger grid refuses it', () => {
    // |dh| <= 3 on 4 groups: 3 * 65536 * 8192 = 1,610,612,736 fits; on 8 groups 7 * 2^29 does not
    expect(checkSource(src('where(dh * 65536 * 8192 == 0)'), {}).diagnostics).toEqual([]);
    expect(checkSource(src('where(dh * 65536 * 8192 == 0)').replace('h=64', 'h=128'), {}).diagnostics.map((d) => d.code)).toEqual(['E0506']);
  });
  it('unbound sizes: a possible overflow is a warning (W0503), an error once bound', () => {
    const text = src('where(dh * dw * 1000 < 5)').replace('h=64 w=64', 'h=? w=?');
    expect(checkSource(text, {}).diagnostics.map((d) => d.code)).toEqual(['E0301', 'W0503']);
    expect(checkSource(text, { grid: [64, 64] }).diagnostics).toEqual([]);
    expect(checkSource(text, { grid: [2048 * 16, 2048 * 16] }).diagnostics.map((d) => d.code)).toEqual(['E0506']);
  });
  it('-2^31 is left out, so negation, |x| and x / -1 cannot overflow', () => {
    expect(checkSource(src('where(dh - 2147483647 < 0)'), {}).diagnostics.map((d) => d.code)).toEqual(['E0506']);
    expect(checkSource(src('where(-2147483647 <= dh)'), {}).diagnostics).toEqual([]);
  });
});

describe('random predicates with large constants and products', () => {
  const work = mkdtempSync(join(tmpdir(), 'gratc-int-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  let accepted = 0, refused = 0;

  it('are refused with a positioned E0506 (whenever some value overflows), or evaluate exactly as in BigInt', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const r = checkSource(c.text, {});
      const errors = r.diagnostics.filter((d) => d.severity === 'error');
      const where = c.text.indexOf('where('), whereEnd = c.text.indexOf('\n', where);
      for (const d of errors) {
        expect(['E0506', 'E0205']).toContain(d.code);
        expect(d.span!.start >= where && d.span!.end <= whereEnd).toBe(true);
      }
      const ir = r.ir;
      const ps = pairs(ir ?? checkSource(c.text.replace(/image attends .*/, 'image attends grid'), {}).ir!);
      const { values, overflows } = truth(c, ps);
      if (overflows) expect(errors.length, 'an overflowing predicate was accepted').toBeGreaterThan(0);
      if (errors.length > 0) { refused++; return; }
      const t = term(ir!), f = compilePredicate(t.expr);
      ps.forEach(({ q, k }, i) => {
        const got = f({ q, k, n: c.groups });
        if (got !== values[i]) throw new Error(`q=${q} k=${k}: compiled ${got}, BigInt ${values[i]}`);
        // the derived delta bounds hold every key the predicate accepts
        if (got) t.bounds.forEach((b, a) => { if (b.kind === 'offset') expect(k[a] - q[a] >= b.lo && k[a] - q[a] <= b.hi).toBe(true); });
      });
      accepted++;
    }), { numRuns: 400 * SCALE });
    // the generator must exercise both verdicts
    expect(accepted).toBeGreaterThan(60 * SCALE);
    expect(refused).toBeGreaterThan(60 * SCALE);
  });

  /**
   * Cases at the limit, in every batch: `%` and `/` of values within a few units of ±(2³¹ − 1)
   * (a floor_mod written a - b * floor_div(a, b) overflows on the first), and their meanings.
   */
  const EDGE: Case[] = ([
    ['(dh - 2147483640) % 1000 == 356', ({ q, k }) => fmod(BigInt(k[0] - q[0]) - 2147483640n, 1000n) === 356n],
    ['(dh + 2147483640) % (-1000) > -700', ({ q, k }) => fmod(BigInt(k[0] - q[0]) + 2147483640n, -1000n) > -700n],
    ['(qh - 2147483647) / 10 == -214748365', ({ q }) => fdiv(BigInt(q[0]) - 2147483647n, 10n) === -214748365n],
    ['-(kh - 2147483647) % (qh - 3) < 2', ({ q, k }) => fmod(-(BigInt(k[0]) - 2147483647n), BigInt(q[0]) - 3n) < 2n],
  ] as [string, (env: Env) => boolean][]).map(([s, f]) => ({
    dims: ['h', 'w'], groups: [4, 3], expr: { s, f },
    text: `grid h=8 w=5\ngroup h=2 w=2\nimage attends where(${s})\nhead_dim 64\n`,
  }));

  /** `count` random accepted cases (fast-check shows a failure's source text only). */
  const batchArb = (count: number) => fc.array(caseArb.filter((c) => checkSource(c.text, {}).ir !== null), { minLength: count, maxLength: count });
  /** With the edge cases, each with its IR, pairs and BigInt truth. */
  const prepare = (cs: readonly Case[]) => [...EDGE, ...cs].map((c) => {
    const ir = checkSource(c.text, {}).ir!, ps = pairs(ir);
    return { c, ir, ps, want: truth(c, ps).values.map((v) => (v ? '1' : '0')).join('') };
  });
  type Batch = ReturnType<typeof prepare>;

  /** floor_div and floor_mod exactly as the kernels print them (codegen/cursor.ts, every kernel of either target). */
  const printedHelpers = (d: KernelDialect, ir: PatternIR): string => {
    const text = printCursor(kernelPlan(ir), d, { blockK: 64, runs: false });
    const from = text.indexOf('/** Floor division'), to = text.indexOf('/** Group coordinates');
    expect(from).toBeGreaterThan(0);
    expect(to).toBeGreaterThan(from);
    return text.slice(from, to);
  };

  // one program (or shader) per batch: compiling is the slow part; no shrinking, the seed is printed
  it('printed as CUDA, compute the same values with no signed overflow (g++ -fsanitize=signed-integer-overflow)', () => {
    fc.assert(fc.property(batchArb(120 * SCALE), (cs) => cudaAgrees(prepare(cs))), { numRuns: 1, endOnFailure: true });
  });

  const cudaAgrees = (cases: Batch): void => {
    const helpers = printedHelpers(CUDA, cases[0].ir);
    expect(helpers).toMatch(/__device__ __forceinline__ int floor_div\(int a, int b\)/);
    expect(helpers).toMatch(/__device__ __forceinline__ int floor_mod\(int a, int b\)/);
    const fns = cases.map(({ ir }, i) => `static bool p${i}(const int* q, const int* k) { return ${printPredicate(term(ir).expr, ir.dims.map((d) => d.groups))}; }`);
    const src = `#include <algorithm>
#include <cstdio>
#include <cstdlib>
using std::abs; using std::min; using std::max;
#define __device__
#define __forceinline__ inline
${helpers}
${fns.join('\n')}
typedef bool (*Pred)(const int*, const int*);
static const Pred PREDS[] = { ${cases.map((_, i) => `p${i}`).join(', ')} };
static const int COORDS[] = { ${cases.flatMap(({ ps }) => ps.flatMap(({ q, k }) => [...q, 0, 0, 0].slice(0, 3).concat([...k, 0, 0, 0].slice(0, 3)))).join(', ')} };
static const int PAIRS[] = { ${cases.map(({ ps }) => ps.length).join(', ')} };
int main() {
  const int* c = COORDS;
  for (int i = 0; i < ${cases.length}; ++i) {
    for (int j = 0; j < PAIRS[i]; ++j, c += 6) std::putchar(PREDS[i](c, c + 3) ? '1' : '0');
    std::putchar('\\n');
  }
}
`;
    writeFileSync(join(work, 'p.cpp'), src);
    const cc = spawnSync('g++', ['-O1', '-fsanitize=signed-integer-overflow,integer-divide-by-zero', '-fno-sanitize-recover=all', '-o', join(work, 'p'), join(work, 'p.cpp')], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    const run = spawnSync(join(work, 'p'), [], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const got = run.stdout.split('\n');
    cases.forEach(({ c, want }, i) => expect(got[i], c.expr.s).toBe(want));
  };

  it('printed as WGSL, compute the same values on a WebGPU device', async () => {
    await fc.assert(fc.asyncProperty(batchArb(60 * SCALE), (cs) => wgslAgrees(prepare(cs))), { numRuns: 1, endOnFailure: true });
  });

  const wgslAgrees = async (cases: Batch): Promise<void> => {
    const helpers = printedHelpers(WGSL, cases[0].ir);
    expect(helpers).toMatch(/fn floor_div\(a: i32, b: i32\) -> i32/);
    expect(helpers).toMatch(/fn floor_mod\(a: i32, b: i32\) -> i32/);
    const items: number[] = [];
    cases.forEach(({ ps }, i) => ps.forEach(({ q, k }) => items.push(i, ...[...q, 0, 0, 0].slice(0, 3), ...[...k, 0, 0, 0].slice(0, 3))));
    const N = items.length / 7;
    const code = `${helpers}
@group(0) @binding(0) var<storage, read> items: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
${cases.map(({ ir }, i) => `fn p${i}(q: array<i32, 3>, k: array<i32, 3>) -> bool { return ${printPredicate(term(ir).expr, ir.dims.map((d) => d.groups))}; }`).join('\n')}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= ${N}u) { return; }
  let b = i * 7u;
  let q = array<i32, 3>(items[b + 1u], items[b + 2u], items[b + 3u]);
  let k = array<i32, 3>(items[b + 4u], items[b + 5u], items[b + 6u]);
  var r = -1;
  switch (items[b]) {
${cases.map((_, i) => `    case ${i}: { r = select(0, 1, p${i}(q, k)); }`).join('\n')}
    default: {}
  }
  out[i] = r;
}
`;
    const got = await runI32Shader(code, new Int32Array(items), N);
    let at = 0;
    cases.forEach(({ c, want }) => {
      const row = Array.from(got.subarray(at, at + want.length), (v) => String(v)).join('');
      at += want.length;
      expect(row, c.expr.s).toBe(want);
    });
  };
});

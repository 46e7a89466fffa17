/**
 * reference.ts and stats.ts against independent computations: float64 attention with the
 * independent official mask, and brute-force counts on the dense mask.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { BoolExpr, CmpOp, IntExpr, IntOp, PatternIR } from '../compiler/ir.js';
import { groupCount, totalTokens } from '../compiler/ir.js';
import { deltaBounds } from '../compiler/predicate.js';
import { simplify } from '../compiler/simplify.js';
import { DENSE_MASK_MAX_TOKENS, denseMask, keyCountsPerQueryGroup, referenceAttention, type Layout } from '../compiler/reference.js';
import { patternStats } from '../compiler/stats.js';
import { mulberry32 } from '../runtime/random.js';
import { evalBool } from './support/predicate_eval.js';
import { imagePositions, irFromSpec, maskDiff, officialMask, type OfficialSpec } from './support/official_grat.js';

// ---- seeded randomness: a fresh seed every run, printed on failure ----

const freshSeed = (): number => (Math.random() * 2 ** 32) >>> 0;
const randomArray = (rand: () => number, n: number, scale = 1): Float64Array => Float64Array.from({ length: n }, () => (2 * rand() - 1) * scale);

/** Naive dense float64 attention with an explicit N×N mask (independent of reference.ts). */
function naiveAttention(mask: Uint8Array, N: number, D: number, scale: number, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, B: number, H: number, layout: Layout): Float64Array {
  const at = (b: number, h: number, n: number): number => (layout === 'bhnd' ? ((b * H + h) * N + n) * D : ((b * N + n) * H + h) * D);
  const out = new Float64Array(B * H * N * D);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) {
    const logits: number[] = [], idx: number[] = [];
    for (let j = 0; j < N; j++) {
      if (!mask[i * N + j]) continue;
      let s = 0;
      for (let d = 0; d < D; d++) s += q[at(b, h, i) + d] * k[at(b, h, j) + d];
      logits.push(s * scale); idx.push(j);
    }
    if (idx.length === 0) continue;
    const m = Math.max(...logits);
    const w = logits.map((x) => Math.exp(x - m));
    const z = w.reduce((a, c) => a + c, 0);
    for (let d = 0; d < D; d++) {
      let acc = 0;
      for (let t = 0; t < idx.length; t++) acc += w[t] * v[at(b, h, idx[t]) + d];
      out[at(b, h, i) + d] = acc / z;
    }
  }
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** The IR with one predicate term, simplified and bounded as the checker does it. */
const withPredicate = (ir: PatternIR, raw: BoolExpr, text = ir.image.text): PatternIR => {
  const expr = simplify(raw, ir.dims.map((d) => [d.groups, d.groups] as const));
  return { ...ir, image: { terms: [{ kind: 'predicate', expr, bounds: deltaBounds(expr, ir.dims.length), origin: 'where(...)' }], text } };
};
const v = (ref: 'q' | 'k' | 'd' | 'n', axis: number): IntExpr => ({ op: 'var', ref, axis });
const int = (value: number): IntExpr => ({ op: 'int', value });
const arith = (op: IntOp, a: IntExpr, b: IntExpr): IntExpr => ({ op, a, b });
const cmp = (op: CmpOp, a: IntExpr, b: IntExpr): BoolExpr => ({ op, a, b });
const and = (a: BoolExpr, b: BoolExpr): BoolExpr => ({ op: '&&', a, b });
const absD = (axis: number): IntExpr => ({ op: 'abs', a: v('d', axis) });

// ---- denseMask basics ----

describe('denseMask', () => {
  const spec: OfficialSpec = { grid: [6, 6], group: [2, 3], order: 'raster', relation: { kind: 'B', radius: [1] }, text: { count: 4, place: 'before' } };

  it('valid defaults to the count and is clamped to [0, count]', () => {
    const ir = irFromSpec(spec);
    expect(denseMask(ir)).toEqual(denseMask(ir, 4));
    expect(denseMask(ir, 99)).toEqual(denseMask(ir, 4));
    expect(denseMask(ir, -5)).toEqual(denseMask(ir, 0));
    expect(() => denseMask(ir, 1.5)).toThrow(RangeError);
  });

  it('padded text keys are visible to nobody; padded text query rows still see every valid key', () => {
    const ir = irFromSpec(spec), N = totalTokens(ir), m = denseMask(ir, 2);
    for (let q = 0; q < N; q++) { expect(m[q * N + 2]).toBe(0); expect(m[q * N + 3]).toBe(0); }
    for (const row of [0, 3]) for (let k = 0; k < N; k++) expect(m[row * N + k]).toBe(k === 2 || k === 3 ? 0 : 1);
  });

  it('refuses sizes where N² bytes would be unreasonable', () => {
    const big = irFromSpec({ grid: [150, 150], group: [16, 16], order: 'raster', relation: { kind: 'B', radius: [1] }, text: null });
    expect(totalTokens(big)).toBeGreaterThan(DENSE_MASK_MAX_TOKENS);
    expect(() => denseMask(big)).toThrow(RangeError);
    expect(() => denseMask(big)).toThrow(/too many/);
  });

  it('predicate terms: where(|dh| <= 1 && dw % 2 == 0) equals a brute-force relation', () => {
    const base: OfficialSpec = { grid: [9, 14], group: [2, 3], order: 'grouped', relation: { kind: 'B', radius: [0] }, text: { count: 3, place: 'after' }, valid: 2 };
    const expr = and(cmp('<=', absD(0), int(1)), cmp('==', arith('%', v('d', 1), int(2)), int(0)));
    const ir = withPredicate(irFromSpec(base), expr);
    const want = officialMask({ ...base, relation: { kind: 'fn', f: (q, k) => Math.abs(k[0] - q[0]) <= 1 && (k[1] - q[1]) % 2 === 0 } });
    expect(maskDiff(denseMask(ir, 2), want, totalTokens(ir))).toBe('equal');
  });

  it('random predicates (fast-check): the interval bounds never drop a key group the predicate allows', () => {
    // the evaluator in test/support/predicate_eval.ts is independent of predicate.ts
    const evalB = evalBool;
    const D = 2;
    const cmpOps = ['==', '!=', '<', '<=', '>', '>='] as const;
    const { bool } = fc.letrec<{ int: IntExpr; bool: BoolExpr }>((tie) => ({
      int: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.integer({ min: -3, max: 3 }).map(int),
        fc.record({ ref: fc.constantFrom('q' as const, 'k' as const, 'd' as const, 'n' as const), axis: fc.integer({ min: 0, max: D - 1 }) }).map((x): IntExpr => ({ op: 'var', ...x })),
        fc.record({ op: fc.constantFrom('neg' as const, 'abs' as const), a: tie('int') }),
        fc.record({ op: fc.constantFrom<IntOp>('+', '-', '*', '/', '%', 'min', 'max'), a: tie('int'), b: tie('int') }),
      ),
      bool: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        // the shapes the simplifier brings to `d op c` / `|d| op c`: d op c, |d| op c, c op d, k - q op c, -d + c op c
        fc.record({ op: fc.constantFrom(...cmpOps), axis: fc.integer({ min: 0, max: D - 1 }), c: fc.integer({ min: -3, max: 3 }), form: fc.integer({ min: 0, max: 4 }) }).map(({ op, axis, c, form }): BoolExpr => {
          const d: IntExpr = form === 3 ? arith('-', v('k', axis), v('q', axis)) : form === 4 ? arith('+', { op: 'neg', a: v('d', axis) }, int(c)) : v('d', axis);
          const x: IntExpr = form === 1 ? { op: 'abs', a: d } : d;
          return form === 2 ? cmp(op, int(c), x) : cmp(op, x, int(c));
        }),
        fc.record({ op: fc.constantFrom(...cmpOps), a: tie('int'), b: tie('int') }),
        fc.record({ op: fc.constantFrom('&&' as const, '||' as const), a: tie('bool'), b: tie('bool') }),
        tie('bool').map((a): BoolExpr => ({ op: 'not', a })),
      ),
    }));
    const base: OfficialSpec = { grid: [9, 11], group: [2, 3], order: 'raster', relation: { kind: 'B', radius: [0] }, text: { count: 2, place: 'before' } };
    const N = 9 * 11 + 2;
    fc.assert(fc.property(bool, fc.constantFrom('raster' as const, 'grouped' as const), (expr, order) => {
      const spec = { ...base, order };
      const got = denseMask(withPredicate(irFromSpec(spec), expr));
      const want = officialMask({ ...spec, relation: { kind: 'fn', f: (q, k, n) => evalB(expr, q, k, n) } });
      const diff = maskDiff(got, want, N);
      if (diff !== 'equal') throw new Error(`${JSON.stringify(expr)} (${order}): ${diff}`);
    }), { numRuns: 300 });
  });

  it('text attends grid / text only, image without text (non-official variants)', () => {
    for (const textSees of [{ grid: true, text: false }, { grid: false, text: true }, { grid: false, text: false }]) {
      for (const place of ['before', 'after'] as const) {
        const s: OfficialSpec = { grid: [5, 7], group: [2, 3], order: 'grouped', relation: { kind: 'X' }, text: { count: 3, place }, valid: 2, textSees, imageSeesText: false };
        const ir = irFromSpec(s);
        expect(maskDiff(denseMask(ir, 2), officialMask(s), totalTokens(ir))).toBe('equal');
      }
    }
  });
});

// ---- keyCountsPerQueryGroup and patternStats vs brute force on the dense mask ----

/** Brute-force stats from the independent dense mask. */
function bruteStats(spec: OfficialSpec) {
  const mask = officialMask(spec);
  const M = spec.grid.reduce((a, b) => a * b, 1), T = spec.text?.count ?? 0, N = M + T;
  const imageBase = spec.text?.place === 'before' ? T : 0;
  const pos = imagePositions(spec);
  const ng = spec.grid.map((s, i) => Math.ceil(s / spec.group[i]));
  const gid = (p: number[]): number => p.reduce((g, x, i) => g * ng[i] + Math.floor(x / spec.group[i]), 0);
  const G = ng.reduce((a, b) => a * b, 1);
  const keys = new Array<number>(G).fill(-1), keyGroups = new Array<number>(G).fill(-1);
  let pairs = 0;
  for (let i = 0; i < N * N; i++) pairs += mask[i];
  pos.forEach((p, off) => {
    const qi = imageBase + off, g = gid(p);
    let n = 0;
    const groups = new Set<number>();
    for (let k = 0; k < N; k++) {
      if (!mask[qi * N + k]) continue;
      n++;
      const koff = k - imageBase;
      if (koff >= 0 && koff < M) groups.add(gid(pos[koff]));
    }
    // every token of a group has the same row
    if (keys[g] >= 0) expect(n).toBe(keys[g]);
    keys[g] = n; keyGroups[g] = groups.size;
  });
  return { N, G, pairs, keys, keyGroups };
}

const statCases: OfficialSpec[] = [
  { grid: [8, 8], group: [2, 2], order: 'raster', relation: { kind: 'B', radius: [1] }, text: { count: 5, place: 'before' } },
  { grid: [7, 10], group: [3, 4], order: 'grouped', relation: { kind: 'X' }, text: { count: 4, place: 'after' }, valid: 1 },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'raster', relation: { kind: 'X' }, text: { count: 3, place: 'before' }, valid: 0 },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'grouped', relation: { kind: 'Xlines' }, text: null },
  { grid: [11, 9], group: [4, 2], order: 'raster', relation: { kind: 'B', radius: [2, 1], border: 'shift' }, text: { count: 2, place: 'after' } },
  { grid: [1, 1], group: [16, 16], order: 'raster', relation: { kind: 'B', radius: [1] }, text: { count: 3, place: 'before' } },
];

describe('keyCountsPerQueryGroup and patternStats agree with brute-force counts', () => {
  for (const spec of statCases) {
    it(`${spec.grid.join('x')}/${spec.group.join('x')} ${spec.order} ${spec.relation.kind} text=${spec.text?.count ?? 0} valid=${spec.valid ?? 'all'}`, () => {
      const ir = irFromSpec(spec, 16);
      const bf = bruteStats(spec);
      expect(Array.from(keyCountsPerQueryGroup(ir, spec.valid))).toEqual(bf.keys);
      const st = patternStats(ir, spec.valid);
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(st.tokens).toBe(bf.N);
      expect(st.queryGroups).toBe(bf.G);
      expect(st.queryGroups).toBe(groupCount(ir));
      expect(st.visiblePairs).toBe(bf.pairs);
      expect(st.keysPerQueryGroup).toEqual({ min: Math.min(...bf.keys), mean: expect.closeTo(mean(bf.keys), 12), max: Math.max(...bf.keys) });
      expect(st.keyGroupsPerQueryGroup).toEqual({ min: Math.min(...bf.keyGroups), mean: expect.closeTo(mean(bf.keyGroups), 12), max: Math.max(...bf.keyGroups) });
      expect(st.density).toBeCloseTo(bf.pairs / (bf.N * bf.N), 14);
      expect(st.flopsPerHead).toBe(4 * 16 * bf.pairs);
      expect(st.fullFlopsPerHead).toBe(4 * 16 * bf.N * bf.N);
      expect(st.speedupBound).toBeCloseTo((bf.N * bf.N) / bf.pairs, 10);
      expect(st.groupShape).toEqual(spec.group);
      expect(st.gridGroups).toEqual(spec.grid.map((s, i) => Math.ceil(s / spec.group[i])));
      expect(st.textTokens).toBe(spec.text?.count ?? 0);
      expect(st.imageTokens).toBe(bf.N - st.textTokens);
    });
  }

  it('a pattern with nothing visible has speedupBound Infinity', () => {
    const ir = withPredicate(irFromSpec({ grid: [4, 4], group: [2, 2], order: 'raster', relation: { kind: 'B', radius: [0] }, text: null }), cmp('==', int(0), int(1)), false);
    const st = patternStats(ir);
    expect(st.visiblePairs).toBe(0);
    expect(st.speedupBound).toBe(Infinity);
    expect(Array.from(keyCountsPerQueryGroup(ir))).toEqual([0, 0, 0, 0]);
  });

  it('Flux 8192² GRAT-B: closed-form numbers', () => {
    const ir = irFromSpec({ grid: [512, 512], group: [16, 16], order: 'raster', relation: { kind: 'B', radius: [1] }, text: { count: 512, place: 'before' } }, 128);
    const st = patternStats(ir);
    // 32×32 groups: interior 9 groups, edge 6, corner 4 → key groups summed = (3·32 - 2)² = 94²
    expect(st.queryGroups).toBe(1024);
    expect(st.keyGroupsPerQueryGroup).toEqual({ min: 4, mean: (94 * 94) / 1024, max: 9 });
    expect(st.visiblePairs).toBe(256 * (94 * 94 * 256 + 1024 * 512) + 512 * (512 * 512 + 512));
    expect(st.tokens).toBe(262_656);
  });
});

// ---- referenceAttention vs a naive dense computation ----

describe('referenceAttention', () => {
  const attnCases: { spec: OfficialSpec; D: number }[] = [
    { spec: { grid: [6, 8], group: [2, 4], order: 'raster', relation: { kind: 'B', radius: [1] }, text: { count: 4, place: 'before' }, valid: 3 }, D: 8 },
    { spec: { grid: [5, 7], group: [2, 3], order: 'grouped', relation: { kind: 'X' }, text: { count: 3, place: 'after' } }, D: 5 },
    { spec: { grid: [3, 4, 5], group: [2, 2, 2], order: 'raster', relation: { kind: 'X' }, text: { count: 2, place: 'after' }, valid: 0 }, D: 4 },
    { spec: { grid: [3, 4, 5], group: [2, 3, 2], order: 'grouped', relation: { kind: 'Xlines' }, text: null }, D: 6 },
  ];
  const B = 2, H = 3;

  for (const { spec, D } of attnCases) {
    for (const layout of ['bhnd', 'bnhd'] as const) {
      for (const precision of ['f64', 'f32'] as const) {
        it(`${spec.grid.join('x')} ${spec.order} ${spec.relation.kind} ${layout} ${precision}`, () => {
          const seed = freshSeed(), rand = mulberry32(seed);
          const ir = irFromSpec(spec, D), N = totalTokens(ir), n = B * H * N * D;
          const mk = (): Float64Array | Float32Array => (precision === 'f64' ? randomArray(rand, n, 2) : Float32Array.from(randomArray(rand, n, 2)));
          const q = mk(), k = mk(), vv = mk();
          const got = referenceAttention(ir, q, k, vv, { valid: spec.valid, batch: B, heads: H, layout });
          const want = naiveAttention(officialMask(spec), N, D, ir.scale, q, k, vv, B, H, layout);
          expect(maxAbsDiff(got, want), `seed ${seed}`).toBeLessThan(1e-12);
        });
      }
    }
  }

  it('rows with no visible key are exactly 0 (text attends text, valid = 0; image query without keys)', () => {
    const seed = freshSeed(), rand = mulberry32(seed);
    const spec: OfficialSpec = { grid: [4, 6], group: [2, 3], order: 'raster', relation: { kind: 'B', radius: [0] }, text: { count: 3, place: 'before' }, valid: 0, textSees: { grid: false, text: true } };
    // image keys only where the query group's h coordinate is 0: groups with qh = 1 see nothing
    const ir = withPredicate(irFromSpec(spec, 4), and(cmp('==', v('q', 0), int(0)), cmp('==', v('d', 0), int(0))), true);
    const N = totalTokens(ir), D = 4, n = B * H * N * D;
    const q = randomArray(rand, n), k = randomArray(rand, n), vv = randomArray(rand, n);
    for (const layout of ['bhnd', 'bnhd'] as const) {
      const got = referenceAttention(ir, q, k, vv, { valid: 0, batch: B, heads: H, layout });
      const want = naiveAttention(officialMask({ ...spec, relation: { kind: 'fn', f: (qc, kc) => qc[0] === 0 && kc[0] === 0 } }), N, D, ir.scale, q, k, vv, B, H, layout);
      expect(maxAbsDiff(got, want), `seed ${seed}`).toBeLessThan(1e-12);
      const at = (b: number, h: number, t: number): number => (layout === 'bhnd' ? ((b * H + h) * N + t) * D : ((b * N + t) * H + h) * D);
      // text rows 0..2 (nothing valid to see) and image rows of groups with qh = 1 (tokens 3 + 12..23)
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
        for (const t of [0, 1, 2, ...Array.from({ length: 12 }, (_, i) => 15 + i)]) {
          for (let d = 0; d < D; d++) expect(Object.is(got[at(b, h, t) + d], 0)).toBe(true);
        }
        // a visible row is not zero
        expect(got[at(b, h, 3)] !== 0 || got[at(b, h, 3) + 1] !== 0).toBe(true);
      }
    }
  });

  it('detects a wrong mask: B(1) differs from B(0) and from X, agrees with itself', () => {
    const seed = freshSeed(), rand = mulberry32(seed);
    const spec: OfficialSpec = { grid: [6, 6], group: [2, 2], order: 'raster', relation: { kind: 'B', radius: [1] }, text: { count: 2, place: 'before' } };
    const ir = irFromSpec(spec, 4), N = totalTokens(ir), D = 4, n = N * D;
    const q = randomArray(rand, n, 3), k = randomArray(rand, n, 3), vv = randomArray(rand, n);
    const got = referenceAttention(ir, q, k, vv, { batch: 1, heads: 1, layout: 'bhnd' });
    expect(maxAbsDiff(got, naiveAttention(officialMask(spec), N, D, ir.scale, q, k, vv, 1, 1, 'bhnd')), `seed ${seed}`).toBeLessThan(1e-12);
    for (const wrong of [{ ...spec, relation: { kind: 'B', radius: [0] } }, { ...spec, relation: { kind: 'X' } }, { ...spec, valid: 1 }] as OfficialSpec[]) {
      const other = naiveAttention(officialMask(wrong), N, D, ir.scale, q, k, vv, 1, 1, 'bhnd');
      expect(maxAbsDiff(got, other), `seed ${seed}`).toBeGreaterThan(1e-3);
    }
  });

  it('is numerically stable for large logits (row max subtracted)', () => {
    const spec: OfficialSpec = { grid: [4, 4], group: [2, 2], order: 'raster', relation: { kind: 'B', radius: [1] }, text: null };
    const ir = { ...irFromSpec(spec, 2), scale: 1 }, N = 16;
    const q = new Float64Array(N * 2).fill(100), k = new Float64Array(N * 2), vv = new Float64Array(N * 2);
    for (let t = 0; t < N; t++) { k[t * 2] = t * 10; vv[t * 2] = t; vv[t * 2 + 1] = 1; } // logits up to 15000
    const out = referenceAttention(ir, q, k, vv, { batch: 1, heads: 1, layout: 'bhnd' });
    for (const x of out) expect(Number.isFinite(x)).toBe(true);
    expect(out[0]).toBe(15); // token 0 (group (0,0)) sees groups up to (1,1): max key token 15
    expect(out[1]).toBe(1);
  });

  it('rejects inputs of the wrong size', () => {
    const ir = irFromSpec({ grid: [4, 4], group: [2, 2], order: 'raster', relation: { kind: 'X' }, text: null }, 2);
    const x = new Float64Array(16 * 2);
    expect(() => referenceAttention(ir, x, x, new Float64Array(3), { batch: 1, heads: 1, layout: 'bhnd' })).toThrow(RangeError);
    expect(() => referenceAttention(ir, x, x, x, { batch: 2, heads: 1, layout: 'bhnd' })).toThrow(/expected 64/);
  });

  it('works beyond the dense-mask limit without an N×N mask (spot-checked rows)', () => {
    const seed = freshSeed(), rand = mulberry32(seed);
    const spec: OfficialSpec = { grid: [150, 160], group: [8, 8], order: 'raster', relation: { kind: 'B', radius: [1] }, text: { count: 64, place: 'after' }, valid: 40 };
    const D = 4, H = 2, ir = irFromSpec(spec, D), N = totalTokens(ir);
    expect(N).toBeGreaterThan(DENSE_MASK_MAX_TOKENS);
    const n = H * N * D;
    const q = randomArray(rand, n), k = randomArray(rand, n), vv = randomArray(rand, n);
    const out = referenceAttention(ir, q, k, vv, { valid: 40, batch: 1, heads: H, layout: 'bnhd' });
    // one row, recomputed from the definition: image token at (r, c) sees (r', c') with |r/8 - r'/8| <= 1 etc., plus text 0..39
    const M = 150 * 160, at = (h: number, t: number): number => (t * H + h) * D;
    for (const [r, c] of [[0, 0], [77, 91], [149, 159], [8, 7]]) {
      for (let h = 0; h < H; h++) {
        const t = r * 160 + c, keys: number[] = [];
        for (let r2 = 0; r2 < 150; r2++) for (let c2 = 0; c2 < 160; c2++) {
          if (Math.abs(Math.floor(r2 / 8) - Math.floor(r / 8)) <= 1 && Math.abs(Math.floor(c2 / 8) - Math.floor(c / 8)) <= 1) keys.push(r2 * 160 + c2);
        }
        for (let j = 0; j < 40; j++) keys.push(M + j);
        const logits = keys.map((j) => { let s = 0; for (let d = 0; d < D; d++) s += q[at(h, t) + d] * k[at(h, j) + d]; return s * ir.scale; });
        const mx = Math.max(...logits), w = logits.map((x) => Math.exp(x - mx)), z = w.reduce((a, b) => a + b, 0);
        for (let d = 0; d < D; d++) {
          const want = keys.reduce((a, j, i) => a + w[i] * vv[at(h, j) + d], 0) / z;
          expect(Math.abs(out[at(h, t) + d] - want), `seed ${seed} token (${r},${c}) head ${h}`).toBeLessThan(1e-12);
        }
      }
    }
  });
});

/**
 * referenceAttentionBackward against (1) central finite differences of the forward reference's loss
 * sum(O ∘ dO) and (2) an independent dense backward built on `denseMask` (N×N, small N).
 * Fresh random inputs every run; the seed is in the failure message.
 */
import { describe, expect, it } from 'vitest';
import type { BoolExpr, IntExpr, PatternIR } from '../compiler/ir.js';
import { totalTokens } from '../compiler/ir.js';
import { deltaBounds } from '../compiler/predicate.js';
import { simplify } from '../compiler/simplify.js';
import { denseMask, referenceAttention, type Layout } from '../compiler/reference.js';
import { referenceAttentionBackward } from '../compiler/reference_backward.js';
import { mulberry32 } from '../runtime/random.js';
import { irFromSpec, type OfficialSpec } from './support/official_grat.js';

const freshSeed = (): number => (Math.random() * 2 ** 32) >>> 0;
const randomArray = (rand: () => number, n: number): Float64Array => Float64Array.from({ length: n }, () => 2 * rand() - 1);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** The IR with one predicate term, simplified and bounded as the checker does it. */
const withPredicate = (ir: PatternIR, raw: BoolExpr): PatternIR => {
  const expr = simplify(raw, ir.dims.map((d) => [d.groups, d.groups] as const));
  return { ...ir, image: { terms: [{ kind: 'predicate', expr, bounds: deltaBounds(expr, ir.dims.length), origin: 'where(...)' }], text: ir.image.text } };
};
const dv = (axis: number): IntExpr => ({ op: 'var', ref: 'd', axis });
const int = (value: number): IntExpr => ({ op: 'int', value });
// where(|dh| <= 1 && dw % 2 == 0)
const sparsePredicate: BoolExpr = {
  op: '&&',
  a: { op: '<=', a: { op: 'abs', a: dv(0) }, b: int(1) },
  b: { op: '==', a: { op: '%', a: dv(1), b: int(2) }, b: int(0) },
};

interface Case {
  readonly name: string;
  readonly ir: PatternIR;
  readonly valid: readonly number[]; // one per sample
}

const D = 3, H = 2;
const spec = (s: Partial<OfficialSpec> & Pick<OfficialSpec, 'grid' | 'group'>): OfficialSpec => ({ order: 'raster', relation: { kind: 'B', radius: [1] }, text: null, ...s });
const cases = (): Case[] => {
  const out: Case[] = [];
  for (const order of ['raster', 'grouped'] as const) {
    // ragged grid (5 = 2+2+1, 3 = 2+1), text before, per-sample valid lengths incl. 0
    out.push({ name: `ragged B(1) text before ${order}`, ir: irFromSpec(spec({ grid: [3, 5], group: [2, 2], order, text: { count: 3, place: 'before' } }), D), valid: [2, 0] });
    out.push({ name: `ragged X text after ${order}`, ir: irFromSpec(spec({ grid: [5, 3], group: [2, 2], order, relation: { kind: 'X' }, text: { count: 2, place: 'after' } }), D), valid: [2, 1] });
    out.push({ name: `predicate text after ${order}`, ir: withPredicate(irFromSpec(spec({ grid: [4, 5], group: [1, 2], order, text: { count: 2, place: 'after' } }), D), sparsePredicate), valid: [1, 2] });
    // text rows that see only text: with valid 0 they see no key and give nothing
    out.push({ name: `text sees text only ${order}`, ir: irFromSpec(spec({ grid: [3, 3], group: [2, 2], order, text: { count: 2, place: 'before' }, textSees: { grid: false, text: true }, imageSeesText: false }), D), valid: [0, 2] });
  }
  out.push({ name: 'text 0', ir: irFromSpec(spec({ grid: [3, 4], group: [2, 3] }), D), valid: [0, 0] });
  out.push({ name: '1 token', ir: irFromSpec(spec({ grid: [1, 1], group: [1, 1], relation: { kind: 'X' } }), D), valid: [0, 0] });
  return out;
};

/** loss = Σ O ∘ dO with the forward reference, one sample at a time (the forward takes one valid length). */
function loss(ir: PatternIR, q: Float64Array, k: Float64Array, v: Float64Array, dO: Float64Array, valid: readonly number[], layout: Layout): number {
  const per = H * totalTokens(ir) * D; // both layouts keep the batch outermost
  let L = 0;
  valid.forEach((vb, b) => {
    const s = (x: Float64Array): Float64Array => x.subarray(b * per, (b + 1) * per);
    const o = referenceAttention(ir, s(q), s(k), s(v), { valid: vb, batch: 1, heads: H, layout });
    const g = s(dO);
    for (let i = 0; i < per; i++) L += o[i] * g[i];
  });
  return L;
}

/** Dense backward with the explicit N×N mask and full P matrix per (sample, head): independent of reference_backward.ts. */
function denseBackward(ir: PatternIR, q: Float64Array, k: Float64Array, v: Float64Array, dO: Float64Array, valid: readonly number[], layout: Layout) {
  const N = totalTokens(ir), B = valid.length, scale = ir.scale;
  const at = (b: number, h: number, n: number): number => (layout === 'bhnd' ? ((b * H + h) * N + n) * D : ((b * N + n) * H + h) * D);
  const dot = (x: Float64Array, i: number, y: Float64Array, j: number): number => { let s = 0; for (let d = 0; d < D; d++) s += x[i + d] * y[j + d]; return s; };
  const dQ = new Float64Array(q.length), dK = new Float64Array(q.length), dV = new Float64Array(q.length);
  for (let b = 0; b < B; b++) {
    const mask = denseMask(ir, valid[b]);
    for (let h = 0; h < H; h++) {
      const P = new Float64Array(N * N), dS = new Float64Array(N * N);
      for (let i = 0; i < N; i++) {
        const seen = [...Array(N).keys()].filter((j) => mask[i * N + j]);
        if (seen.length === 0) continue;
        const s = seen.map((j) => scale * dot(q, at(b, h, i), k, at(b, h, j)));
        const m = Math.max(...s), z = s.reduce((a, x) => a + Math.exp(x - m), 0);
        seen.forEach((j, t) => { P[i * N + j] = Math.exp(s[t] - m) / z; });
        // dP_ij = dO_i·v_j; dS = P ∘ (dP − rowsum(P ∘ dP))
        let rowSum = 0;
        for (const j of seen) rowSum += P[i * N + j] * dot(dO, at(b, h, i), v, at(b, h, j));
        for (const j of seen) dS[i * N + j] = P[i * N + j] * (dot(dO, at(b, h, i), v, at(b, h, j)) - rowSum);
      }
      // dQ = scale dS K, dK = scale dSᵀ Q, dV = Pᵀ dO
      for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) for (let d = 0; d < D; d++) {
        dQ[at(b, h, i) + d] += scale * dS[i * N + j] * k[at(b, h, j) + d];
        dK[at(b, h, j) + d] += scale * dS[i * N + j] * q[at(b, h, i) + d];
        dV[at(b, h, j) + d] += P[i * N + j] * dO[at(b, h, i) + d];
      }
    }
  }
  return { dQ, dK, dV };
}

const inputs = (ir: PatternIR, B: number, seed: number) => {
  const rand = mulberry32(seed), n = B * H * totalTokens(ir) * D;
  return { q: randomArray(rand, n), k: randomArray(rand, n), v: randomArray(rand, n), dO: randomArray(rand, n) };
};

describe('referenceAttentionBackward', () => {
  for (const c of cases()) {
    for (const layout of ['bhnd', 'bnhd'] as const) {
      it(`${c.name} ${layout}: central finite differences of Σ O∘dO`, () => {
        const seed = freshSeed(), B = c.valid.length;
        const { q, k, v, dO } = inputs(c.ir, B, seed);
        const got = referenceAttentionBackward(c.ir, q, k, v, dO, { valid: c.valid, batch: B, heads: H, layout });
        // Inputs are O(1) and the loss is smooth, so with step h = 1e-5 the central difference's
        // truncation error is ~h²·|f'''|/6 ≈ 1e-11 and its rounding error ~ε·|L|/h ≈ 1e-10; 1e-7
        // leaves two to three orders of margin (observed < 1e-9), while a wrong term is off by far more:
        // a flipped sign in dS by ~0.3, a 0.1 % error in dK by ~1e-4 (both checked by hand).
        const h = 1e-5, tol = 1e-7;
        for (const [name, x, g] of [['dQ', q, got.dQ], ['dK', k, got.dK], ['dV', v, got.dV]] as const) {
          let worst = 0;
          for (let i = 0; i < x.length; i++) {
            const x0 = x[i];
            x[i] = x0 + h; const up = loss(c.ir, q, k, v, dO, c.valid, layout);
            x[i] = x0 - h; const down = loss(c.ir, q, k, v, dO, c.valid, layout);
            x[i] = x0;
            worst = Math.max(worst, Math.abs((up - down) / (2 * h) - g[i]));
          }
          expect(worst, `${name} seed ${seed}`).toBeLessThan(tol);
        }
      });

      it(`${c.name} ${layout}: equals a dense N×N backward on denseMask`, () => {
        const seed = freshSeed(), B = c.valid.length;
        const { q, k, v, dO } = inputs(c.ir, B, seed);
        const got = referenceAttentionBackward(c.ir, q, k, v, dO, { valid: c.valid, batch: B, heads: H, layout });
        const want = denseBackward(c.ir, q, k, v, dO, c.valid, layout);
        for (const name of ['dQ', 'dK', 'dV'] as const) expect(maxAbsDiff(got[name], want[name]), `${name} seed ${seed}`).toBeLessThan(1e-12);
      });
    }
  }

  it('rows that see no key and padded text keys get exactly zero gradients', () => {
    const seed = freshSeed();
    // text attends text only, valid 0: the text rows see nothing; text keys are all padding
    const ir = irFromSpec(spec({ grid: [3, 3], group: [2, 2], text: { count: 2, place: 'before' }, textSees: { grid: false, text: true } }), D);
    const { q, k, v, dO } = inputs(ir, 1, seed);
    const g = referenceAttentionBackward(ir, q, k, v, dO, { valid: 0, batch: 1, heads: H, layout: 'bhnd' });
    for (let h = 0; h < H; h++) for (let t = 0; t < 2; t++) for (let d = 0; d < D; d++) {
      const i = (h * totalTokens(ir) + t) * D + d;
      expect([g.dQ[i], g.dK[i], g.dV[i]], `seed ${seed}`).toEqual([0, 0, 0]);
    }
    expect(maxAbsDiff(g.dQ, new Float64Array(g.dQ.length))).toBeGreaterThan(0); // the image rows do get gradients
  });

  it('one valid length for the batch equals the same length per sample', () => {
    const seed = freshSeed(), ir = irFromSpec(spec({ grid: [3, 5], group: [2, 2], text: { count: 3, place: 'after' } }), D);
    const { q, k, v, dO } = inputs(ir, 2, seed);
    const one = referenceAttentionBackward(ir, q, k, v, dO, { valid: 2, batch: 2, heads: H, layout: 'bnhd' });
    const each = referenceAttentionBackward(ir, q, k, v, dO, { valid: [2, 2], batch: 2, heads: H, layout: 'bnhd' });
    expect(each).toEqual(one);
  });

  it('rejects bad shapes and valid lengths', () => {
    const ir = irFromSpec(spec({ grid: [2, 2], group: [1, 1], text: { count: 1, place: 'before' } }), D);
    const x = new Float64Array(5 * D * H);
    expect(() => referenceAttentionBackward(ir, x, x, x, new Float64Array(3), { batch: 1, heads: H, layout: 'bhnd' })).toThrow(/dO has 3 elements/);
    expect(() => referenceAttentionBackward(ir, x, x, x, x, { valid: [1, 1], batch: 1, heads: H, layout: 'bhnd' })).toThrow(/one per sample/);
    expect(() => referenceAttentionBackward(ir, x, x, x, x, { valid: 0.5, batch: 1, heads: H, layout: 'bhnd' })).toThrow(RangeError);
  });
});

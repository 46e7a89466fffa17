/**
 * The sm_90a kernel's int8 precision (issue 20), its numerics (codegen/cuda/int8_numerics.ts: the
 * pre-pass's scales, Q and K smoothing, s8 Q·Kᵀ, u8 P × s8 V in exact int32 per key tile, fp32
 * softmax) against the float64 reference on fresh random inputs: Gaussian, and with 20σ outlier
 * channels in Q and K (as DiT activations have); ragged grids, text valid < count (and 0), bhnd and
 * bnhd, head_dim 64 and 128, 1-token grid. The bar is the issue's: relative L1 <= 3 %, cosine >= 0.999.
 * The rejected design (P and V in e4m3) is emulated on the same inputs and must miss the bar on
 * Gaussian inputs: the reason the precision is int8 (and a check that the metric can fail).
 */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { totalTokens, type PatternIR } from '../compiler/ir.js';
import { referenceAttention, type Layout } from '../compiler/reference.js';
import { INT8_L_GUARD, e4m3, e4m3Attention, errorMetrics, int8Attention, int8Tile, newRow, quantize, rne } from '../codegen/cuda/int8_numerics.js';
import { mulberry32 } from '../runtime/random.js';

const bf16 = (x: number): number => {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >> 16) & 1)) >>> 16) << 16;
  return f[0];
};

interface Inputs { q: Float32Array; k: Float32Array; v: Float32Array }

/** bf16-rounded N(0, 1) q, k, v; `outliers`: a few channels of Q and K offset by 20σ (per channel, random sign). */
function inputs(seed: number, size: number, D: number, outliers: boolean): Inputs {
  const rnd = mulberry32(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const make = (off: Float64Array | null): Float32Array => Float32Array.from({ length: size }, (_, i) => bf16(gauss() + (off ? off[i % D] : 0)));
  const offsets = (): Float64Array => {
    const o = new Float64Array(D);
    for (let c = 0; c < 4; c++) o[Math.floor(rnd() * D)] = (rnd() < 0.5 ? -20 : 20);
    return o;
  };
  return { q: make(outliers ? offsets() : null), k: make(outliers ? offsets() : null), v: make(null) };
}

interface Case { name: string; src: string; grid: number[]; text: number; valid: number; heads: number; layout: Layout }
const P = (name: string, body: string): string => `pattern ${name}\n${body}`;
const CASES: Case[] = [
  { name: 'raster 2-D ragged, text before, valid < count', src: P('q1', 'grid h=? w=?\ngroup h=4 w=5\norder raster\ntext 12 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64\ndtype bf16\n'),
    grid: [17, 23], text: 12, valid: 7, heads: 2, layout: 'bhnd' },
  { name: 'grouped 3-D ragged, text after, head_dim 128, bnhd', src: P('q2', 'grid t=? h=? w=?\ngroup t=2 h=3 w=4\norder grouped\ntext 9 after\nimage attends crisscross + text\ntext attends grid\nhead_dim 128\ndtype bf16\n'),
    grid: [3, 7, 10], text: 9, valid: 4, heads: 1, layout: 'bnhd' },
  { name: 'text valid 0 and a 1-token grid', src: P('q3', 'grid h=? w=?\ngroup h=2 w=2\norder raster\ntext 5 after\nimage attends all + text\ntext attends all\nhead_dim 64\ndtype bf16\n'),
    grid: [1, 1], text: 5, valid: 0, heads: 1, layout: 'bhnd' },
];

const irOf = (c: Case): PatternIR => {
  const r = checkSource(c.src, { grid: c.grid, text: c.text });
  if (!r.ir) throw new Error(`${c.name}: ${JSON.stringify(r.diagnostics)}`);
  return r.ir;
};

describe('int8 numerics (issue 20): the kernel\'s integer algorithm against the float64 reference', () => {
  it('the rounding helpers: ties to even, e4m3 values', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999].map(rne)).toEqual([0, 2, 2, -0, -2, 2]);
    expect([1.0625, 1.1875, 448, 1000, 2 ** -9, 0.3].map(e4m3)).toEqual([1, 1.25, 448, 448, 2 ** -9, 0.3125]);
  });

  let seed = (Date.now() & 0xffff) * 7 + 1;
  for (const c of CASES) for (const outliers of [false, true]) {
    it(`${c.name}${outliers ? ', 20σ outlier channels in Q and K' : ', Gaussian'}`, () => {
      const ir = irOf(c), D = ir.headDim, N = totalTokens(ir), B = 2;
      const s = seed++;
      const { q, k, v } = inputs(s, B * c.heads * N * D, D, outliers);
      const opts = { batch: B, heads: c.heads, layout: c.layout, valid: c.valid };
      const ref = referenceAttention(ir, q, k, v, opts);
      const got = int8Attention(ir, q, k, v, opts);
      const m = errorMetrics(got, ref);
      // eslint-disable-next-line no-console
      console.log(`int8 ${c.name} ${outliers ? 'outliers' : 'gauss'} seed ${s}: rel L1 ${(100 * m.relL1).toFixed(2)} %, cosine ${m.cosine.toFixed(5)}`);
      expect(m.relL1).toBeLessThanOrEqual(0.03);
      expect(m.cosine).toBeGreaterThanOrEqual(0.999);
      // rows the reference leaves at 0 (no visible key) are exactly 0 here too
      for (let i = 0; i < ref.length; i++) if (ref[i] === 0 && got[i] !== 0) throw new Error(`element ${i}: ${got[i]} where the reference is 0`);
    });
  }

  it('the integers are in range and the products cannot overflow the exact int→float conversion (|x| < 2^22)', () => {
    const c = CASES[1], ir = irOf(c), D = ir.headDim, N = totalTokens(ir);
    const { q, k, v } = inputs(seed++, c.heads * N * D, D, true);
    const z = quantize(ir, q, k, v, { batch: 1, heads: c.heads, layout: c.layout });
    for (const a of [z.q8, z.k8, z.v8]) for (const x of a) expect(Math.abs(x)).toBeLessThanOrEqual(127);
    expect(127 * 127 * D).toBeLessThan(2 ** 22);
    expect(255 * 127 * 128).toBeLessThan(2 ** 22);
  });

  it('O stays int32 over a flat softmax of 2^20 keys at the largest V (the guard raises the max), and is still the mean', () => {
    const D = 8, BK = 128, r = newRow(D), x = new Float64Array(BK);
    for (let t = 0; t < 2 ** 20 / BK; t++) {
      for (let j = 0; j < BK; j++) x[j] = 3.5 - ((t * 7 + j) % 5) * 1e-3; // nearly flat scores
      int8Tile(r, x, BK, (j, d) => (d & 1 ? -127 : 127), D);
    }
    expect(r.peak).toBeLessThan(2 ** 31);
    expect(r.l).toBeLessThanOrEqual(2 * INT8_L_GUARD + 255 * BK);
    for (let d = 0; d < D; d++) expect(Math.abs(r.o[d] / r.l - (d & 1 ? -127 : 127)) / 127).toBeLessThan(0.01);
    // without the guard the same row leaves int32
    const u = newRow(D);
    for (let t = 0; t < 2 ** 20 / BK; t++) int8Tile(u, x, BK, () => 127, D, Infinity);
    expect(u.peak).toBeGreaterThan(2 ** 31);
  });

  it('without Q smoothing, 20σ outlier channels of Q cost about twice the error (why the pre-pass smooths Q)', () => {
    const c = CASES[0], ir = irOf(c), D = ir.headDim, N = totalTokens(ir);
    const { q, k, v } = inputs(seed++, 2 * c.heads * N * D, D, true);
    const opts = { batch: 2, heads: c.heads, layout: c.layout, valid: c.valid };
    const ref = referenceAttention(ir, q, k, v, opts);
    const raw = errorMetrics(int8Attention(ir, q, k, v, opts, false), ref), smooth = errorMetrics(int8Attention(ir, q, k, v, opts), ref);
    // eslint-disable-next-line no-console
    console.log(`outliers: Q unsmoothed rel L1 ${(100 * raw.relL1).toFixed(2)} %, smoothed ${(100 * smooth.relL1).toFixed(2)} %`);
    expect(raw.relL1).toBeGreaterThan(1.5 * smooth.relL1);
  });

  it('the rejected design, P and V in e4m3, misses the 3 % bar on Gaussian inputs (why the precision is int8)', () => {
    const c = CASES[0], ir = irOf(c), D = ir.headDim, N = totalTokens(ir);
    const { q, k, v } = inputs(seed++, 2 * c.heads * N * D, D, false);
    const opts = { batch: 2, heads: c.heads, layout: c.layout, valid: c.valid };
    const ref = referenceAttention(ir, q, k, v, opts);
    const e = errorMetrics(e4m3Attention(ir, q, k, v, opts), ref), i8 = errorMetrics(int8Attention(ir, q, k, v, opts), ref);
    // eslint-disable-next-line no-console
    console.log(`e4m3 P·V: rel L1 ${(100 * e.relL1).toFixed(2)} %, cosine ${e.cosine.toFixed(5)}; int8: ${(100 * i8.relL1).toFixed(2)} %`);
    expect(e.relL1).toBeGreaterThan(0.03);
    expect(i8.relL1).toBeLessThan(e.relL1 / 2);
  });
});

/**
 * The transposed walk's definition (compiler/transposed.ts) against the dense mask, on random valid
 * patterns (test/support/arb_pattern.ts: ragged grids, 1-3 dims, text before/after/none, clip and
 * shift borders, predicates, both orders, 1-token grids, text 0, valid lengths 0..count), with no
 * kernel compiler: for every image key group and for the text keys, the query tiles it walks hold
 * each query row at most once, at most blockQ rows a tile, and the walked rows × the group's keys,
 * minus what the kernel masks (text keys at positions >= valid), are exactly the mask's columns of
 * those keys: every visible pair covered once, none outside it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { decodeGroup, groupSegment, segToken } from '../compiler/cursor.js';
import type { PatternIR } from '../compiler/ir.js';
import { totalTokens } from '../compiler/ir.js';
import { bindPlan, kernelPlan, type BoundPlan } from '../compiler/plan.js';
import { denseMask } from '../compiler/reference.js';
import { queryInterval, queryTiles } from '../compiler/transposed.js';
import { axisInterval } from '../compiler/keys.js';
import { arbPattern, describePattern, toPattern, type ArbPattern } from './support/arb_pattern.js';

function irOf(p: ArbPattern): PatternIR {
  const t = toPattern(p);
  const r = checkSource(t.source, { grid: t.grid, text: t.text });
  if (!r.ir) throw new Error(`invalid pattern:\n${describePattern(p)}`);
  return r.ir;
}

/** The rows a key group's (or the text keys') walk visits; problems of the walk itself in errs. */
function walkedRows(plan: BoundPlan, k: readonly number[] | null, blockQ: number, N: number, errs: string[]): Uint8Array {
  const seen = new Uint8Array(N);
  for (const t of queryTiles(plan, k, { blockQ })) {
    if (t.n < 1 || t.n > blockQ) errs.push(`tile of ${t.n} rows`);
    for (let r = 0; r < t.n; r++) {
      const q = segToken(plan, t.seg, t.off + r);
      if (seen[q]) errs.push(`row ${q} twice`);
      seen[q] = 1;
    }
  }
  return seen;
}

/** Every key column of the mask against the walk of its key group (image) or of the text keys, with the kernel's masking of text keys >= valid. */
function allErrors(plan: BoundPlan, ir: PatternIR, valid: number, blockQ: number): string[] {
  const N = totalTokens(ir), mask = denseMask(ir, valid), errs: string[] = [];
  const column = (key: number, rows: Uint8Array, masked: boolean, who: string): void => {
    for (let q = 0; q < N; q++) {
      const want = mask[q * N + key], got = masked ? 0 : rows[q];
      if (want !== got) { errs.push(`${who} key ${key}, query ${q}: walked ${got}, mask ${want}`); return; }
    }
  };
  for (let g = 0; g < plan.layout.queryGroups; g++) {
    const kc = decodeGroup(plan, g), seg = groupSegment(plan, kc), e: string[] = [];
    const rows = walkedRows(plan, kc, blockQ, N, e);
    errs.push(...e.map((x) => `key group ${g}: ${x}`));
    for (let r = 0; r < seg.len; r++) column(segToken(plan, seg, r), rows, false, `group ${g}`);
  }
  if (plan.layout.textCount > 0) {
    const e: string[] = [];
    const rows = walkedRows(plan, null, blockQ, N, e);
    errs.push(...e.map((x) => `text keys: ${x}`));
    for (let j = 0; j < plan.layout.textCount; j++) column(plan.layout.textOffset + j, rows, j >= valid, 'text');
  }
  return errs.slice(0, 8);
}

describe('transposed walk (compiler/transposed.ts) == dense mask, column by column', () => {
  it('queryInterval is the exact inverse of axisInterval (every border, offset range, coordinate, group count)', () => {
    for (let n = 1; n <= 9; n++) {
      for (let lo = -4; lo <= 4; lo++) {
        for (let hi = lo - 1; hi <= 4; hi++) {
          for (const border of ['clip', 'shift'] as const) {
            const r = { kind: 'offset' as const, lo, hi };
            for (let k = 0; k < n; k++) {
              const [a, b] = queryInterval(r, k, n, border);
              for (let q = 0; q < n; q++) {
                const [l, h] = axisInterval(r, q, n, border);
                expect(q >= a && q <= b, `n=${n} [${lo},${hi}] ${border} k=${k} q=${q}`).toBe(k >= l && k <= h);
              }
            }
          }
        }
      }
    }
  });

  it('random patterns, tiles of 1..64 rows', () => {
    fc.assert(fc.property(arbPattern({ maxTokens: 160, maxText: 16 }), fc.constantFrom(1, 3, 8, 16, 64), (p, blockQ) => {
      const ir = irOf(p);
      const errs = allErrors(bindPlan(kernelPlan(ir)), ir, p.valid, blockQ);
      if (errs.length) throw new Error(`${describePattern(p)}\nblockQ=${blockQ}\n${errs.join('\n')}`);
    }), { numRuns: 300 });
  });

  it('run-time sizes: a plan compiled once walks the mask\'s columns at every launch size', () => {
    let walked = 0;
    fc.assert(fc.property(arbPattern({ maxTokens: 160, maxText: 16 }), fc.constantFrom(1, 8, 64), (p, blockQ) => {
      const t = toPattern({ ...p, unbound: true });
      const rt = checkSource(t.source, { runtimeSizes: true });
      if (!rt.ir) return; // a predicate that may overflow at the run-time limits (E0506)
      const sizes = { grid: p.dims.map((d) => d.size), text: p.text?.count ?? 0 };
      const errs = allErrors(bindPlan(kernelPlan(rt.ir), sizes), irOf(p), p.valid, blockQ);
      if (errs.length) throw new Error(`${t.source}\nsizes ${JSON.stringify(sizes)} valid=${p.valid} blockQ=${blockQ}\n${errs.join('\n')}`);
      walked++;
    }), { numRuns: 200 });
    expect(walked).toBeGreaterThan(150);
  });

  it('Flux GRAT-B: an interior key group is seen by its 3x3 query groups and the text rows', () => {
    const r = checkSource('pattern fb\ngrid h=64 w=64\ngroup h=16 w=16\ntext 5 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 128\n', {});
    const plan = bindPlan(kernelPlan(r.ir!));
    const tiles = queryTiles(plan, [1, 2], { blockQ: 64 });
    expect(tiles.length).toBe(9 * 4 + 1);
    expect(tiles[tiles.length - 1]).toMatchObject({ seg: { base: 0, len: 5 }, off: 0, n: 5 });
    // the text keys: every grid row (one run), then the text rows
    expect(queryTiles(plan, null, { blockQ: 4096 }).map((t) => [t.seg.base, t.n])).toEqual([[5, 4096], [0, 5]]);
  });
});

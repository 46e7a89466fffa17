/**
 * bench/cuda/work_model.ts against brute force: on random patterns (awkward sizes, ragged grids,
 * text or not, both orders, runs on and off) the useful pairs it counts tile by tile are the dense
 * mask's visible pairs, every query row is in exactly one tile, and the issued work bounds the
 * useful; the list schedule is checked against its own bounds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { totalTokens } from '../compiler/ir.js';
import { denseMask } from '../compiler/reference.js';
import { listSchedule, specOf, summarize, tileWork } from '../bench/cuda/work_model.js';
import { arbPattern, describePattern, toPattern } from './support/arb_pattern.js';

describe('sm_90a work model (bench/cuda/work_model.ts)', () => {
  for (const runs of [false, true]) {
    it(`useful pairs == the dense mask's visible pairs, runs ${runs}`, () => {
      fc.assert(fc.property(arbPattern({ maxTokens: 300, maxText: 40 }), fc.constantFrom(1, 8), (p0, blockRows) => {
        const p = { ...p0, headDim: 128 };
        const t = toPattern(p);
        const r = checkSource(t.source, { grid: t.grid, text: t.text });
        if (!r.ir) throw new Error(`invalid pattern:\n${describePattern(p)}`);
        const ir = r.ir, N = totalTokens(ir), mask = denseMask(ir);
        let visible = 0;
        const textRows = ir.text && ir.textQueries ? ir.text.count : 0;
        const off = ir.text?.place === 'before' ? ir.text.count : 0;
        for (let q = 0; q < N; q++) {
          const isText = ir.text !== null && (q < off || q >= off + N - (ir.text?.count ?? 0));
          if (isText && textRows === 0) continue;
          for (let k = 0; k < N; k++) visible += mask[q * N + k];
        }
        const spec = specOf(ir, { runs, blockRows });
        const { tiles, blockQ, blockK } = tileWork(spec);
        const useful = tiles.reduce((n, x) => n + x.qrows * x.keyTokens, 0);
        const rows = tiles.reduce((n, x) => n + x.qrows, 0);
        const msg = `${describePattern(p)}\nruns ${runs} blockRows ${blockRows}`;
        expect(useful, msg).toBe(visible);
        expect(rows, msg).toBe(N - (ir.text ? ir.text.count : 0) + textRows);
        for (const x of tiles) {
          expect(x.qrows).toBeGreaterThan(0); expect(x.qrows).toBeLessThanOrEqual(blockQ);
          expect(x.keyTokens).toBeLessThanOrEqual(x.keyTiles * blockK);
          expect(x.gathered).toBeLessThanOrEqual(x.keyTiles);
        }
        const s = summarize(spec, { sms: 7, heads: 3, overhead: 1, gatherExtra: 0 });
        expect(s.usefulFraction).toBeLessThanOrEqual(1);
        expect(s.efficiency).toBeLessThanOrEqual(1);
      }), { numRuns: 150 });
    });
  }

  it('list schedule: the makespan lies between the bounds, and items go to the CTA free first', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 60 }), fc.integer({ min: 1, max: 9 }), (costs, ctas) => {
      const f = listSchedule(costs, ctas), total = costs.reduce((a, b) => a + b, 0);
      expect(f.reduce((a, b) => a + b, 0)).toBe(total);
      const mk = f.length ? Math.max(...f) : 0;
      expect(mk).toBeGreaterThanOrEqual(Math.max(0, ...costs));
      expect(mk * f.length).toBeGreaterThanOrEqual(total);
      // Graham's bound for greedy list scheduling
      expect(mk).toBeLessThanOrEqual(total / Math.max(1, f.length) + Math.max(0, ...costs));
    }));
    expect(listSchedule([5, 1, 1, 1], 2)).toEqual([5, 3]);
  });
});

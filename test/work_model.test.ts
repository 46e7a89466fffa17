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
import { listSchedule, parseSm90, specOf, summarize, tileWork } from '../bench/cuda/work_model.js';
import { arbPattern, describePattern, toPattern } from './support/arb_pattern.js';
import { fixedPlan } from '../compiler/plan.js';
import { decodeGroup, keyTiles, segToken } from '../compiler/cursor.js';
import { edgeBoxTile, edgeBoxToken, edgeShapeOf, planSm90 } from '../codegen/cuda/sm90.js';

describe('sm_90a work model (bench/cuda/work_model.ts)', () => {
  for (const runs of [false, true]) {
    it(`useful pairs == the dense mask's visible pairs, runs ${runs}`, () => {
      fc.assert(fc.property(arbPattern({ maxTokens: 300, maxText: 40 }), fc.constantFrom(1, 8), fc.boolean(), fc.boolean(), (p0, blockRows, edgeBoxes, halfTiles) => {
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
        const spec = specOf(ir, { runs, blockRows, edgeBoxes, halfTiles });
        const { tiles, blockQ, blockK } = tileWork(spec);
        const useful = tiles.reduce((n, x) => n + x.qrows * x.keyTokens, 0);
        const rows = tiles.reduce((n, x) => n + x.qrows, 0);
        const msg = `${describePattern(p)}\nruns ${runs} blockRows ${blockRows} edgeBoxes ${edgeBoxes} halfTiles ${halfTiles}`;
        expect(useful, msg).toBe(visible);
        expect(rows, msg).toBe(N - (ir.text ? ir.text.count : 0) + textRows);
        for (const x of tiles) {
          expect(x.qrows).toBeGreaterThan(0); expect(x.qrows).toBeLessThanOrEqual(blockQ);
          expect(x.keyTokens).toBeLessThanOrEqual(x.keyTiles * blockK);
          expect(x.gathered).toBeLessThanOrEqual(x.keyTiles);
          expect(x.half).toBe(halfTiles && x.qrows <= blockQ / 2);
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

  // patterns whose groups have a raster box (BK = 128), on ragged grids: edge boxes apply
  const boxGroups = [[16, 8], [8, 16], [16, 16], [4, 32], [4, 8, 8], [2, 8, 8], [2, 4, 8], [3, 4, 4], [2, 16, 8]];
  const arbBoxPattern = fc.record({
    groups: fc.constantFrom(...boxGroups),
    extra: fc.array(fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 31 })), { minLength: 3, maxLength: 3 }),
    text: fc.constantFrom('none', 'before', 'after'), x: fc.boolean(), order: fc.constantFrom('raster', 'raster', 'grouped'), runs: fc.boolean(),
  }).map(({ groups, extra, text, x, order, runs }) => {
    const axes = groups.length === 3 ? ['t', 'h', 'w'] : ['h', 'w'];
    const sizes = groups.map((g, i) => g * extra[i][0] + (extra[i][1] % g));
    const src = [`pattern eb`, `grid ${axes.map((a, i) => `${a}=${sizes[i]}`).join(' ')}`, `group ${axes.map((a, i) => `${a}=${Math.min(groups[i], sizes[i])}`).join(' ')}`, `order ${order}`,
      ...(text === 'none' ? [] : [`text 7 ${text}`]), `image attends ${x ? (axes.length === 3 ? 'crisscross(planes)' : 'crisscross') : 'neighbors(1)'}${text === 'none' ? '' : ' + text'}`,
      ...(text === 'none' ? [] : ['text attends all']), 'head_dim 128', ''].join('\n');
    return { src, runs };
  });

  it('edge boxes: an edge-boxed group\'s key tiles, read as boxes (sm90.ts edgeBoxTile / edgeBoxToken), hold its tokens once each; the useful pairs stay the mask\'s', () => {
    let boxed = 0;
    fc.assert(fc.property(arbBoxPattern, ({ src, runs }) => {
      const r = checkSource(src, {});
      if (!r.ir) throw new Error(src);
      const spec = specOf(r.ir, { runs, edgeBoxes: true }), sm = planSm90(spec), plan = fixedPlan(spec)!;
      if (sm.edgeBoxes) boxed++;
      for (let g = 0; g < plan.layout.queryGroups; g++) {
        const ks = keyTiles(plan, decodeGroup(plan, g), plan.layout.textCount, { blockK: sm.blockK, runs });
        for (let i = 0; i < ks.length;) {
          let j = i;
          while (j < ks.length && ks[j].seg === ks[i].seg) j++;  // one segment's tiles
          const seg = ks[i].seg;
          const e = edgeShapeOf(sm.edgeBoxes, seg);
          if (e) {
            const box = e.alt ? sm.altBox! : sm.rasterBox!;
            const got = ks.slice(i, j).flatMap((t) => {
              const b = edgeBoxTile(box, seg, t.off, sm.blockK);
              return Array.from({ length: sm.blockK }, (_, row) => edgeBoxToken(plan, box, seg, b, row)).filter((k) => k >= 0);
            });
            const want = Array.from({ length: seg.len }, (_, l) => segToken(plan, seg, l));
            expect([...got].sort((a, b) => a - b), src).toEqual([...want].sort((a, b) => a - b));
          }
          i = j;
        }
      }
      // with the mask: the same pairs whatever the variant, fewer gathered tiles with edge boxes
      const N = totalTokens(r.ir), mask = denseMask(r.ir);
      let visible = 0;
      for (let q = 0; q < N; q++) for (let k = 0; k < N; k++) visible += mask[q * N + k];
      const on = tileWork(spec).tiles, off = tileWork(specOf(r.ir, { runs, edgeBoxes: false })).tiles;
      expect(on.reduce((n, x) => n + x.qrows * x.keyTokens, 0), src).toBe(visible);
      expect(on.reduce((n, x) => n + x.gathered, 0) + on.reduce((n, x) => n + x.edgeBoxed, 0), src)
        .toBeGreaterThanOrEqual(off.reduce((n, x) => n + x.gathered, 0));
      expect(on.reduce((n, x) => n + x.gathered, 0), src).toBeLessThanOrEqual(off.reduce((n, x) => n + x.gathered, 0));
    }), { numRuns: 60 });
    expect(boxed).toBeGreaterThan(10);
  });

  it('--sm90 parses boolean variant fields and refuses others', () => {
    expect(parseSm90('edgeBoxes=false,halfTiles=true')).toEqual({ edgeBoxes: false, halfTiles: true });
    expect(() => parseSm90('blockRows=4')).toThrow(/not a boolean field/);
    expect(() => parseSm90('halfTiles=1')).toThrow(/=true or =false/);
  });
});

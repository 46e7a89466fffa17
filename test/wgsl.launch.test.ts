/**
 * The WebGPU runtime's launch of a kernel that takes sizes at launch (codegen/wgsl/runtime.ts
 * launchOf) repeats compiler/plan.ts's rules, because the runtime imports nothing (it runs in
 * browsers): here both are asked about the same random sizes. Accepted and refused alike; the
 * Geom fields equal bindPlan's layout; the tiles equal queryTiling's text tiles, the split rule of
 * spec.ts and the compiled kernel's tiles per group (a run-time axis counts full groups: an edge
 * group's extra tiles end at once).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkSource } from '../compiler/check.js';
import { bindPlan, kernelPlan, launchSizesError, queryTiling, tilesPerGroupOf } from '../compiler/plan.js';
import { compileWgsl } from '../codegen/wgsl/source.js';
import { BLOCK_Q, textSplitsFor } from '../codegen/wgsl/spec.js';
import { launchOf } from '../codegen/wgsl/runtime.js';

const PATTERNS = [
  'pattern a\ngrid h=? w=?\ngroup h=4 w=8\ntext 12 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64',
  'pattern b\ngrid t=? h=? w=20\ngroup t=1 h=4 w=4\norder grouped\ntext ? after\nimage attends neighbors(1) + text\ntext attends text\nhead_dim 64',
  'pattern c\ngrid n=?\ngroup n=64\nimage attends neighbors(1)\nhead_dim 64',
];

describe('the runtime\'s launch of run-time sizes agrees with compiler/plan.ts', () => {
  for (const src of PATTERNS) {
    it(src.split('\n')[0], () => {
      const ir = checkSource(src, { runtimeSizes: true }).ir!;
      const plan = kernelPlan(ir), rt = compileWgsl(ir).source!.runtime!;
      const D = ir.dims.length;
      const size = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: -2, max: 5000 }));
      fc.assert(fc.property(fc.array(size, { minLength: D, maxLength: D }), fc.integer({ min: -3, max: 300 }), (grid, text) => {
        const fixedText = ir.text && !ir.runtime!.text ? ir.text.count : null;
        const t = fixedText ?? (ir.text ? text : 0);
        const tokens = grid.reduce((n, x) => n * x, 1) + t;
        const want = launchSizesError(plan, { grid, text: t });
        let got: ReturnType<typeof launchOf> | Error;
        try { got = launchOf(rt, grid, tokens); } catch (e) { got = e as Error; }
        if (want !== null || tokens < 1) { expect(got, `${grid} text ${t}: ${want}`).toBeInstanceOf(Error); return; }
        if (got instanceof Error) throw got;
        const b = bindPlan(plan, { grid, text: t }), q = queryTiling(b, BLOCK_Q);
        const fields: Record<string, number> = { image_offset: b.layout.imageOffset, image_tokens: b.layout.imageTokens, text_offset: b.layout.textOffset, text_count: b.layout.textCount, query_groups: b.layout.queryGroups, tokens: b.layout.tokens };
        b.dims.forEach((d, a) => { fields[`n${a}`] = d.groups; fields[`size${a}`] = d.size; });
        expect([...got.geom!]).toEqual(rt.geom.map((f) => fields[f]));
        const textKeys = (b.textQueries?.grid ? b.layout.imageTokens : 0) + (b.textQueries?.text ? b.layout.textCount : 0);
        const splits = textSplitsFor(q.textTiles, textKeys);
        expect(got).toMatchObject({ textCount: t, textTiles: q.textTiles, splits, gridTiles: q.textTiles * splits + b.layout.queryGroups * tilesPerGroupOf(plan, BLOCK_Q) });
      }), { numRuns: 300 });
    });
  }
});

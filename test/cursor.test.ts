/**
 * The key-tile cursor's definition (compiler/cursor.ts) against the dense mask, on random valid
 * patterns (test/support/arb_pattern.ts), with no compiler of any kernel language: for every image
 * query group and the text queries, the tiles it walks hold exactly the mask's row of that query
 * tile, each key once, at most blockK keys a tile; with whole-row runs a full tile is contiguous.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { decodeGroup, groupSegment, keyTiles, segToken, type CursorOptions } from '../compiler/cursor.js';
import type { PatternIR } from '../compiler/ir.js';
import { totalTokens } from '../compiler/ir.js';
import { bindPlan, kernelPlan, launchSizesError, type BoundPlan } from '../compiler/plan.js';
import { denseMask } from '../compiler/reference.js';
import { arbPattern, describePattern, toPattern, type ArbPattern } from './support/arb_pattern.js';

function irOf(p: ArbPattern): PatternIR {
  const t = toPattern(p);
  const r = checkSource(t.source, { grid: t.grid, text: t.text });
  if (!r.ir) throw new Error(`invalid pattern:\n${describePattern(p)}`);
  return r.ir;
}

/** Problems of one walk against the mask's row `row` (empty: none). */
function walkErrors(plan: BoundPlan, q: readonly number[] | null, valid: number, opts: CursorOptions, mask: Uint8Array, N: number, row: number): string[] {
  const seen = new Uint8Array(N), errs: string[] = [];
  for (const t of keyTiles(plan, q, valid, opts)) {
    if (t.n > opts.blockK) errs.push(`tile of ${t.n} keys`);
    const first = segToken(plan, t.seg, t.off);
    const flat = t.n === opts.blockK && (t.seg.contiguous || (!t.seg.contiguous && t.seg.lw === plan.dims[plan.dims.length - 1].size && (t.seg.lw * t.seg.lh) % opts.blockK === 0));
    for (let r = 0; r < t.n; r++) {
      const k = segToken(plan, t.seg, t.off + r);
      if (flat && k !== first + r) errs.push(`tile at ${t.off} not contiguous`);
      if (seen[k]) errs.push(`key ${k} twice`);
      seen[k] = 1;
    }
  }
  for (let k = 0; k < N; k++) if (seen[k] !== mask[row * N + k]) errs.push(`key ${k}: walked ${seen[k]}, mask ${mask[row * N + k]}`);
  return errs.slice(0, 5);
}

function allErrors(ir: PatternIR, valid: number, blockK: number, runs: boolean): string[] {
  const plan = bindPlan(kernelPlan(ir)), N = totalTokens(ir), mask = denseMask(ir, valid), opts = { blockK, runs };
  const errs: string[] = [];
  for (let g = 0; g < plan.layout.queryGroups; g++) {
    const q = decodeGroup(plan, g);
    errs.push(...walkErrors(plan, q, valid, opts, mask, N, groupSegment(plan, q).base).map((e) => `group ${g}: ${e}`));
  }
  if (plan.textQueries && plan.layout.textCount > 0) errs.push(...walkErrors(plan, null, valid, opts, mask, N, plan.layout.textOffset).map((e) => `text: ${e}`));
  return errs;
}

describe('key-tile cursor (compiler/cursor.ts) == dense mask', () => {
  for (const runs of [false, true]) {
    it(`random patterns, tiles of 1..64 keys, runs ${runs}`, () => {
      fc.assert(fc.property(arbPattern({ maxTokens: 160, maxText: 16 }), fc.constantFrom(1, 3, 8, 16, 64), (p, blockK) => {
        const errs = allErrors(irOf(p), p.valid, blockK, runs);
        if (errs.length) throw new Error(`${describePattern(p)}\nblockK=${blockK}\n${errs.slice(0, 8).join('\n')}`);
      }), { numRuns: 300 });
    });
  }

  for (const runs of [false, true]) {
    it(`run-time sizes: a plan compiled once walks the mask at every launch size (ragged, 1 token, text 0), runs ${runs}`, () => {
      let walked = 0;
      fc.assert(fc.property(arbPattern({ maxTokens: 160, maxText: 16 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.constantFrom(1, 8, 64), (p, keep, blockK) => {
        // the same pattern with some sizes left to launch (the first dim always): `?` in the file, no binding
        const t = toPattern({ ...p, unbound: true });
        let source = t.source;
        p.dims.forEach((d, a) => { if (keep[a] && a > 0) source = source.replace(`${d.name}=?`, `${d.name}=${d.size}`); });
        if (p.text && keep[3]) source = source.replace(/^text \?/m, `text ${p.text.count}`);
        const rt = checkSource(source, { runtimeSizes: true });
        if (!rt.ir) return; // a predicate that may overflow at the run-time limits (E0506): refused, rightly
        const plan = kernelPlan(rt.ir);
        const sizes = { grid: p.dims.map((d) => d.size), text: p.text?.count ?? 0 };
        expect(plan.runtime).not.toBeNull();
        expect(launchSizesError(plan, sizes)).toBeNull();
        const ir = irOf(p), bound = bindPlan(plan, sizes), N = totalTokens(ir), mask = denseMask(ir, p.valid), opts = { blockK, runs };
        const errs: string[] = [];
        for (let g = 0; g < bound.layout.queryGroups; g++) {
          const q = decodeGroup(bound, g);
          errs.push(...walkErrors(bound, q, p.valid, opts, mask, N, groupSegment(bound, q).base).map((e) => `group ${g}: ${e}`));
        }
        if (bound.textQueries && bound.layout.textCount > 0) errs.push(...walkErrors(bound, null, p.valid, opts, mask, N, bound.layout.textOffset).map((e) => `text: ${e}`));
        if (errs.length) throw new Error(`${source}\nsizes ${JSON.stringify(sizes)} valid=${p.valid} blockK=${blockK}\n${errs.slice(0, 8).join('\n')}`);
        walked++;
      }), { numRuns: 300 });
      expect(walked).toBeGreaterThan(200); // few are refused at the limits
    });
  }

  it('run-time sizes: launch sizes are checked against the compiled ones and the limits', () => {
    const src = 'pattern fb\ngrid h=? w=?\ngroup h=16 w=16\ntext 5 before\nimage attends neighbors(1) + text\nhead_dim 128\n';
    const plan = kernelPlan(checkSource(src, { runtimeSizes: true }).ir!);
    expect(plan.dims.map((d) => d.size)).toEqual([{ kind: 'runtime', max: 4096 }, { kind: 'runtime', max: 4096 }]);
    expect(plan.text?.count).toEqual({ kind: 'fixed', value: 5 });
    expect(launchSizesError(plan, { grid: [1, 1], text: 5 })).toBeNull();
    expect(launchSizesError(plan, { grid: [512, 512], text: 5 })).toBeNull();
    expect(launchSizesError(plan, { grid: [4097, 1], text: 5 })).toMatch(/past the limit 4096/);
    expect(launchSizesError(plan, { grid: [0, 8], text: 5 })).toMatch(/positive/);
    expect(launchSizesError(plan, { grid: [8, 8], text: 4 })).toMatch(/compiled as 5/);
    expect(() => bindPlan(plan)).toThrow(/taken at launch/);
    // limits stay within 32-bit token indices: a text count at launch beside a large fixed grid, a large fixed text beside a run-time grid
    const big = checkSource('grid n=2147450000\ngroup n=1048576\ntext ? after\nimage attends all + text\nhead_dim 64\n', { runtimeSizes: true });
    expect(big.ir?.runtime?.max).toMatchObject({ text: 2 ** 31 - 1 - 2147450000, tokens: 2 ** 31 - 1 });
    const far = checkSource('grid h=? w=?\ngroup h=16 w=16\ntext 2140000000 before\nimage attends all + text\nhead_dim 64\n', { runtimeSizes: true });
    expect(far.diagnostics.map((d) => d.code)).toContain('E0205');
    // a 1-token grid: one group of one token
    const one = bindPlan(plan, { grid: [1, 1], text: 5 });
    expect(keyTiles(one, [0, 0], 5, { blockK: 64, runs: false }).map((t) => [t.seg.base, t.n])).toEqual([[5, 1], [0, 5]]);
  });

  it('runs take whole image rows where a term spans trailing axes (Flux GRAT-X, raster)', () => {
    const r = checkSource('pattern fx\ngrid h=40 w=52\ngroup h=16 w=16\norder raster\ntext 5 before\nimage attends crisscross + text\ntext attends all\nhead_dim 128\n', {});
    const plan = bindPlan(kernelPlan(r.ir!));
    expect(plan.runAxes).toEqual([1, null]);
    const tiles = keyTiles(plan, [1, 1], 5, { blockK: 128, runs: true });
    expect(tiles[0].seg).toMatchObject({ base: 5 + 16 * 52, len: 16 * 52, contiguous: true });
    expect(allErrors(r.ir!, 5, 128, true)).toEqual([]);
  });
});

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
import { bindPlan, kernelPlan, type BoundPlan } from '../compiler/plan.js';
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

  it('runs take whole image rows where a term spans trailing axes (Flux GRAT-X, raster)', () => {
    const r = checkSource('pattern fx\ngrid h=40 w=52\ngroup h=16 w=16\norder raster\ntext 5 before\nimage attends crisscross + text\ntext attends all\nhead_dim 128\n', {});
    const plan = bindPlan(kernelPlan(r.ir!));
    expect(plan.runAxes).toEqual([1, null]);
    const tiles = keyTiles(plan, [1, 1], 5, { blockK: 128, runs: true });
    expect(tiles[0].seg).toMatchObject({ base: 5 + 16 * 52, len: 16 * 52, contiguous: true });
    expect(allErrors(r.ir!, 5, 128, true)).toEqual([]);
  });
});

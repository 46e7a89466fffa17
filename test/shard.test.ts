/**
 * The spatial split plan (compiler/shard.ts) against the dense mask (compiler/reference.ts) on
 * random patterns: whatever a rank's queries see must be its own tokens or something it receives,
 * so the multi-GPU kernel can never read a K/V row that was not sent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { imageOffset, imageTokens, textOffset, totalTokens } from '../compiler/ir.js';
import { groupCoords, queryRuns } from '../compiler/keys.js';
import { bindPlan, kernelPlan } from '../compiler/plan.js';
import { denseMask } from '../compiler/reference.js';
import { spatialPlan, spatialPlans, type SpatialPlan } from '../compiler/shard.js';
import { arbPattern, describePattern, toPattern } from './support/arb_pattern.js';

function irOf(source: string, grid?: number[], text?: number): PatternIR {
  const r = checkSource(source, { grid, text });
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.ir;
}

/** Every property the runtime relies on; throws with the first violation. */
function verifyPlan(ir: PatternIR, plan: SpatialPlan, valid: number): void {
  const N = totalTokens(ir), M = imageTokens(ir), T = ir.text?.count ?? 0, io = imageOffset(ir), to = textOffset(ir);
  const mask = denseMask(ir, valid);
  const G = ir.dims.reduce((n, d) => n * d.groups, 1);
  const owner = new Int32Array(N).fill(-1);
  // sequence shards and query groups partition the sequence and the groups, in rank order
  let nextGroup = 0;
  const starts = [...plan.ranks].sort((a, b) => a.tokens[0] - b.tokens[0]);
  expect(starts.map((r) => r.rank)).toEqual(plan.ranks.map((r) => r.rank));
  for (const r of plan.ranks) {
    for (let t = r.tokens[0]; t < r.tokens[1]; t++) {
      if (owner[t] !== -1) throw new Error(`token ${t} in two shards`);
      owner[t] = r.rank;
    }
    expect(r.groups[0]).toBe(nextGroup);
    nextGroup = r.groups[1];
    expect(r.inner[0]).toBeGreaterThanOrEqual(r.groups[0]);
    expect(r.inner[1]).toBeLessThanOrEqual(r.groups[1]);
    expect(r.grid[0]).toBe(r.tokens[0] + (r.text && ir.text?.place === 'before' ? T : 0) - io);
  }
  expect(nextGroup).toBe(G);
  for (let t = 0; t < N; t++) if (owner[t] === -1) throw new Error(`token ${t} in no shard`);
  // text belongs to the owner; the grid ranges of the text-query partials tile the grid
  for (let t = to; t < to + T; t++) expect(owner[t]).toBe(plan.textOwner);
  let gridNext = 0;
  for (const r of plan.ranks) { expect(r.grid[0]).toBe(gridNext); gridNext = r.grid[1]; }
  expect(gridNext).toBe(M);

  for (const r of plan.ranks) {
    const have = new Uint8Array(N);
    for (let t = r.tokens[0]; t < r.tokens[1]; t++) have[t] = 1;
    for (const x of r.recv) {
      expect(x.from).not.toBe(r.rank);
      for (let t = x.start; t < x.end; t++) {
        if (owner[t] !== x.from) throw new Error(`rank ${r.rank} receives token ${t} from ${x.from}, which does not hold it`);
        if (have[t]) throw new Error(`rank ${r.rank} receives token ${t} twice or its own`);
        have[t] = 1;
      }
    }
    // image queries of its groups see only tokens it has; inner groups only its own (and text)
    for (let g = r.groups[0]; g < r.groups[1]; g++) {
      const inner = g >= r.inner[0] && g < r.inner[1];
      for (const run of queryRuns(ir, g)) {
        for (let qi = run.start; qi < run.start + run.length; qi++) {
          if (owner[qi] !== r.rank) throw new Error(`query ${qi} of group ${g} (${groupCoords(ir, g)}) is not in rank ${r.rank}'s shard`);
          for (let k = 0; k < N; k++) {
            if (!mask[qi * N + k]) continue;
            if (!have[k]) throw new Error(`rank ${r.rank}: query ${qi} sees key ${k}, which it neither holds nor receives`);
            const isText = k >= to && k < to + T;
            if (inner && !isText && owner[k] !== r.rank) throw new Error(`rank ${r.rank}: inner group ${g} sees key ${k} of rank ${owner[k]}`);
          }
        }
      }
    }
  }
}

describe('spatial split plan', () => {
  const flux = (grid: number[], text = 32, extra = ''): PatternIR => irOf(
    `pattern f\ngrid h=${grid[0]} w=${grid[1]}\ngroup h=4 w=4\norder raster\ntext ${text} before\nimage attends neighbors(1) + text\n${extra}head_dim 64\n`);

  it('GRAT-B: bands of rows, one halo row from each neighbour, text from rank 0', () => {
    const ir = flux([32, 8]); // 8 group rows, 2 group columns, 16 tokens a group
    const r = spatialPlan(bindPlan(kernelPlan(ir)), 4);
    if (!r.ok) throw new Error(r.reason);
    const [r0, r1, , r3] = r.plan.ranks;
    expect(r0.tokens).toEqual([0, 32 + 64]);
    expect(r0.text).toBe(true);
    expect(r1.rows).toEqual([2, 4]);
    expect(r1.groups).toEqual([4, 8]);
    expect(r1.recv).toEqual([
      { from: 0, start: 0, end: 32 },
      { from: 0, start: 32 + 32, end: 32 + 64 },
      { from: 2, start: 32 + 128, end: 32 + 160 },
    ]);
    expect(r3.recv.map((x) => x.from)).toEqual([0, 2]);
    expect(r1.inner[1] - r1.inner[0]).toBe(0); // 2 rows, both touch a neighbour's rows
    verifyPlan(ir, r.plan, 32);
  });

  it('bands wider than the halo have inner groups that need nothing from a neighbour', () => {
    const ir = flux([64, 8]); // 16 group rows: 4 a rank
    const r = spatialPlan(bindPlan(kernelPlan(ir)), 4);
    if (!r.ok) throw new Error(r.reason);
    expect(r.plan.ranks.map((x) => x.inner)).toEqual([[0, 6], [10, 14], [18, 22], [26, 32]]);
    verifyPlan(ir, r.plan, 0);
  });

  it('criss-cross reaches every row: everything is received, nothing is inner', () => {
    const ir = irOf('pattern x\ngrid h=24 w=12\ngroup h=4 w=4\ntext 8 after\nimage attends crisscross + text\nhead_dim 64\n');
    const r = spatialPlan(bindPlan(kernelPlan(ir)), 3);
    if (!r.ok) throw new Error(r.reason);
    expect(r.plan.textOwner).toBe(2);
    for (const x of r.plan.ranks) {
      expect(x.inner[1] - x.inner[0]).toBe(0);
      const got = x.recv.reduce((n, t) => n + t.end - t.start, 0);
      expect(got).toBe(totalTokens(ir) - (x.tokens[1] - x.tokens[0]));
    }
    verifyPlan(ir, r.plan, 5);
  });

  it('refuses more GPUs than group rows, with the reason', () => {
    const r = spatialPlan(bindPlan(kernelPlan(flux([8, 8]))), 3);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/2 group row\(s\).*3 GPUs/);
    const all = spatialPlans(bindPlan(kernelPlan(flux([8, 8]))), 4);
    expect('error' in all[3]).toBe(true);
    expect('ranks' in all[2]).toBe(true);
  });

  it('random patterns, 1 to 5 GPUs: every visible key is held or received (300 runs)', () => {
    fc.assert(fc.property(arbPattern({ maxTokens: 160 }), fc.integer({ min: 1, max: 5 }), (p, world) => {
      const t = toPattern(p);
      const ir = irOf(t.source, t.grid, t.text);
      const r = spatialPlan(bindPlan(kernelPlan(ir)), world);
      if (!r.ok) { expect(ir.dims[0].groups).toBeLessThan(world); return; }
      try { verifyPlan(ir, r.plan, p.valid); } catch (e) { throw new Error(`${(e as Error).message}\nworld ${world}\n${describePattern(p)}`); }
    }), { numRuns: 300 });
  });
});

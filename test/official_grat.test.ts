/**
 * The compiler's mask (reference.denseMask over the closed form) against an independent,
 * token-by-token computation of the official GRAT masks (test/support/official_grat.ts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { checkSource } from '../compiler/index.js';
import { totalTokens, type PatternIR } from '../compiler/ir.js';
import { denseMask } from '../compiler/reference.js';
import { patternStats } from '../compiler/stats.js';
import {
  imagePositions, irFromSpec, maskDiff, nattenWindowStart, officialGroupedCoords, officialMask,
  type OfficialSpec, type Relation,
} from './support/official_grat.js';

const B = (...radius: number[]): Relation => ({ kind: 'B', radius });
const Bshift = (...radius: number[]): Relation => ({ kind: 'B', radius, border: 'shift' });
const X: Relation = { kind: 'X' };
const Xlines: Relation = { kind: 'Xlines' };

function expectSameMask(spec: OfficialSpec): void {
  const ir = irFromSpec(spec);
  const N = totalTokens(ir);
  const ours = denseMask(ir, spec.valid);
  const theirs = officialMask(spec);
  expect(ours.length).toBe(N * N);
  const diff = maskDiff(ours, theirs, N);
  expect(diff, `${JSON.stringify(spec)}: ours vs official`).toBe('equal');
}

const label = (s: OfficialSpec): string =>
  `${s.grid.join('x')} / ${s.group.join('x')} ${s.order} ${s.relation.kind}` +
  `${s.relation.kind === 'B' ? `(${s.relation.radius.join(',')}${s.relation.border === 'shift' ? ' shift' : ''})` : ''}` +
  ` text=${s.text ? `${s.text.count} ${s.text.place}` : 'none'}${s.valid !== undefined ? ` valid=${s.valid}` : ''}`;

describe('the independent official mask itself', () => {
  it('grouped order: enumeration agrees with the official `idx // cell_size` formula on divisible grids', () => {
    for (const [grid, group] of [[[8, 12], [4, 4]], [[4, 6, 9], [2, 3, 3]], [[6], [2]], [[2, 2], [2, 2]]] as [number[], number[]][]) {
      const pos = imagePositions({ grid, group, order: 'grouped', relation: X, text: null });
      pos.forEach((p, idx) => {
        expect(p.map((x, i) => Math.floor(x / group[i]))).toEqual(officialGroupedCoords(grid, group, idx));
      });
    }
  });

  it('token → position is a bijection onto the grid, ragged grids included', () => {
    for (const order of ['raster', 'grouped'] as const) {
      for (const [grid, group] of [[[7, 10], [3, 4]], [[5, 7, 6], [2, 3, 4]], [[5, 9], [8, 4]], [[1, 1], [16, 16]]] as [number[], number[]][]) {
        const pos = imagePositions({ grid, group, order, relation: X, text: null });
        const keys = new Set(pos.map((p) => p.join(',')));
        expect(keys.size).toBe(grid.reduce((a, b) => a * b, 1));
        for (const p of pos) p.forEach((x, i) => expect(x >= 0 && x < grid[i]).toBe(true));
      }
    }
  });

  it('grouped order puts each group contiguously (ragged grid)', () => {
    const grid = [5, 7], group = [2, 3];
    const pos = imagePositions({ grid, group, order: 'grouped', relation: X, text: null });
    const gids = pos.map((p) => `${Math.floor(p[0] / 2)},${Math.floor(p[1] / 3)}`);
    const seen = new Set<string>();
    gids.forEach((g, i) => {
      if (i > 0 && gids[i - 1] !== g) { expect(seen.has(g)).toBe(false); }
      seen.add(g);
    });
    expect(seen.size).toBe(3 * 3);
  });

  it('matches hand-written masks for a tiny case (GRAT-X 2×2 groups of 1, one text token before, valid)', () => {
    // tokens: [text, (0,0), (0,1), (1,0), (1,1)]; X on 1-token groups: all but the diagonal opposite
    const m = officialMask({ grid: [2, 2], group: [1, 1], order: 'raster', relation: X, text: { count: 1, place: 'before' } });
    expect(Array.from(m)).toEqual([
      1, 1, 1, 1, 1,
      1, 1, 1, 1, 0,
      1, 1, 1, 0, 1,
      1, 1, 0, 1, 1,
      1, 0, 1, 1, 1,
    ]);
    const padded = officialMask({ grid: [2, 2], group: [1, 1], order: 'raster', relation: X, text: { count: 1, place: 'before' }, valid: 0 });
    for (let q = 0; q < 5; q++) expect(padded[q * 5]).toBe(0);
  });

  it('NATTEN window start: width kept at the edges', () => {
    // length 6, kernel 3: starts 0,0,1,2,3,3
    expect([0, 1, 2, 3, 4, 5].map((i) => nattenWindowStart(i, 6, 3))).toEqual([0, 0, 1, 2, 3, 3]);
    expect([0, 1, 2, 3, 4, 5].map((i) => nattenWindowStart(i, 6, 5))).toEqual([0, 0, 0, 1, 1, 1]);
  });
});

const cases: OfficialSpec[] = [
  // Flux-like 2-D, text before
  { grid: [8, 8], group: [2, 2], order: 'raster', relation: B(1), text: { count: 5, place: 'before' } },
  { grid: [8, 8], group: [2, 2], order: 'grouped', relation: B(1), text: { count: 5, place: 'before' } },
  { grid: [8, 12], group: [4, 4], order: 'raster', relation: X, text: { count: 6, place: 'before' }, valid: 3 },
  { grid: [8, 12], group: [4, 4], order: 'grouped', relation: X, text: { count: 6, place: 'before' }, valid: 3 },
  // 2-D, text after, ragged
  { grid: [7, 10], group: [3, 4], order: 'raster', relation: B(1), text: { count: 4, place: 'after' }, valid: 2 },
  { grid: [7, 10], group: [3, 4], order: 'grouped', relation: B(1), text: { count: 4, place: 'after' }, valid: 2 },
  { grid: [7, 10], group: [3, 4], order: 'raster', relation: X, text: { count: 4, place: 'after' } },
  { grid: [11, 9], group: [4, 2], order: 'grouped', relation: X, text: { count: 3, place: 'before' } },
  { grid: [11, 9], group: [4, 2], order: 'raster', relation: B(2, 1), text: { count: 3, place: 'before' } },
  { grid: [11, 9], group: [4, 2], order: 'grouped', relation: B(0, 2), text: null },
  // valid = 0, valid > count (clamped), valid < 0 (clamped)
  { grid: [6, 6], group: [2, 3], order: 'raster', relation: B(1), text: { count: 4, place: 'before' }, valid: 0 },
  { grid: [6, 6], group: [2, 3], order: 'grouped', relation: X, text: { count: 4, place: 'after' }, valid: 0 },
  { grid: [6, 6], group: [2, 3], order: 'raster', relation: X, text: { count: 4, place: 'after' }, valid: 99 },
  { grid: [6, 6], group: [2, 3], order: 'grouped', relation: B(1), text: { count: 4, place: 'before' }, valid: -3 },
  // no text
  { grid: [9, 9], group: [3, 3], order: 'raster', relation: B(1), text: null },
  { grid: [9, 9], group: [3, 3], order: 'grouped', relation: X, text: null },
  // 3-D (HunyuanVideo-like: text after), even and ragged, planes and lines
  { grid: [4, 6, 6], group: [2, 3, 3], order: 'raster', relation: X, text: { count: 5, place: 'after' } },
  { grid: [4, 6, 6], group: [2, 3, 3], order: 'grouped', relation: X, text: { count: 5, place: 'after' }, valid: 2 },
  { grid: [4, 6, 6], group: [2, 3, 3], order: 'grouped', relation: B(1), text: { count: 5, place: 'after' } },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'raster', relation: X, text: { count: 3, place: 'before' } },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'grouped', relation: X, text: { count: 3, place: 'before' } },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'raster', relation: Xlines, text: { count: 3, place: 'after' }, valid: 1 },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'grouped', relation: Xlines, text: null },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'raster', relation: B(0, 1, 1), text: { count: 2, place: 'after' } },
  { grid: [5, 7, 6], group: [2, 3, 4], order: 'grouped', relation: B(1, 0, 2), text: { count: 2, place: 'before' }, valid: 0 },
  { grid: [7, 5, 5], group: [3, 1, 2], order: 'raster', relation: B(1), text: { count: 3, place: 'after' } },
  // 1-token grid
  { grid: [1, 1], group: [16, 16], order: 'raster', relation: B(1), text: { count: 3, place: 'before' } },
  { grid: [1, 1], group: [16, 16], order: 'grouped', relation: X, text: { count: 3, place: 'after' }, valid: 1 },
  { grid: [1, 1, 1], group: [1, 1, 1], order: 'raster', relation: Xlines, text: null },
  // group larger than the grid in one dim
  { grid: [5, 9], group: [8, 4], order: 'raster', relation: B(1), text: { count: 2, place: 'before' } },
  { grid: [5, 9], group: [8, 4], order: 'grouped', relation: X, text: { count: 2, place: 'after' } },
  { grid: [3, 8, 10], group: [4, 4, 4], order: 'grouped', relation: X, text: { count: 2, place: 'after' } },
  { grid: [3, 8, 10], group: [4, 4, 4], order: 'raster', relation: Xlines, text: { count: 2, place: 'before' } },
  // 1-D
  { grid: [13], group: [4], order: 'raster', relation: B(1), text: { count: 3, place: 'before' } },
  { grid: [13], group: [4], order: 'grouped', relation: Xlines, text: { count: 3, place: 'after' } },
  // groups of one token (token-level windows)
  { grid: [6, 7], group: [1, 1], order: 'raster', relation: B(2, 1), text: { count: 2, place: 'after' } },
  // 2-D planes == lines
  { grid: [8, 9], group: [2, 3], order: 'raster', relation: Xlines, text: { count: 2, place: 'before' } },
];

describe('denseMask(ir) equals the official GRAT mask', () => {
  for (const spec of cases) it(label(spec), () => expectSameMask(spec));

  it('2-D planes and lines are the same pattern', () => {
    const spec: OfficialSpec = { grid: [8, 9], group: [2, 3], order: 'grouped', relation: X, text: { count: 2, place: 'before' } };
    expect(maskDiff(officialMask(spec), officialMask({ ...spec, relation: Xlines }), totalTokens(irFromSpec(spec)))).toBe('equal');
  });

  it('3-D planes and lines differ (the official code uses planes)', () => {
    const spec: OfficialSpec = { grid: [4, 6, 6], group: [2, 3, 3], order: 'raster', relation: X, text: null };
    const planes = denseMask(irFromSpec(spec));
    const lines = denseMask(irFromSpec({ ...spec, relation: Xlines }));
    expect(maskDiff(planes, lines, 4 * 6 * 6)).not.toBe('equal');
    // lines ⊂ planes
    for (let i = 0; i < planes.length; i++) if (lines[i]) expect(planes[i]).toBe(1);
  });

  it('random patterns (fast-check)', () => {
    const dim = fc.record({ size: fc.integer({ min: 1, max: 9 }), group: fc.integer({ min: 1, max: 5 }), radius: fc.integer({ min: 0, max: 3 }) });
    const arb = fc.record({
      dims: fc.array(dim, { minLength: 1, maxLength: 3 }),
      order: fc.constantFrom('raster' as const, 'grouped' as const),
      kind: fc.constantFrom('B', 'Bshift', 'X', 'Xlines'),
      text: fc.option(fc.record({ count: fc.integer({ min: 0, max: 6 }), place: fc.constantFrom('before' as const, 'after' as const) })),
      valid: fc.option(fc.integer({ min: -1, max: 7 }), { nil: undefined }),
    });
    fc.assert(fc.property(arb, (a) => {
      const radius = a.dims.map((d) => d.radius);
      const relation: Relation = a.kind === 'B' ? B(...radius) : a.kind === 'Bshift' ? Bshift(...radius) : a.kind === 'X' ? X : Xlines;
      const spec: OfficialSpec = { grid: a.dims.map((d) => d.size), group: a.dims.map((d) => d.group), order: a.order, relation, text: a.text, valid: a.valid };
      const N = totalTokens(irFromSpec(spec));
      const diff = maskDiff(denseMask(irFromSpec(spec), spec.valid), officialMask(spec), N);
      if (diff !== 'equal') throw new Error(`${label(spec)}: ${diff}`);
    }), { numRuns: 300 });
  });
});

describe('border shift equals a NATTEN-style window on group coordinates', () => {
  const shiftCases: OfficialSpec[] = [
    { grid: [10, 12], group: [2, 2], order: 'raster', relation: Bshift(1), text: null },
    { grid: [10, 12], group: [2, 2], order: 'grouped', relation: Bshift(2, 1), text: { count: 3, place: 'before' } },
    { grid: [11, 13], group: [3, 2], order: 'raster', relation: Bshift(1, 2), text: { count: 2, place: 'after' }, valid: 1 },
    { grid: [4, 9, 10], group: [1, 3, 2], order: 'grouped', relation: Bshift(1), text: { count: 2, place: 'after' } },
    // window wider than the axis: the whole axis (NATTEN requires kernel <= length; we saturate)
    { grid: [6, 12], group: [2, 2], order: 'raster', relation: Bshift(2, 1), text: null },
    // token-level neighborhood attention (1-token groups), NATTEN proper
    { grid: [9, 8], group: [1, 1], order: 'raster', relation: Bshift(1, 2), text: null },
  ];
  for (const spec of shiftCases) it(label(spec), () => expectSameMask(spec));

  it('every query group sees the same number of key groups with shift, not with clip', () => {
    const spec: OfficialSpec = { grid: [10, 12], group: [2, 2], order: 'raster', relation: Bshift(1), text: null };
    const counts = (s: OfficialSpec): Set<number> => {
      const m = denseMask(irFromSpec(s)), N = 120, out = new Set<number>();
      for (let q = 0; q < N; q++) { let n = 0; for (let k = 0; k < N; k++) n += m[q * N + k]; out.add(n); }
      return out;
    };
    expect(counts(spec)).toEqual(new Set([9 * 4]));
    expect(counts({ ...spec, relation: B(1) }).size).toBeGreaterThan(1);
  });
});

// ---- the acceptance tests: .grat TEXT → checkSource → IR → mask, against the official mask ----

const DIMS: Record<number, string[]> = { 1: ['n'], 2: ['h', 'w'], 3: ['t', 'h', 'w'] };

/** The .grat source of an official spec, sizes left as `?` (bound through options like `--grid`). */
function gratSource(spec: OfficialSpec): string {
  const names = DIMS[spec.grid.length], rel = spec.relation;
  const region =
    rel.kind === 'B' ? (rel.radius.length === 1 ? `neighbors(${rel.radius[0]})` : `neighbors(${names.map((n, i) => `${n}=${rel.radius[i]}`).join(', ')})`)
    : rel.kind === 'X' ? (spec.grid.length === 2 ? 'crisscross' : 'crisscross(planes)')
    : rel.kind === 'Xlines' ? 'crisscross(lines)'
    : 'grid';
  return [
    '# generated by test/official_grat.test.ts',
    'pattern official',
    `grid  ${names.map((n) => `${n}=?`).join(' ')}`,
    `group ${names.map((n, i) => `${n}=${spec.group[i]}`).join(' ')}`,
    `order ${spec.order}`,
    ...(spec.text ? [`text ? ${spec.text.place}`] : []),
    ...(rel.kind === 'B' && rel.border === 'shift' ? ['border shift'] : []),
    `image attends ${region}${spec.text ? ' + text' : ''}`,
    ...(spec.text ? ['text attends all'] : []),
    'head_dim 64',
    'dtype bf16',
  ].join('\n') + '\n';
}

function checked(source: string, grid: readonly number[], text?: number): PatternIR {
  const { ir, diagnostics } = checkSource(source, { grid, text, defaultName: 'test' });
  const errors = diagnostics.filter((d) => d.severity === 'error');
  expect(errors, source).toEqual([]);
  expect(ir).not.toBeNull();
  return ir!;
}

/** Brute-force counts of the official mask, to compare with what `gratc inspect` prints (patternStats). */
function officialPairs(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

describe('acceptance: .grat text → checkSource → mask equals the official GRAT mask', () => {
  const textCases: OfficialSpec[] = [
    // Flux-like, text before; B and X; raster and grouped; ragged
    { grid: [12, 16], group: [4, 4], order: 'raster', relation: B(1), text: { count: 8, place: 'before' } },
    { grid: [12, 16], group: [4, 4], order: 'grouped', relation: X, text: { count: 8, place: 'before' }, valid: 5 },
    { grid: [13, 18], group: [4, 4], order: 'raster', relation: B(1), text: { count: 8, place: 'before' }, valid: 3 },
    { grid: [13, 18], group: [4, 4], order: 'grouped', relation: X, text: { count: 8, place: 'before' } },
    { grid: [10, 7], group: [3, 2], order: 'raster', relation: B(2, 1), text: { count: 4, place: 'after' }, valid: 0 },
    { grid: [10, 7], group: [3, 2], order: 'grouped', relation: B(0, 1), text: null },
    { grid: [9, 14], group: [4, 5], order: 'raster', relation: X, text: { count: 5, place: 'after' } },
    // HunyuanVideo-like 3-D, text after; planes (official), lines, B; ragged
    { grid: [4, 6, 8], group: [2, 3, 4], order: 'raster', relation: X, text: { count: 6, place: 'after' } },
    { grid: [4, 6, 8], group: [2, 3, 4], order: 'grouped', relation: X, text: { count: 6, place: 'after' }, valid: 2 },
    { grid: [5, 7, 9], group: [2, 3, 4], order: 'raster', relation: X, text: { count: 6, place: 'after' }, valid: 4 },
    { grid: [5, 7, 9], group: [2, 3, 4], order: 'grouped', relation: B(1), text: { count: 6, place: 'before' } },
    { grid: [5, 7, 9], group: [2, 3, 4], order: 'raster', relation: B(1, 0, 1), text: { count: 3, place: 'after' } },
    { grid: [5, 7, 9], group: [2, 3, 4], order: 'grouped', relation: Xlines, text: { count: 3, place: 'before' }, valid: 0 },
    // edge cases: 1-token grid, group larger than the grid, 1-D, shift
    { grid: [1, 1], group: [16, 16], order: 'raster', relation: B(1), text: { count: 4, place: 'before' }, valid: 2 },
    { grid: [6, 20], group: [8, 8], order: 'grouped', relation: X, text: { count: 4, place: 'before' } },
    { grid: [2, 9, 10], group: [4, 4, 4], order: 'raster', relation: X, text: { count: 4, place: 'after' } },
    { grid: [37], group: [5], order: 'grouped', relation: Bshift(2), text: { count: 3, place: 'after' } },
    { grid: [14, 11], group: [2, 2], order: 'raster', relation: Bshift(1, 2), text: { count: 3, place: 'before' } },
  ];
  for (const spec of textCases) {
    it(label(spec), () => {
      const source = gratSource(spec);
      const ir = checked(source, spec.grid, spec.text?.count);
      const N = totalTokens(ir), want = officialMask(spec);
      expect(maskDiff(denseMask(ir, spec.valid), want, N), source).toBe('equal');
      // what `gratc inspect` reports is counted from the same pattern
      const st = patternStats(ir, spec.valid);
      expect(st.visiblePairs).toBe(officialPairs(want));
      expect(st.density).toBeCloseTo(officialPairs(want) / (N * N), 14);
    });
  }

  it('random patterns through the text (fast-check)', () => {
    const dim = fc.record({ size: fc.integer({ min: 1, max: 9 }), group: fc.integer({ min: 1, max: 5 }), radius: fc.integer({ min: 0, max: 3 }) });
    const arb = fc.record({
      dims: fc.array(dim, { minLength: 1, maxLength: 3 }),
      order: fc.constantFrom('raster' as const, 'grouped' as const),
      kind: fc.constantFrom('B', 'B1', 'Bshift', 'X', 'Xlines'),
      text: fc.option(fc.record({ count: fc.integer({ min: 0, max: 6 }), place: fc.constantFrom('before' as const, 'after' as const) })),
      valid: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
    });
    fc.assert(fc.property(arb, (a) => {
      const radius = a.dims.map((d) => d.radius);
      const relation: Relation = a.kind === 'B' ? B(...radius) : a.kind === 'B1' ? B(radius[0]) : a.kind === 'Bshift' ? Bshift(...radius) : a.kind === 'X' ? X : Xlines;
      const spec: OfficialSpec = { grid: a.dims.map((d) => d.size), group: a.dims.map((d) => d.group), order: a.order, relation, text: a.text, valid: a.valid };
      const source = gratSource(spec);
      const { ir } = checkSource(source, { grid: spec.grid, text: spec.text?.count });
      if (!ir) throw new Error(`checkSource rejected:\n${source}`);
      const diff = maskDiff(denseMask(ir, spec.valid), officialMask(spec), totalTokens(ir));
      if (diff !== 'equal') throw new Error(`${label(spec)}: ${diff}\n${source}`);
    }), { numRuns: 200 });
  });

  const example = (name: string): string => readFileSync(new URL(`../examples/${name}`, import.meta.url), 'utf8');
  const smallText = (src: string, count: number): string => src.replace(/^text\s+\d+\s+(before|after)/m, `text ${count} $1`);

  it('examples/flux_grat_b.grat (--grid 40x56, ragged; 512 text tokens cut to 20 for size)', () => {
    const ir = checked(smallText(example('flux_grat_b.grat'), 20), [40, 56]);
    const spec: OfficialSpec = { grid: [40, 56], group: [16, 16], order: 'raster', relation: B(1), text: { count: 20, place: 'before' }, valid: 13 };
    expect(maskDiff(denseMask(ir, 13), officialMask(spec), totalTokens(ir))).toBe('equal');
  });

  it('examples/flux_grat_x.grat (--grid 48x40)', () => {
    const ir = checked(smallText(example('flux_grat_x.grat'), 16), [48, 40]);
    const spec: OfficialSpec = { grid: [48, 40], group: [16, 16], order: 'raster', relation: X, text: { count: 16, place: 'before' }, valid: 9 };
    expect(maskDiff(denseMask(ir, 9), officialMask(spec), totalTokens(ir))).toBe('equal');
  });

  it('examples/hunyuan_grat_x.grat (--grid 6x20x18, ragged, planes)', () => {
    const ir = checked(smallText(example('hunyuan_grat_x.grat'), 12), [6, 20, 18]);
    const spec: OfficialSpec = { grid: [6, 20, 18], group: [4, 8, 8], order: 'raster', relation: X, text: { count: 12, place: 'after' }, valid: 7 };
    expect(maskDiff(denseMask(ir, 7), officialMask(spec), totalTokens(ir))).toBe('equal');
  });

  it('examples/hunyuan_grat_b.grat (--grid 9x17x16)', () => {
    const ir = checked(smallText(example('hunyuan_grat_b.grat'), 12), [9, 17, 16]);
    const spec: OfficialSpec = { grid: [9, 17, 16], group: [4, 8, 8], order: 'raster', relation: B(1), text: { count: 12, place: 'after' } };
    expect(maskDiff(denseMask(ir), officialMask(spec), totalTokens(ir))).toBe('equal');
  });

  it('examples/sliding_window_1d.grat (--grid 1000): NATTEN-style shifted window of 5 blocks', () => {
    const ir = checked(example('sliding_window_1d.grat'), [1000]);
    const spec: OfficialSpec = { grid: [1000], group: [64], order: 'grouped', relation: Bshift(2), text: null };
    expect(maskDiff(denseMask(ir), officialMask(spec), 1000)).toBe('equal');
  });

  it('examples/video_causal_anchor.grat (grid shrunk to 5x13x20, text 7): predicates vs a brute-force relation', () => {
    // The file continues `image attends ... +` over several lines; the parser did not accept that
    // continuation when this test was written (reported), so the lines are joined here: this
    // test is about the predicates' semantics, not the line syntax.
    const src = smallText(example('video_causal_anchor.grat'), 7)
      .replace(/^grid\s+t=21 h=45 w=80/m, 'grid t=5 h=13 w=20')
      .replace(/\+[ \t]*\r?\n[ \t]*/g, '+ ');
    const ir = checked(src, [5, 13, 20]);
    const near = (q: readonly number[], k: readonly number[], r: number): boolean => Math.abs(k[1] - q[1]) <= r && Math.abs(k[2] - q[2]) <= r;
    const spec: OfficialSpec = {
      grid: [5, 13, 20], group: [2, 8, 8], order: 'raster', text: { count: 7, place: 'after' }, valid: 5,
      relation: {
        kind: 'fn',
        f: (q, k) => {
          const dt = k[0] - q[0], past = dt <= 0 && dt >= -2;
          return (past && near(q, k, 4) && (k[1] - q[1]) % 2 === 0 && (k[2] - q[2]) % 2 === 0) || (past && near(q, k, 1)) || k[0] === 0;
        },
      },
    };
    expect(maskDiff(denseMask(ir, 5), officialMask(spec), totalTokens(ir))).toBe('equal');
  });
});

/**
 * `gratc verify --sample N`: the float64 reference computed for N query groups and N text rows
 * only, compared on exactly those rows, so fixed grids too large for a reference of every row
 * (examples/video_causal_anchor.grat) can be checked.
 */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { groupCount, totalTokens, type PatternIR } from '../compiler/ir.js';
import { referenceAttention, sampleRows } from '../compiler/reference.js';
import { maxAbsErrorOver, randomValues, rowSample, samplePicks } from '../runtime/webgpu/verify.js';
import { gratcIn, ROOT } from './support/cli.js';

const VIDEO = `grid t=5 h=9 w=11
group t=2 h=4 w=4
order raster
text 13 after
image attends where(dt <= 0 && |dh| <= 1) + where(kt == 0) + text
text attends all
head_dim 8
`;

const irOf = (src: string): PatternIR => {
  const r = checkSource(src, {});
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.ir;
};

describe('sampled reference', () => {
  it('samplePicks: n distinct indices, the first and the last among them, seeded', () => {
    for (const [G, n] of [[1, 1], [2, 1], [2, 2], [7, 3], [100, 8], [5, 9]] as const) {
      const p = samplePicks(G, n, 3);
      expect(p).toHaveLength(Math.min(G, n));
      expect(new Set(p).size).toBe(p.length);
      expect([...p].sort((a, b) => a - b)).toEqual(p);
      expect(p.every((g) => Number.isInteger(g) && g >= 0 && g < G)).toBe(true);
      expect(p[0]).toBe(0);
      if (n >= 2) expect(p[p.length - 1]).toBe(G - 1);
      expect(samplePicks(G, n, 3)).toEqual(p);
    }
    expect(samplePicks(1000, 8, 1)).not.toEqual(samplePicks(1000, 8, 2));
  });

  it('equals the full reference on the sampled rows and leaves the rest 0', () => {
    const ir = irOf(VIDEO);
    const seed = Math.floor(Math.random() * 2 ** 31);
    for (const layout of ['bhnd', 'bnhd'] as const) {
      const B = 2, H = 3, N = totalTokens(ir), D = ir.headDim, n = B * H * N * D;
      const [q, k, v] = [0, 1, 2].map((i) => randomValues(n, seed + i));
      const full = referenceAttention(ir, q, k, v, { batch: B, heads: H, layout, valid: 9 });
      const only = rowSample(ir, 3, seed)!;
      expect(only.groups).toHaveLength(3);
      expect(only.textRows).toHaveLength(3);
      const part = referenceAttention(ir, q, k, v, { batch: B, heads: H, layout, valid: 9, only });
      const sampled = new Set(sampleRows(ir, only).flatMap((r) => Array.from({ length: r.length }, (_, i) => r.start + i)));
      expect(sampled.size).toBeGreaterThan(3);
      const stride = layout === 'bhnd' ? D : H * D;
      const wrong: string[] = [];
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
        const base = layout === 'bhnd' ? (b * H + h) * N * D : (b * N * H + h) * D;
        for (let t = 0; t < N; t++) for (let d = 0; d < D; d++) {
          const i = base + t * stride + d;
          if (part[i] !== (sampled.has(t) ? full[i] : 0)) wrong.push(`${layout} b${b} h${h} t${t} d${d}`);
        }
      }
      expect(wrong.slice(0, 5), `seed ${seed}`).toEqual([]);
    }
  });

  it('maxAbsErrorOver sees an error in a sampled row and none outside, in both layouts', () => {
    const ir = irOf(VIDEO);
    const only = { groups: [0, groupCount(ir) - 1], textRows: [4] };
    const rows = sampleRows(ir, only);
    for (const layout of ['bhnd', 'bnhd'] as const) {
      const shape = { batch: 2, heads: 2, tokens: totalTokens(ir), headDim: ir.headDim, layout };
      const n = 2 * 2 * shape.tokens * shape.headDim;
      const at = (b: number, h: number, t: number, d: number): number =>
        layout === 'bhnd' ? ((b * 2 + h) * shape.tokens + t) * shape.headDim + d : ((b * shape.tokens + t) * 2 + h) * shape.headDim + d;
      const want = new Float64Array(n);
      const inside = new Float32Array(n), outside = new Float32Array(n), nan = new Float32Array(n);
      const textRow = rows[rows.length - 1].start;
      inside[at(1, 1, textRow, 3)] = 0.5;
      outside[at(1, 0, rows[0].start + rows[0].length, 0)] = 0.5; // the row after the first sampled run
      nan[at(0, 1, rows[0].start, 7)] = Number.NaN;
      expect(maxAbsErrorOver(inside, want, rows, shape)).toEqual({ max: 0.5, index: at(1, 1, textRow, 3) });
      expect(maxAbsErrorOver(outside, want, rows, shape).max).toBe(0);
      expect(maxAbsErrorOver(outside, want, null, shape).max).toBe(0.5);
      expect(maxAbsErrorOver(nan, want, rows, shape).max).toBe(Infinity);
    }
  });
});

describe('gratc verify --sample', () => {
  it('checks the sampled rows only and says which', async () => {
    const r = await gratcIn(['verify', 'examples/flux_grat_b.grat', '--grid', '8x24', '--backend', 'onnx', '--sample', '2', '--json'], ROOT);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { ok: boolean; sampled: { groups: number[]; textRows: number[] } };
    expect(j.ok).toBe(true);
    expect(j.sampled).toEqual({ groups: [0, 1], textRows: [0, 511] });
    const text = await gratcIn(['verify', 'examples/flux_grat_b.grat', '--grid', '8x24', '--backend', 'onnx', '--sample', '2'], ROOT);
    expect(text.stdout).toContain('checked query groups 0, 1 and text rows 0, 511 (--sample 2)');
  });

  it('compares for real: a tolerance no float32 run meets fails', async () => {
    const r = await gratcIn(['verify', 'examples/flux_grat_b.grat', '--grid', '8x24', '--backend', 'onnx', '--sample', '1', '--tolerance', '1e-12', '--json'], ROOT);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, sampled: { groups: [0], textRows: [0] } });
  });

  it('a fixed grid too large for the full reference is told about --sample, not --grid', async () => {
    // refused by the cost model (compiler/cost.ts) before any work: exit 1
    const r = await gratcIn(['verify', 'examples/video_causal_anchor.grat'], ROOT);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gratc: error: .*--sample \d+/);
    expect(r.stderr).not.toMatch(/--grid/);
    const bound = await gratcIn(['verify', 'examples/sliding_window_1d.grat', '--grid', '100000'], ROOT);
    expect(bound.code).toBe(1);
    expect(bound.stderr).toMatch(/--grid.*--sample \d+/);
    // the --sample suggested fits: it runs (the ONNX model on the CPU would not: no --sample offered)
    const n = /--sample (\d+)/.exec(r.stderr)![1];
    const onnx = await gratcIn(['verify', 'examples/video_causal_anchor.grat', '--backend', 'onnx', '--ep', 'cpu'], ROOT);
    expect(onnx.code).toBe(1);
    expect(onnx.stderr).not.toMatch(/--sample/);
    expect(Number(n)).toBeGreaterThanOrEqual(4);
  });
});

import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { checkFull, checkMessages } from './support/diag.js';

const BASE = `grid h=? w=?
group h=16 w=16
image attends neighbors(1)
head_dim 64
`;
const ok = (extra: string, opts = { grid: [64, 64] as number[] }) => checkSource(BASE + extra, opts);

describe('checker: a valid pattern becomes a concrete IR', () => {
  it('binds symbolic sizes and fills defaults', () => {
    const { ir, diagnostics } = ok('');
    expect(diagnostics).toEqual([]);
    expect(ir).toMatchObject({ name: 'pattern', order: 'raster', dtype: 'bf16', text: null, textQueries: null, headDim: 64, scale: 1 / 8 });
    expect(ir!.dims).toEqual([{ name: 'h', size: 64, group: 16, groups: 4 }, { name: 'w', size: 64, group: 16, groups: 4 }]);
  });

  it('ragged grids get ceil(size/group) groups', () => {
    const { ir } = ok('', { grid: [33, 17] });
    expect(ir!.dims.map((d) => d.groups)).toEqual([3, 2]);
  });

  it('takes the default name from the options', () => {
    expect(checkSource(BASE, { grid: [4, 4], defaultName: 'my-file.v2' }).ir!.name).toBe('my_file_v2');
  });

  it('lowers crisscross to one box per axis (planes) and lines', () => {
    const src = `grid t=8 h=8 w=8\ngroup t=2 h=2 w=2\nhead_dim 64\n`;
    const planes = checkSource(src + 'image attends crisscross\n').ir!;
    expect(planes.image.terms.map((t) => t.kind === 'box' && t.axes.map((a) => (a.kind === 'all' ? '*' : `${a.lo}`)).join(''))).toEqual(['0**', '*0*', '**0']);
    const lines = checkSource(src + 'image attends crisscross(lines)\n').ir!;
    expect(lines.image.terms.map((t) => t.kind === 'box' && t.axes.map((a) => (a.kind === 'all' ? '*' : `${a.lo}`)).join(''))).toEqual(['*00', '0*0', '00*']);
  });

  it('text: default text queries see all; `all` includes text', () => {
    const { ir } = checkSource(BASE.replace('neighbors(1)', 'all') + 'text 7 after\n', { grid: [4, 4] });
    expect(ir!.text).toEqual({ count: 7, place: 'after' });
    expect(ir!.textQueries).toEqual({ grid: true, text: true });
    expect(ir!.image.text).toBe(true);
  });

  it('predicates get interval bounds', () => {
    const { ir } = checkSource(BASE.replace('neighbors(1)', 'where(|dh| <= 1 && dw >= 2 && dw < 5)'), { grid: [64, 64] });
    const t = ir!.image.terms[0];
    // dw < 5 is cut to the deltas 4 groups have: at most 3
    expect(t.kind === 'predicate' && t.bounds).toEqual([{ kind: 'offset', lo: -1, hi: 1 }, { kind: 'offset', lo: 2, hi: 3 }]);
  });

  it('schedule hints are kept per target', () => {
    const { ir } = ok('schedule cuda block_q=128 warps=8\n');
    expect(ir!.schedule).toEqual({ cuda: { block_q: 128, warps: 8 } });
  });
});

describe('checker diagnostics (golden)', () => {
  const cases: [string, string, object?][] = [
    ['unknown region → nearest name', 'grid h=4 w=4\ngroup h=2 w=2\nimage attends neighbours(1)\nhead_dim 8\n', {}],
    ['negative radius', 'grid h=4 w=4\ngroup h=2 w=2\nimage attends neighbors(h=1, w=-1)\nhead_dim 8\n'],
    ['duplicated setting', 'grid h=4 w=4\ngroup h=2 w=2\norder raster\norder grouped\nimage attends grid\nhead_dim 8\n'],
    ['group larger than grid (warning)', 'grid h=4 w=4\ngroup h=8 w=2\nimage attends grid\nhead_dim 8\n'],
    ['overflow of 32-bit token indices', 'grid h=100000 w=100000\ngroup h=16 w=16\nimage attends grid\nhead_dim 8\n'],
    ['40-digit number', 'grid h=1234567890123456789012345678901234567890 w=4\ngroup h=2 w=2\nimage attends grid\nhead_dim 8\n'],
    ['unbound grid', 'grid h=? w=4\ngroup h=2 w=2\nimage attends grid\nhead_dim 8\n'],
    ['text region without text', 'grid h=4 w=4\ngroup h=2 w=2\nimage attends grid + text\nhead_dim 8\n'],
    ['unknown predicate variable', 'grid h=4 w=4\ngroup h=2 w=2\nimage attends where(|dy| <= 1)\nhead_dim 8\n'],
    ['predicate type error', 'grid h=4 w=4\ngroup h=2 w=2\nimage attends where(dh + 1)\nhead_dim 8\n'],
    ['group dims mismatch', 'grid h=4 w=4\ngroup w=2 h=2\nimage attends grid\nhead_dim 8\n'],
    ['unknown order word', 'grid h=4 w=4\ngroup h=2 w=2\norder rastr\nimage attends grid\nhead_dim 8\n'],
    ['unknown schedule key', 'grid h=4 w=4\ngroup h=2 w=2\nimage attends grid\nhead_dim 8\nschedule cuda blok_q=64\n'],
    ['missing statements', 'grid h=4 w=4\n'],
    ['text queries with a group term', 'grid h=4 w=4\ngroup h=2 w=2\ntext 4 before\nimage attends grid\ntext attends neighbors(1)\nhead_dim 8\n'],
    ['bad scale', 'grid h=4 w=4\ngroup h=2 w=2\nimage attends grid\nhead_dim 8\nscale 0\n'],
    ['4 dims', 'grid a=2 b=2 c=2 d=2\ngroup a=1 b=1 c=1 d=1\nimage attends grid\nhead_dim 8\n'],
  ];
  it.each(cases)('%s', (_name, src) => {
    expect(checkMessages(src)).toMatchSnapshot();
  });

  it('renders a caret excerpt and hint', () => {
    expect(checkFull('grid h=4 w=4\ngroup h=2 w=2\nimage attends neighbours(1)\nhead_dim 8\n')).toMatchInlineSnapshot(`
      "x.grat:3:15: error[E0401]: unknown region 'neighbours'
          3 | image attends neighbours(1)
            |               ^^^^^^^^^^
        hint: did you mean 'neighbors'?"
    `);
  });

  it('binding conflicts with a fixed size', () => {
    expect(checkMessages('grid h=4 w=4\ngroup h=2 w=2\nimage attends grid\nhead_dim 8\n', { grid: [4, 8] })).toEqual([
      "x.grat:1:12: error[E0304]: grid size w is fixed to 4 in the pattern, but 8 was given",
    ]);
  });

  it('--grid with the wrong number of sizes', () => {
    expect(checkMessages(BASE, { grid: [4] })[0]).toMatch(/error\[E0303\]: --grid gives 1 size, but the grid has 2 dims/);
  });
});

describe('bundled examples', () => {
  const bindings: Record<string, number[] | undefined> = {
    flux_grat_b: [64, 64], flux_grat_x: [64, 64], hunyuan_grat_b: [32, 48, 80], hunyuan_grat_x: [32, 48, 80],
    sliding_window_1d: [4096], video_causal_anchor: undefined,
  };
  it.each(Object.entries(bindings))('%s checks clean', async (name, grid) => {
    const { readFileSync } = await import('node:fs');
    const r = checkSource(readFileSync(`examples/${name}.grat`, 'utf8'), { grid });
    expect(r.diagnostics).toEqual([]);
    expect(r.ir!.name).toBe(name);
  });

  it('a line ending in + continues the region', () => {
    const { ir } = checkSource('grid h=8 w=8\ngroup h=2 w=2\ntext 3 after\nimage attends neighbors(1) +\n   # a comment line is skipped too\n  text\nhead_dim 8\n');
    expect(ir!.image.text).toBe(true);
    expect(ir!.image.terms).toHaveLength(1);
  });
});

describe('numbers the kernels cannot hold', () => {
  const withScale = (s: string) => checkMessages(`grid h=4 w=4\ngroup h=2 w=2\nimage attends grid\nhead_dim 8\nscale ${s}\n`);
  it('refuses a scale outside fp32 (issue 15.12: 1e39 gave NaN outputs)', () => {
    expect(withScale('1e39')).toEqual(['x.grat:5:7: error[E0603]: scale 1e39 is outside the range of fp32, which kernels compute in']);
    // the kernels' base-2 softmax holds scale * log2(e) in fp32 too
    expect(withScale('3e38')[0]).toMatch(/E0603/);
    // a scale that rounds to 0 in fp32 makes every score equal
    expect(withScale('1e-46')[0]).toMatch(/E0603/);
  });
  it('accepts every scale fp32 holds, scaled by log2(e)', () => {
    for (const s of ['2.3e38', '1e-40', '0.08838834764', '1']) expect(withScale(s)).toEqual([]);
  });
});

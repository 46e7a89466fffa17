/** `gratc inspect`: the summary (text and JSON), query selection, and the PNG/SVG pictures. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import type { PatternIR } from '../compiler/ir.js';
import { buildPicture, C, COLORS } from '../cli/picture.js';
import { renderPng } from '../cli/picture_png.js';
import { escapeXml, renderSvg } from '../cli/picture_svg.js';
import { FLUX, gratc, gratcIn, LINE_1D, put, SYMBOLIC, tempDir, VIDEO } from './support/cli.js';

let dir: string;
beforeAll(() => {
  dir = tempDir();
  put(dir, 'flux.grat', FLUX);
  put(dir, 'video.grat', VIDEO);
  put(dir, 'sym.grat', SYMBOLIC);
  put(dir, 'line.grat', LINE_1D);
});

const irOf = (text: string, grid?: number[]): PatternIR => {
  const r = checkSource(text, { grid, defaultName: 'test' });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.ir as PatternIR;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('inspect: text summary', () => {
  it('a Flux-like 2-D pattern', () => {
    const r = gratc(['inspect', 'flux.grat'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const line = (label: string): string => r.stdout.split('\n').find((l) => l.startsWith(label)) ?? '';
    expect(line('pattern')).toMatch(/flux_grat_b$/);
    expect(line('grid')).toMatch(/h=64 w=64 \(4,096 tokens, 2-D\)/);
    expect(line('group')).toMatch(/h=16 w=16 → 4×4 = 16 query groups/);
    expect(line('order')).toMatch(/raster$/);
    expect(line('text ')).toMatch(/512 tokens before the grid \(valid 512\)/);
    expect(line('image attends')).toMatch(/neighbors\(1\) \+ text$/);
    expect(line('text attends')).toMatch(/all$/);
    expect(line('tokens')).toMatch(/4,608 \(4,096 image \+ 512 text\)/);
    // corner groups see 2×2 groups, edges 2×3, the middle 3×3 (256 tokens each) plus 512 text keys
    expect(line('keys/group')).toMatch(/min 1,536, mean 2,112, max 2,816 tokens/);
    expect(line('key groups')).toMatch(/min 4, mean 6.25, max 9/);
    expect(line('density')).toMatch(/51\.9% \(11,010,048 of 21,233,664/);
    expect(line('FLOPs/head')).toMatch(/5\.64 GFLOP vs 10\.9 GFLOP for full attention/);
    expect(line('speedup')).toMatch(/1\.93×/);
    expect(line('query group ')).toMatch(/5 \(h=1 w=1, 256 tokens\): 9 key groups, 2,816 key tokens/);
    expect(r.stdout).not.toContain('ragged');
  });

  it('a 3-D pattern with crisscross planes', () => {
    const r = gratc(['inspect', 'video.grat'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/grid +t=8 h=16 w=24 \(3,072 tokens, 3-D\)/);
    expect(r.stdout).toMatch(/group +t=2 h=8 w=8 → 4×2×3 = 24 query groups/);
    expect(r.stdout).toMatch(/image attends +crisscross \+ text\n +crisscross: 3 boxes of groups/);
    // every group shares a coordinate with all but (4-1)·(2-1)·(3-1) = 6 groups
    expect(r.stdout).toMatch(/key groups +min 18, mean 18, max 18/);
    expect(r.stdout).toMatch(/query group +7 \(t=1 h=0 w=1, 128 tokens\): 18 key groups/);
  });

  it('a ragged grid bound from the command line', () => {
    const r = gratc(['inspect', 'sym.grat', '--grid', '100x70', '--text', '77', '--valid', '10'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/group +h=16 w=16 → 7×5 = 35 query groups/);
    expect(r.stdout).toContain('ragged: h=100 is not a multiple of 16; the last group along h is 4 wide');
    expect(r.stdout).toContain('ragged: w=70 is not a multiple of 16; the last group along w is 6 wide');
    expect(r.stdout).toMatch(/text +77 tokens before the grid \(valid 10\)/);
  });

  it('sizes left as ? must be bound: exit 1 with the checker\'s hint', () => {
    const r = gratc(['inspect', 'sym.grat'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sym\.grat:1:8: error\[E0301\]/m);
    expect(r.stdout).toBe('');
  });
});

describe('inspect --json', () => {
  it('has the documented keys and the numbers of the text summary', async () => {
    const r = await gratcIn(['inspect', 'flux.grat', '--json'], dir);
    expect(r.code).toBe(0);
    const j: Json = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['gratc', 'path', 'pattern', 'grid', 'dims', 'groupShape', 'gridGroups', 'ragged', 'order', 'text',
      'image', 'textQueries', 'headDim', 'dtype', 'scale', 'stats', 'query', 'split', 'pictures']);
    expect(j).toMatchObject({
      path: 'flux.grat', pattern: 'flux_grat_b', grid: [64, 64], groupShape: [16, 16], gridGroups: [4, 4], ragged: false,
      order: 'raster', text: { count: 512, place: 'before', valid: 512 }, headDim: 128, dtype: 'bf16',
      image: { terms: [{ kind: 'box', origin: 'neighbors(1)' }], text: true }, textQueries: { grid: true, text: true },
      pictures: { png: null, svg: null },
    });
    expect(j.dims[0]).toEqual({ name: 'h', size: 64, group: 16, groups: 4, lastGroup: 16, ragged: false });
    expect(j.scale).toBeCloseTo(1 / Math.sqrt(128), 12);
    expect(Object.keys(j.stats).sort()).toEqual(['density', 'flopsPerHead', 'fullFlopsPerHead', 'gridGroups', 'groupShape', 'imageTokens',
      'keyGroupsPerQueryGroup', 'keysPerQueryGroup', 'queryGroups', 'speedupBound', 'textTokens', 'tokens', 'valid', 'visiblePairs']);
    expect(j.stats).toMatchObject({ tokens: 4608, imageTokens: 4096, textTokens: 512, queryGroups: 16, visiblePairs: 11010048,
      keysPerQueryGroup: { min: 1536, mean: 2112, max: 2816 }, keyGroupsPerQueryGroup: { min: 4, mean: 6.25, max: 9 } });
    expect(j.stats.flopsPerHead).toBe(4 * 128 * 11010048);
    expect(j.query).toEqual({ group: 5, coords: [1, 1], tokens: 256, keyGroups: [0, 1, 2, 4, 5, 6, 8, 9, 10], keyTokens: 9 * 256 + 512 });
  });

  it('3-D: --query-at picks the group holding a token position', async () => {
    const r = await gratcIn(['inspect', 'video.grat', '--json', '--query-at', '7,15,23'], dir);
    const j: Json = JSON.parse(r.stdout);
    expect(j.query.group).toBe(23);
    expect(j.query.coords).toEqual([3, 1, 2]);
    expect(j.query.keyGroups).toHaveLength(18);
    expect(j.text).toEqual({ count: 256, place: 'after', valid: 256 });
    expect(j.order).toBe('grouped');
    expect(j.image.terms.map((t: { origin: string }) => t.origin)).toEqual(['crisscross', 'crisscross', 'crisscross']);
  });

  it('ragged dims, --valid and --query', async () => {
    const r = await gratcIn(['inspect', 'sym.grat', '--grid', '100x70', '--text', '77', '--valid', '10', '--query', '34', '--json'], dir);
    const j: Json = JSON.parse(r.stdout);
    expect(j.ragged).toBe(true);
    expect(j.dims.map((d: { lastGroup: number }) => d.lastGroup)).toEqual([4, 6]);
    expect(j.stats.valid).toBe(10);
    // the bottom-right group is 4×6 tokens; it sees h∈{5,6} × w∈{2,3,4}: 16·16 + 16·16 + 16·6 + 4·16 + 4·16 + 4·6 + 10 text
    expect(j.query).toMatchObject({ group: 34, coords: [6, 4], tokens: 24, keyTokens: 256 + 256 + 96 + 64 + 64 + 24 + 10 });
  });

  it('--valid without a text segment is a usage error', async () => {
    const r = await gratcIn(['inspect', 'line.grat', '--valid', '3'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('gratc: error: --valid was given, but the pattern has no text segment\n');
  });
});

describe('inspect --png / --svg', () => {
  const rgbAt = (png: PNG, x: number, y: number): string => {
    const o = (y * png.width + x) * 4;
    return `#${[png.data[o], png.data[o + 1], png.data[o + 2]].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  };

  it('writes a decodable PNG of the size it reports, with the query group and its keys in place', () => {
    const r = gratc(['inspect', 'flux.grat', '--png', 'flux.png'], dir);
    expect(r.code).toBe(0);
    const size = /wrote flux\.png \((\d+)×(\d+) PNG\)/.exec(r.stdout);
    expect(size).not.toBeNull();
    const png = PNG.sync.read(readFileSync(join(dir, 'flux.png')));
    expect([png.width, png.height]).toEqual([Number(size![1]), Number(size![2])]);
    // where the cells are: the same model the CLI drew (mask: image part, text-query row, text-key column, corner; then the right panel)
    const p = buildPicture(irOf(FLUX), { query: 5 });
    expect([p.width, p.height]).toEqual([png.width, png.height]);
    const at = (g: number, r0: number, c0: number): string => {
      const gr = p.grids[g];
      return rgbAt(png, gr.x + c0 * gr.cellW + 10, gr.y + r0 * gr.cellH + 10);
    };
    // 4×4 groups of 24 px: query group (1,1) red, (0,0) a key (blue), (3,3) not seen
    expect([p.grids[4].rows, p.grids[4].cols, p.grids[4].cellW]).toEqual([4, 4, 24]);
    expect(at(4, 1, 1)).toBe(COLORS[C.query]);
    expect(at(4, 0, 0)).toBe(COLORS[C.image]);
    expect(at(4, 3, 3)).toBe(COLORS[C.none]);
    // the mask: the text band comes first (text before the grid) and sits to the left of and above the image part;
    // text queries see every image key, image queries see the text
    expect(p.grids[3].x).toBeLessThan(p.grids[0].x);
    expect(p.grids[3].y).toBeLessThan(p.grids[0].y);
    expect(at(3, 0, 0)).toBe(COLORS[C.text]);
    for (let c = 0; c < 16; c++) expect(at(1, 0, c)).toBe(COLORS[C.image]);
    expect(at(2, 0, 0)).toBe(COLORS[C.text]);
    // no temp files left behind
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes an SVG with the title, a legend and per-frame labels for 3-D', () => {
    const r = gratc(['inspect', 'video.grat', '--svg', 'video.svg', '--png', 'video.png', '--json'], dir);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).pictures).toEqual({ png: 'video.png', svg: 'video.svg' });
    const svg = readFileSync(join(dir, 'video.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('<title>pattern video_grat_x</title>');
    // captions are wrapped into lines (one <text> each) to fit their column
    const text = [...svg.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]).join(' ');
    expect(text).toContain('pattern video_grat_x: grid t=8 h=16 w=24, group t=2 h=8 w=8');
    expect(text).toContain('query group 7 (t=1 h=0 w=1): 18 key groups + 256 text keys');
    for (let t = 0; t < 4; t++) expect(svg).toContain(`>t=${t}</text>`);
    expect(svg).toContain('>chosen query group</text>');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(existsSync(join(dir, 'video.png'))).toBe(true);
  });

  it('an unwritable picture path is a usage error', () => {
    const r = gratc(['inspect', 'flux.grat', '--png', 'no/such/dir/x.png'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("gratc: error: cannot write 'no/such/dir/x.png': no such folder\n");
  });

  it('1-D: the right panel is one row', () => {
    const ir = irOf(LINE_1D);
    const p = buildPicture(ir, { query: 50 });
    const right = p.grids[p.grids.length - 1];
    expect([right.rows, right.cols]).toEqual([1, 100]);
    expect(Array.from(right.data.subarray(46, 55))).toEqual([1, 2, 2, 2, 4, 2, 2, 2, 1]); // neighbors(3) around group 50
  });

  it('huge group counts are downsampled by OR-ing and stay under 2048 px', async () => {
    const ir = irOf('grid x=200000\ngroup x=10\nimage attends neighbors(1)\nhead_dim 64\n');
    const p = buildPicture(ir, { query: 0 });
    expect(p.width).toBeLessThanOrEqual(2048);
    expect(p.height).toBeLessThanOrEqual(2048);
    const mask = p.grids[0];
    expect(mask.cellW).toBeGreaterThanOrEqual(3);
    // a banded diagonal stays a diagonal: every row has a visible cell, the first one on the diagonal
    for (let r = 1; r < mask.rows; r++) expect(mask.data[r * mask.cols + r]).toBe(2);
    expect((await renderPng(p)).length).toBeGreaterThan(0);
    expect(renderSvg(p).length).toBeLessThan(5_000_000);
  });

  it.each([
    ['t=64 h=400 w=400', 't=1 h=8 w=8', 'neighbors(1)', 64], // 64 tiles of 50×50 groups, downsampled to fit
    ['t=200 h=16 w=16', 't=1 h=8 w=8', 'crisscross', 1], // too many frames for tiles: stacked into one grid
    ['t=3 h=5 w=7', 't=1 h=1 w=1', 'crisscross', 3],
  ])('3-D grid %s / group %s / %s: %i tiles, within 2048 px', (grid, group, region, tiles) => {
    const ir = irOf(`grid ${grid}\ngroup ${group}\ntext 16 after\nimage attends ${region} + text\nhead_dim 64\n`);
    const p = buildPicture(ir, { query: 5 });
    expect(p.width).toBeLessThanOrEqual(2048);
    expect(p.height).toBeLessThanOrEqual(2048);
    const right = p.grids.slice(4); // the mask is 4 grids (image part + text bands)
    expect(right).toHaveLength(tiles);
    const colors = right.flatMap((g) => Array.from(g.data));
    expect(colors.filter((c) => c === 4)).toHaveLength(1); // the query group, once
    expect(colors).toContain(2);
  });

  it('text in the SVG is escaped', () => {
    expect(escapeXml(`a<b & "c" 'd'>`)).toBe('a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;');
  });
});

describe('flops formatting', () => {
  it('keeps significant zeros', async () => {
    const { flops } = await import('../cli/commands/inspect.js');
    expect(flops(4.995e11)).toBe('500 GFLOP');
    expect(flops(5.5e9)).toBe('5.5 GFLOP');
    expect(flops(2.94e12)).toBe('2.94 TFLOP');
    expect(flops(1e3)).toBe('1 kFLOP');
    expect(flops(120)).toBe('120 FLOP');
  });
});

describe('inspect --gpus: the multi-GPU split', () => {
  const measured = JSON.parse(readFileSync('bench/results/parallel_bench_4gpu_h200.json', 'utf8')) as { rows: { case: string; spatial: { bytes_sent_per_rank: number[] }; ulysses: { bytes_sent_per_rank: number[] } }[] };
  const sent = (c: string): { spatial: number[]; ulysses: number[] } => {
    const r = measured.rows.find((x) => x.case === c)!;
    return { spatial: r.spatial.bytes_sent_per_rank, ulysses: r.ulysses.bytes_sent_per_rank };
  };

  it('predicts exactly the bytes each rank sent in the 4-GPU H200 run, and what auto picks', () => {
    for (const [file, grid, c, auto] of [
      ['examples/flux_grat_b.grat', '512x512', 'flux_8192_grat_b_grouped', 'spatial'],
      ['examples/flux_grat_x.grat', '512x512', 'flux_8192_grat_x_grouped', 'ulysses'],
      ['examples/hunyuan_grat_b.grat', '32x48x80', 'hunyuan_720p_grat_b_grouped', 'spatial'],
      ['examples/hunyuan_grat_x.grat', '32x48x80', 'hunyuan_720p_grat_x_grouped', 'ulysses'],
    ] as const) {
      const r = gratc(['inspect', join(process.cwd(), file), '--grid', grid, '--gpus', '4', '--json'], dir);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as Json;
      expect(j.split.ranks.map((x: Json) => x.bytesSpatial)).toEqual(sent(c).spatial);
      expect(j.split.ranks.map((x: Json) => x.bytesUlysses)).toEqual(sent(c).ulysses);
      expect(j.split.auto).toBe(auto);
    }
  });

  it('text: one line a rank and the bytes; too few rows is a line, not an error; out of range is a usage error', () => {
    const r = gratc(['inspect', 'flux.grat', '--gpus', '2'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 GPUs, spatial +rank 0: h group rows 0–1, tokens 0–2,559 \(holds the text\)/);
    expect(r.stdout).toMatch(/sent by the busiest rank a call \(24 heads, 16-bit\): spatial .* MiB, Ulysses .* MiB → auto runs (spatial|ulysses)/);
    const few = gratc(['inspect', 'flux.grat', '--gpus', '8'], dir);
    expect(few.code).toBe(0);
    expect(few.stdout).toMatch(/8 GPUs +no spatial split: the grid has 4 group row\(s\).*Ulysses only/);
    const bad = gratc(['inspect', 'flux.grat', '--gpus', '9'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--gpus 9 is outside 1 to 8/);
    expect((JSON.parse(gratc(['inspect', 'flux.grat', '--json'], dir).stdout) as Json).split).toBeNull();
  });
});

/**
 * The `inspect` pictures (cli/picture*.ts): every caption fits and nothing overlaps, as laid out and
 * as drawn; the PNG (resvg) has text; ticks, the text band and the density are in the figure; the
 * width tables match the font resvg draws with.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import type { PatternIR } from '../compiler/ir.js';
import { buildPicture, labelBox, niceStep, type Label, type Picture } from '../cli/picture.js';
import { rasteriser, renderPng } from '../cli/picture_png.js';
import { renderSvg } from '../cli/picture_svg.js';
import { advanceWidth, OVERHANG, textWidth, wrapText } from '../cli/picture_text.js';
import { arbPattern, toPattern } from './support/arb_pattern.js';
import { FLUX, LINE_1D, VIDEO } from './support/cli.js';

/** GRATC_FUZZ_SCALE=N multiplies the random cases, as in the reliability tests. */
const SCALE = Math.max(1, Number(process.env.GRATC_FUZZ_SCALE ?? 1) || 1);

const irOf = (text: string, grid?: number[], textCount?: number): PatternIR => {
  const r = checkSource(text, { grid, text: textCount, defaultName: 'test' });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.ir as PatternIR;
};
const example = (name: string, grid?: number[]): PatternIR => irOf(readFileSync(`examples/${name}.grat`, 'utf8'), grid);
/** The default query group of `gratc inspect` (the middle one). */
const middle = (ir: PatternIR): number => ir.dims.reduce((g, d) => g * d.groups + Math.floor((d.groups - 1) / 2), 0);
const pictureOf = (ir: PatternIR): Picture => buildPicture(ir, { query: middle(ir) });

/** The <text> elements of an SVG, read back from the SVG itself (not the model). */
function svgTexts(svg: string): { labels: Label[]; width: number; height: number } {
  const vb = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  expect(vb).not.toBeNull();
  const unescape = (s: string): string => s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e] as string);
  const re = /<text x="([-\d.]+)" y="([-\d.]+)" font-size="(\d+)"( font-weight="bold")?(?: text-anchor="(middle|end)")? fill="[^"]*">([^<]*)<\/text>/g;
  const labels = [...svg.matchAll(re)].map((m): Label => ({
    x: Number(m[1]), y: Number(m[2]), size: Number(m[3]), bold: m[4] !== undefined, anchor: (m[5] ?? 'start') as Label['anchor'], text: unescape(m[6]),
  }));
  expect(labels.length).toBe(svg.split('<text ').length - 1); // every <text> element was read
  return { labels, width: Number(vb![1]), height: Number(vb![2]) };
}

/** What is wrong with an SVG's text: any outside the picture, and pairs that overlap (boxes from the font's widths). */
function textProblems(svg: string): string[] {
  const { labels, width, height } = svgTexts(svg);
  const boxes = labels.map((l) => ({ l, ...labelBox(l) }));
  const bad: string[] = [];
  for (const b of boxes) {
    if (!(b.x0 >= 0 && b.x1 <= width && b.y0 >= 0 && b.y1 <= height)) {
      bad.push(`'${b.l.text}' at (${b.x0.toFixed(1)}..${b.x1.toFixed(1)}, ${b.y0.toFixed(1)}..${b.y1.toFixed(1)}) leaves ${width}×${height}`);
    }
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) bad.push(`'${a.l.text}' overlaps '${b.l.text}'`);
    }
  }
  return bad;
}

/** The pictures the issue named, and shapes that stress the layout. */
const CASES: [string, () => PatternIR][] = [
  ['flux_grat_b 64x64', () => example('flux_grat_b', [64, 64])],
  ['flux_grat_x 128x128 (its caption was cut: "15 key groups +")', () => example('flux_grat_x', [128, 128])],
  ['video_causal_anchor (3-D tiles, ragged, text after)', () => example('video_causal_anchor')],
  ['sliding_window_1d 4096 (1-D)', () => example('sliding_window_1d', [4096])],
  ['3-D: 200 frames stacked into one grid', () => irOf('grid t=200 h=16 w=16\ngroup t=1 h=8 w=8\ntext 16 after\nimage attends crisscross + text\nhead_dim 64\n')],
  ['3-D: 64 tiles of 1×40 groups, downsampled', () => irOf('grid t=64 h=8 w=320\ngroup t=1 h=8 w=8\nimage attends neighbors(1)\nhead_dim 64\n')],
  ['1-D: 20,000 groups, downsampled', () => irOf('grid x=200000\ngroup x=10\nimage attends neighbors(1)\nhead_dim 64\n')],
  ['1-D: 3 groups (the smallest panels)', () => irOf('grid x=3\ngroup x=1\ntext 1000000 before\nimage attends neighbors(1) + text\nhead_dim 64\n')],
  ['a 64-character pattern name', () => irOf(`pattern ${'a_very_long_pattern_name_'.repeat(2)}that_goes_on_\ngrid h=4 w=4\ngroup h=1 w=1\nimage attends all\nhead_dim 64\n`)],
];

describe('picture layout: every text fits the picture, none overlaps', () => {
  it.each(CASES)('%s', (_, ir) => expect(textProblems(renderSvg(pictureOf(ir())))).toEqual([]));

  it('random patterns (1-D to 3-D, text before/after/none, ragged)', () => {
    fc.assert(fc.property(arbPattern({ maxTokens: 1500, maxText: 300 }), fc.nat(), (p, pick) => {
      const t = toPattern(p);
      const ir = irOf(t.source, t.grid, t.text);
      const G = ir.dims.reduce((n, d) => n * d.groups, 1);
      expect(textProblems(renderSvg(buildPicture(ir, { query: pick % G, valid: p.valid })))).toEqual([]);
    }), { numRuns: 40 * SCALE });
  });

  it('the width of a string is the sum of its characters\' and grows with the size; wrapping keeps every line within the width', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'abc xyz ABC WMm 0123 =×(),;:'.split('')), maxLength: 120 }),
      fc.integer({ min: 40, max: 400 }), fc.boolean(), (s, maxW, bold) => {
        expect(textWidth(s, 20, bold)).toBeCloseTo(2 * textWidth(s, 10, bold), 9);
        expect(advanceWidth(s, 10, bold)).toBeCloseTo([...s].reduce((w, c) => w + advanceWidth(c, 10, bold), 0), 9);
        expect(textWidth(s, 10, bold)).toBeCloseTo(advanceWidth(s, 10, bold) + 2 * OVERHANG * 10, 9);
        const lines = wrapText(s, 11, maxW, bold);
        for (const l of lines) expect(textWidth(l, 11, bold)).toBeLessThanOrEqual(maxW);
        // nothing is lost: only the spaces where lines break go
        expect(lines.join('').replace(/ /g, '')).toBe(s.replace(/ /g, ''));
      }), { numRuns: 300 * SCALE });
  });

  it('nice tick steps', () => {
    expect([0.3, 1, 1.2, 2, 3, 5.5, 11, 99, 101].map(niceStep)).toEqual([1, 1, 2, 2, 5, 10, 20, 100, 200]);
  });
});

describe('picture content: title, ticks, text band, density', () => {
  const texts = (svg: string): string[] => svgTexts(svg).labels.map((l) => l.text);

  it('flux_grat_b 64x64: title, subtitle with the density, the band\'s count and valid length, ticks', () => {
    const ir = example('flux_grat_b', [64, 64]);
    const svg = renderSvg(buildPicture(ir, { query: 5, valid: 77 }));
    const all = texts(svg).join(' ');
    expect(all).toContain('pattern flux_grat_b: grid h=64 w=64, group h=16 w=16');
    expect(all).toMatch(/16 query groups \(4×4\), order raster, density [\d.]+% \([\d,]+ of [\d,]+ query-key pairs visible\)/);
    expect(all).toContain('text band: 512 tokens before the grid, 77 valid');
    expect(all).toContain('query group 5 (h=1 w=1): 9 key groups + 77 text keys');
    // ticks: the mask's rows and columns at each h, the right panel's h down and w across, and the band
    const t = texts(svg);
    for (const k of ['h=0', 'h=1', 'h=2', 'h=3']) expect(t.filter((x) => x === k).length).toBeGreaterThanOrEqual(3);
    expect(t).toContain('w=0');
    expect(t.filter((x) => x === 'text')).toHaveLength(2);
    expect(svg.match(/<rect x="\d+" y="\d+" width="(1|4)" height="(4|1)"\/>/g)?.length).toBeGreaterThanOrEqual(12); // tick marks
  });

  it('the density shown is the one of the whole-grid text summary (flux 64x64, all 512 text tokens valid)', () => {
    const svg = renderSvg(pictureOf(irOf(FLUX)));
    // 11,010,048 visible pairs of 4,608²: counted by hand in test/cli.inspect.test.ts
    expect(texts(svg).join(' ')).toContain('density 51.9% (11,010,048 of 21,233,664 query-key pairs visible)');
  });

  it('3-D: one tile per frame, each with its t= label; 1-D: no "(G)" after the group count', () => {
    const t = texts(renderSvg(pictureOf(irOf(VIDEO))));
    for (let k = 0; k < 4; k++) expect(t).toContain(`t=${k}`);
    expect(texts(renderSvg(pictureOf(irOf(LINE_1D)))).join(' ')).toContain('100 query groups, order raster');
  });
});

describe('PNG: the SVG rasterised with its text', () => {
  /** Pixels of text or ticks: dark and grey (no cell colour is). */
  const inkAt = (png: PNG, x: number, y: number): boolean => {
    const o = (y * png.width + x) * 4;
    const [r, g, b] = [png.data[o], png.data[o + 1], png.data[o + 2]];
    return Math.max(r, g, b) < 160 && Math.max(r, g, b) - Math.min(r, g, b) < 40;
  };

  it.each([
    ['flux_grat_x 128x128', () => example('flux_grat_x', [128, 128])],
    ['a 3-D video', () => irOf(VIDEO)],
    ['1-D', () => irOf(LINE_1D)],
  ])('%s: every label is drawn, and only inside its box', async (_, irFn) => {
    const p = pictureOf(irFn());
    const buf = await renderPng(p);
    expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const png = PNG.sync.read(buf);
    expect([png.width, png.height]).toEqual([p.width, p.height]);
    const boxes = p.labels.map((l) => ({ l, ...labelBox(l) }));
    const pad = 1.5; // anti-aliasing reaches a pixel past the glyphs
    const inside = (x: number, y: number): boolean =>
      boxes.some((b) => x + 1 > b.x0 - pad && x < b.x1 + pad && y + 1 > b.y0 - pad && y < b.y1 + pad)
      || p.ticks.some((t) => x + 1 > t.x - 1 && x < t.x + t.w + 1 && y + 1 > t.y - 1 && y < t.y + t.h + 1);
    const inkPerLabel = new Array<number>(boxes.length).fill(0);
    const stray: string[] = [];
    for (let y = 0; y < png.height; y++) {
      for (let x = 0; x < png.width; x++) {
        if (!inkAt(png, x, y)) continue;
        if (!inside(x, y)) stray.push(`(${x}, ${y})`);
        boxes.forEach((b, i) => { if (x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1) inkPerLabel[i]++; });
      }
    }
    expect(stray, 'ink outside every text box and tick').toEqual([]);
    // the title (the old PNG had no text at all), each caption line, legend entry, tick and tile label
    expect(boxes.filter((b, i) => inkPerLabel[i] <= 2 * b.l.text.replace(/ /g, '').length).map((b) => b.l.text), 'labels with no ink').toEqual([]);
  });

  it('cells keep their exact colours at their centres (cells are drawn crisp, text anti-aliased)', async () => {
    const p = pictureOf(irOf(FLUX));
    const png = PNG.sync.read(await renderPng(p));
    const rgb = (x: number, y: number): string => `#${[0, 1, 2].map((c) => png.data[(y * png.width + x) * 4 + c].toString(16).padStart(2, '0')).join('')}`;
    const { COLORS } = await import('../cli/picture.js');
    let checked = 0;
    for (const g of p.grids) {
      for (let r = 0; r < g.rows; r++) {
        for (let c = 0; c < g.cols; c++) {
          expect(rgb(g.x + c * g.cellW + (g.cellW >> 1) - 1, g.y + r * g.cellH + (g.cellH >> 1) - 1)).toBe(COLORS[g.data[r * g.cols + c]]);
          checked++;
        }
      }
    }
    expect(checked).toBe(17 * 17 + 16);
  });
});

describe('text widths match the font resvg draws with', () => {
  it('a string\'s ink stays within its advances and the overhang allowance, and fills most of them', async () => {
    const { Resvg, options } = await rasteriser();
    const alphabet = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), '×', '·', '–', '—', '≤', '…', '→'];
    fc.assert(fc.property(
      fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 40 }).map((a) => a.join('').trim()).filter((s) => s.length > 0),
      fc.constantFrom(10, 11, 12, 16, 40), fc.boolean(), (s, size, bold) => {
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(textWidth(s, size, bold)) + 100}" height="${3 * size}" font-family="DejaVu Sans">`
          + `<text x="10" y="${2 * size}" font-size="${size}"${bold ? ' font-weight="bold"' : ''}>${s.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text></svg>`;
        const ink = new Resvg(svg, options).getBBox();
        if (!ink) return; // only invisible characters
        const w = advanceWidth(s, size, bold), o = OVERHANG * size, what = `'${s}' at ${size}px${bold ? ' bold' : ''}`;
        expect(ink.x, what).toBeGreaterThanOrEqual(10 - o);
        expect(ink.x + ink.width, what).toBeLessThanOrEqual(10 + w + o);
        expect(ink.x + ink.width, what).toBeGreaterThanOrEqual(10 + 0.9 * w - 0.6 * size);
      }), { numRuns: 150 * SCALE });
  });
});

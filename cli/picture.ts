/**
 * `gratc inspect --png/--svg`: a picture of a pattern at group resolution.
 *
 * Left panel: the mask, query groups as rows and key groups as columns in group raster order,
 * plus one row/column band for the text segment (placed before or after, as in the sequence).
 * Right panel: the chosen query group's key groups on the group grid (1-D: one row; 2-D: the
 * G_h×G_w grid; 3-D: one small grid per outer coordinate, wrapped, each labelled).
 * Around them: a title (pattern, grid, group shape), a subtitle (query groups, order, density),
 * captions, ticks in group coordinates and a legend.
 *
 * This file builds one model (`Picture`: cells, tick marks, text with positions); picture_svg.ts
 * writes it as SVG and picture_png.ts rasterises that SVG, so both formats show the same thing.
 * Text is laid out with the drawing font's widths (picture_text.ts) and wrapped, so nothing is cut.
 * Huge group counts are downsampled by OR-ing blocks of cells so a panel stays within PANEL_MAX
 * pixels while every cell keeps at least MIN_CELL pixels.
 */
import { groupCount, type PatternIR } from '../compiler/ir.js';
import { groupCoords, KeyGroupEnumerator } from '../compiler/keys.js';
import { patternStats, type PatternStats } from '../compiler/stats.js';
import { int, percent } from './format.js';
import { advanceWidth, ASCENT, DESCENT, OVERHANG, textWidth, wrapText } from './picture_text.js';

/** Longest side of a panel in pixels (two panels, their axes and margins stay under 2048). */
export const PANEL_MAX = 900;
export const MIN_CELL = 3;
export const MAX_CELL = 24;
const MARGIN = 16;
const PANEL_GAP = 40;
const COL_MIN = 260; // a panel's column is at least this wide, so its caption wraps into few lines
const BAND_GAP = 4; // between the text band and the image part of the mask (room for their tick labels)
const BAND_MIN = 8; // the text band is at least this thick, however small the cells
const TILE_GAP = 10;
const MAX_TILES = 64; // 3-D: more outer coordinates than this are stacked into one grid
const TILE_LABEL = 14; // room above each 3-D tile for its label
const TICK_LEN = 4;
const LABEL_GAP = 4; // least space between two tick labels
const SIZE = { title: 16, subtitle: 12, caption: 11, tick: 10, legend: 11 } as const;
const SWATCH = 12;
const LEGEND_ROW = 18;

/** Cell colours (palette indices into COLORS). */
export const C = { background: 0, none: 1, image: 2, text: 3, query: 4, rowNone: 5, rowSeen: 6 } as const;
export const COLORS: readonly string[] = ['#ffffff', '#e4e4e7', '#2563eb', '#f59e0b', '#dc2626', '#fecaca', '#b91c1c'];

export interface CellGrid {
  readonly x: number;
  readonly y: number;
  readonly cols: number;
  readonly rows: number;
  readonly cellW: number;
  readonly cellH: number;
  /** Palette index per cell, row-major. */
  readonly data: Uint8Array;
}

export interface Label {
  readonly x: number;
  readonly y: number; // baseline
  readonly text: string;
  readonly size: number;
  readonly bold?: boolean;
  /** Where `x` is on the text (SVG's text-anchor); default start. */
  readonly anchor?: 'start' | 'middle' | 'end';
}

/** A filled rectangle in the text colour: tick marks. */
export interface Mark { readonly x: number; readonly y: number; readonly w: number; readonly h: number }

export interface Picture {
  readonly width: number;
  readonly height: number;
  readonly title: string;
  readonly grids: readonly CellGrid[];
  readonly labels: readonly Label[];
  readonly ticks: readonly Mark[];
  /** Legend swatches (their labels are in `labels`). */
  readonly swatches: readonly { x: number; y: number; size: number; color: number }[];
}

export interface PictureOptions {
  /** Image query group shown on the right and highlighted on the left. */
  readonly query: number;
  /** Valid text length (default: the whole text segment); ignored when `stats` is given. */
  readonly valid?: number;
  /** The pattern's counts (default: computed here at `valid`). */
  readonly stats?: PatternStats;
}

/** The box a label's text covers, from the drawing font's widths (an upper bound). */
export function labelBox(l: Label): { x0: number; x1: number; y0: number; y1: number } {
  const w = advanceWidth(l.text, l.size, l.bold), o = OVERHANG * l.size;
  const x0 = l.anchor === 'middle' ? l.x - w / 2 : l.anchor === 'end' ? l.x - w : l.x;
  return { x0: x0 - o, x1: x0 + w + o, y0: l.y - ASCENT * l.size, y1: l.y + DESCENT * l.size };
}

/** Downsampling factor and cell size for n cells along a panel's side of at most maxPx. */
export function cellLayout(n: number, maxPx = PANEL_MAX): { factor: number; cell: number; cells: number } {
  const factor = Math.max(1, Math.ceil((n * MIN_CELL) / maxPx));
  const cells = Math.ceil(n / factor);
  const cell = Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor(maxPx / cells)));
  return { factor, cell, cells };
}

const lineH = (size: number): number => Math.ceil(size * 1.35);
/** Baseline that centres a line of text of `size` on `at`. */
const centred = (at: number, size: number): number => at + ((ASCENT - DESCENT) / 2) * size;

/** Smallest of 1, 2, 5, 10, 20, 50, … that is at least x. */
export function niceStep(x: number): number {
  let p = 1;
  for (;;) {
    for (const m of [1, 2, 5]) if (m * p >= x) return m * p;
    p *= 10;
  }
}

/**
 * A tick label along an axis, `at` relative to the panel's edge. Across: `anchor` is where `at`
 * is on the text, as in SVG; down: start hangs the text below `at`, end stands it above, middle
 * centres it. The mark is drawn at `mark` (default `at`).
 */
interface Tick { readonly at: number; readonly text: string; readonly anchor: Anchor; readonly mark?: number }
type Anchor = 'start' | 'middle' | 'end';

/**
 * Ticks along an axis for coordinates 0…units-1 named `name`: a nice step wide enough for the
 * labels, then any label that would overlap one already placed (`fixed` first: the text band's)
 * or leave [lo, hi] is dropped.
 */
function axisTicks(
  units: number, name: string, pos: (k: number) => number, anchor: Anchor, unitPx: number, horizontal: boolean,
  lo: number, hi: number, fixed: readonly Tick[] = [],
): Tick[] {
  const size = SIZE.tick;
  const extent = (t: string): number => (horizontal ? textWidth(t, size) : (ASCENT + DESCENT) * size);
  const need = horizontal ? extent(`${name}=${units - 1}`) + LABEL_GAP : lineH(size);
  const step = niceStep(need / unitPx);
  const placed: [number, number][] = [];
  const out: Tick[] = [];
  const tryPlace = (t: Tick): void => {
    const e = extent(t.text);
    const a = t.anchor === 'start' ? t.at : t.anchor === 'end' ? t.at - e : t.at - e / 2, b = a + e;
    if (a < lo || b > hi || placed.some(([p, q]) => a < q + LABEL_GAP && b > p - LABEL_GAP)) return;
    placed.push([a, b]);
    out.push(t);
  };
  for (const t of fixed) tryPlace(t);
  for (let k = 0; k < units; k += step) tryPlace({ at: pos(k), text: `${name}=${k}`, anchor });
  return out;
}

const dimsText = (ir: PatternIR, f: (d: PatternIR['dims'][number]) => number): string => ir.dims.map((d) => `${d.name}=${f(d)}`).join(' ');

export function buildPicture(ir: PatternIR, opts: PictureOptions): Picture {
  const stats = opts.stats ?? patternStats(ir, opts.valid);
  const G = groupCount(ir);
  const count = ir.text?.count ?? 0;
  const valid = stats.valid;
  const band = ir.text !== null && count > 0;
  const before = ir.text?.place === 'before';
  const keys = new KeyGroupEnumerator(ir);
  const q = opts.query;
  const D = ir.dims.length;

  // ---- left: the mask ----
  const L = cellLayout(G + (band ? 1 : 0));
  const m = Math.ceil(G / L.factor); // image cells per side
  const n = m + (band ? 1 : 0);
  const off = band && before ? 1 : 0; // index of the first image cell
  const bandAt = before ? 0 : m;
  const mask = new Uint8Array(n * n).fill(C.none);
  for (let g = 0; g < G; g++) {
    const row = off + Math.floor(g / L.factor);
    const kg = keys.keyGroups(g);
    for (let i = 0; i < kg.length; i++) mask[row * n + off + Math.floor(kg[i] / L.factor)] = C.image;
    if (band && ir.image.text && valid > 0) mask[row * n + bandAt] = C.text;
  }
  if (band && ir.textQueries) {
    const row = bandAt;
    if (ir.textQueries.grid) for (let c = 0; c < m; c++) mask[row * n + off + c] = C.image;
    if (ir.textQueries.text && valid > 0) mask[row * n + bandAt] = C.text;
  }
  const qRow = off + Math.floor(q / L.factor);
  for (let c = 0; c < n; c++) mask[qRow * n + c] = mask[qRow * n + c] === C.none ? C.rowNone : C.rowSeen;

  // ---- right: the chosen query group's key groups on the group grid ----
  // 3-D: one tile per outer coordinate; past MAX_TILES the tiles are stacked into one tall grid
  const tiled = D === 3 && ir.dims[0].groups <= MAX_TILES;
  const tiles = tiled ? ir.dims[0].groups : 1;
  const rows = D === 1 ? 1 : D === 2 || tiled ? ir.dims[D - 2].groups : ir.dims[0].groups * ir.dims[1].groups;
  const cols = ir.dims[D - 1].groups;
  const tileCols = Math.ceil(Math.sqrt(tiles));
  const tileRows = Math.ceil(tiles / tileCols);
  const label3 = tiled ? TILE_LABEL : 0;
  const tileLabel = (t: number): string => `${ir.dims[0].name}=${t}`;
  const tileLabelW = tiled ? Math.ceil(textWidth(tileLabel(tiles - 1), SIZE.tick)) : 0;
  const maxW = PANEL_MAX - (tileCols - 1) * TILE_GAP;
  const maxH = PANEL_MAX - tileRows * label3 - (tileRows - 1) * TILE_GAP;
  const rf = Math.max(1, Math.ceil((tileCols * cols * MIN_CELL) / maxW), Math.ceil((tileRows * rows * MIN_CELL) / maxH));
  const tr = Math.ceil(rows / rf), tc = Math.ceil(cols / rf);
  const rCell = Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor(maxW / (tileCols * tc)), Math.floor(maxH / (tileRows * tr))));
  const state = Array.from({ length: tiles }, () => new Uint8Array(tr * tc).fill(C.none));
  const rank = (c: number): number => (c === C.query ? 2 : c === C.image ? 1 : 0);
  const mark = (g: number, color: number): void => {
    const c = groupCoords(ir, g);
    const t = tiled ? c[0] : 0;
    const row = D === 1 ? 0 : D === 2 || tiled ? c[D - 2] : c[0] * ir.dims[1].groups + c[1];
    const i = Math.floor(row / rf) * tc + Math.floor(c[D - 1] / rf);
    if (rank(color) > rank(state[t][i])) state[t][i] = color;
  };
  const qKeys = keys.keyGroups(q);
  for (let i = 0; i < qKeys.length; i++) mark(qKeys[i], C.image);
  mark(q, C.query);

  // ---- panel geometry, relative to each panel's top-left corner ----
  const bandPx = Math.max(L.cell, BAND_MIN);
  const leftW = m * L.cell + (band ? bandPx + BAND_GAP : 0); // the mask is square
  const imgOff = band && before ? bandPx + BAND_GAP : 0;
  const bandOff = before ? 0 : m * L.cell + BAND_GAP;
  const tileW = tc * rCell, tileH = tr * rCell;
  const pitchX = Math.max(tileW, tileLabelW) + TILE_GAP, pitchY = label3 + tileH + TILE_GAP;
  const rightW = (tileCols - 1) * pitchX + Math.max(tileW, tileLabelW);
  const rightH = (tileRows - 1) * pitchY + label3 + tileH;
  const tileAt = (t: number): [number, number] => [(t % tileCols) * pitchX, Math.floor(t / tileCols) * pitchY + label3];

  // mask ticks: where each outer coordinate's groups start (rows and columns alike), labels reading on
  // from there; "text" on the band, its label on the side away from the image part
  const stride = G / ir.dims[0].groups;
  const maskPos = (k: number): number => imgOff + Math.floor((k * stride) / L.factor) * L.cell;
  const maskUnit = (stride * L.cell) / L.factor;
  const bandTick: Tick[] = band ? [{ at: before ? bandPx : bandOff, text: 'text', anchor: before ? 'end' : 'start', mark: bandOff + bandPx / 2 }] : [];
  const maskY = axisTicks(ir.dims[0].groups, ir.dims[0].name, maskPos, 'start', maskUnit, false, -4, leftW + 2, bandTick);
  // right-panel ticks: the last dim across; the one before it down (3-D stacked: the outer dim, per block of rows)
  const rPos = (per: number) => (k: number): number => (Math.floor((k * per) / rf) + 0.5) * rCell;
  const yDim = D === 1 ? null : tiled || D === 2 ? ir.dims[D - 2] : ir.dims[0];
  const yPer = D === 3 && !tiled ? ir.dims[1].groups : 1;
  const rightY = yDim === null ? [] : axisTicks(yDim.groups, yDim.name, rPos(yPer), 'middle', (yPer * rCell) / rf, false, tiled ? -label3 : -4, tileH + TILE_GAP / 2);
  const axisW = (ts: readonly Tick[]): number => (ts.length === 0 ? 0 : Math.ceil(Math.max(...ts.map((t) => textWidth(t.text, SIZE.tick)))) + TICK_LEN + 4);
  const leftAxisW = axisW(maskY), rightAxisW = axisW(rightY);

  // ---- horizontal layout ----
  const leftCol = Math.max(leftAxisW + leftW, COL_MIN);
  const xMask = MARGIN + leftAxisW;
  const xCol2 = MARGIN + leftCol + PANEL_GAP;
  const xRight = xCol2 + rightAxisW;
  const rightCol = Math.max(rightAxisW + rightW, COL_MIN);
  const maskX = axisTicks(ir.dims[0].groups, ir.dims[0].name, maskPos, 'start', maskUnit, true, -leftAxisW + 2 - MARGIN / 2, leftCol - leftAxisW + PANEL_GAP / 2 - 2, bandTick);
  const xName = ir.dims[D - 1];
  // per tile column, relative to that tile: labels stay within the tile and half the gaps beside it
  const rightX = (col: number): Tick[] => axisTicks(xName.groups, xName.name, rPos(1), 'middle', rCell / rf, true,
    col === 0 ? -PANEL_GAP / 2 + 2 : -TILE_GAP / 2, col === tileCols - 1 ? Infinity : tileW + TILE_GAP / 2);

  // ---- text ----
  const qc = groupCoords(ir, q);
  const title = `pattern ${ir.name}`;
  const head = `${title}: grid ${dimsText(ir, (d) => d.size)}, group ${dimsText(ir, (d) => d.group)}`;
  const sub = `${int(G)} query groups${D > 1 ? ` (${ir.dims.map((d) => d.groups).join('×')})` : ''}, order ${ir.order}, `
    + `density ${percent(stats.density)} (${int(stats.visiblePairs)} of ${int(stats.tokens * stats.tokens)} query-key pairs visible)`;
  const textBand = band ? `; text band: ${int(count)} tokens ${ir.text?.place} the grid, ${int(valid)} valid` : '; no text';
  const ds = (f: number, d: number): string => (f > 1 ? `; 1 cell = ${Array(d).fill(f).join('×')} ${d === 2 ? 'group pairs' : 'groups'}` : '');
  const leftCap = `mask: query groups (rows) × key groups (columns) in raster order${textBand}${ds(L.factor, 2)}`;
  const textKeys = ir.image.text && valid > 0 ? ` + ${int(valid)} text keys` : '';
  const coords = ir.dims.map((d, i) => `${d.name}=${qc[i]}`).join(' ');
  const stacked = D === 3 && !tiled ? `; ${ir.dims[0].name} stacked: rows are ${ir.dims[0].name}×${ir.dims[1].name}` : '';
  const rightCap = `query group ${q} (${coords}): ${qKeys.length} key groups${textKeys}${ds(rf, D === 1 ? 1 : 2)}${stacked}; ticks in group coordinates`;

  // legend items, wrapped into rows
  const legend: [number, string][] = [
    [C.image, 'image keys seen'],
    ...(band ? [[C.text, 'text keys seen'] as [number, string]] : []),
    [C.none, 'not seen'],
    [C.query, 'chosen query group'],
    [C.rowSeen, 'its row: seen'],
    [C.rowNone, 'its row: not seen'],
  ];
  const itemW = (s: string): number => SWATCH + 5 + Math.ceil(textWidth(s, SIZE.legend)) + 18;
  let width = Math.max(xCol2 + rightCol + MARGIN, 480, 2 * MARGIN + Math.max(...legend.map(([, s]) => itemW(s))));

  // ---- vertical layout ----
  const labels: Label[] = [];
  const ticks: Mark[] = [];
  let y = MARGIN;
  const block = (text: string, x: number, w: number, size: number, bold = false): number => {
    const lines = wrapText(text, size, w, bold);
    lines.forEach((t, i) => labels.push({ x, y: y + i * lineH(size) + ASCENT * size, text: t, size, bold }));
    return lines.length * lineH(size);
  };
  y += block(head, MARGIN, width - 2 * MARGIN, SIZE.title, true) + 2;
  y += block(sub, MARGIN, width - 2 * MARGIN, SIZE.subtitle) + 10;
  y += Math.max(block(leftCap, MARGIN, leftCol, SIZE.caption), block(rightCap, xCol2, width - MARGIN - xCol2, SIZE.caption)) + 6;
  const top = y;

  // the mask, split so the text band sits apart from the image part
  const grids: CellGrid[] = [];
  const part = (r0: number, r1: number, c0: number, c1: number, x: number, yy: number): void => {
    const data = new Uint8Array((r1 - r0) * (c1 - c0));
    for (let r = r0; r < r1; r++) data.set(mask.subarray(r * n + c0, r * n + c1), (r - r0) * (c1 - c0));
    const cellW = band && c0 === bandAt && c1 === bandAt + 1 ? bandPx : L.cell;
    const cellH = band && r0 === bandAt && r1 === bandAt + 1 ? bandPx : L.cell;
    grids.push({ x, y: yy, cols: c1 - c0, rows: r1 - r0, cellW, cellH, data });
  };
  part(off, off + m, off, off + m, xMask + imgOff, top + imgOff);
  if (band) {
    part(bandAt, bandAt + 1, off, off + m, xMask + imgOff, top + bandOff); // text queries
    part(off, off + m, bandAt, bandAt + 1, xMask + bandOff, top + imgOff); // text keys
    part(bandAt, bandAt + 1, bandAt, bandAt + 1, xMask + bandOff, top + bandOff);
  }
  const yTicks = (ts: readonly Tick[], x: number, y0: number): void => {
    for (const t of ts) {
      const at = y0 + t.at, s = SIZE.tick;
      ticks.push({ x: x - 1 - TICK_LEN, y: Math.floor(y0 + (t.mark ?? t.at)), w: TICK_LEN, h: 1 });
      const base = t.anchor === 'start' ? at + ASCENT * s : t.anchor === 'end' ? at - DESCENT * s : centred(at, s);
      labels.push({ x: x - 1 - TICK_LEN - 3, y: base, text: t.text, size: s, anchor: 'end' });
    }
  };
  const xTicks = (ts: readonly Tick[], x0: number, y: number): void => {
    for (const t of ts) {
      ticks.push({ x: Math.floor(x0 + (t.mark ?? t.at)), y: y + 1, w: 1, h: TICK_LEN });
      labels.push({ x: x0 + t.at, y: y + 1 + TICK_LEN + 2 + ASCENT * SIZE.tick, text: t.text, size: SIZE.tick, anchor: t.anchor });
    }
  };
  yTicks(maskY, xMask, top);
  xTicks(maskX, xMask, top + leftW);

  for (let t = 0; t < tiles; t++) {
    const [dx, dy] = tileAt(t);
    const x = xRight + dx, yy = top + dy;
    grids.push({ x, y: yy, cols: tc, rows: tr, cellW: rCell, cellH: rCell, data: state[t] });
    if (tiled) labels.push({ x, y: yy - 3, text: tileLabel(t), size: SIZE.tick });
    if (t % tileCols === 0) yTicks(rightY, x, yy);
    if (t + tileCols >= tiles) xTicks(rightX(t % tileCols), x, yy + tileH); // the lowest tile of its column
  }
  y = top + Math.max(leftW, rightH) + 1 + TICK_LEN + 2 + lineH(SIZE.tick) + 12;

  const swatches: { x: number; y: number; size: number; color: number }[] = [];
  let x = MARGIN;
  for (const [color, text] of legend) {
    if (x > MARGIN && x + itemW(text) - 18 > width - MARGIN) { x = MARGIN; y += LEGEND_ROW; }
    swatches.push({ x, y: y + 2, size: SWATCH, color });
    labels.push({ x: x + SWATCH + 5, y: centred(y + 2 + SWATCH / 2, SIZE.legend), text, size: SIZE.legend });
    x += itemW(text);
  }
  y += LEGEND_ROW + MARGIN;

  // tick labels may reach past the panels' edges into the margin: widen the picture to keep them in
  const right = Math.max(...labels.map((l) => labelBox(l).x1));
  width = Math.max(width, Math.ceil(right) + MARGIN / 2);
  return { width, height: Math.ceil(y), title, grids, labels, ticks, swatches };
}

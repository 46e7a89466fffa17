/**
 * `gratc inspect --png/--svg`: a picture of a pattern at group resolution.
 *
 * Left panel: the mask, query groups as rows and key groups as columns in group raster order,
 * plus one row/column band for the text segment (placed before or after, as in the sequence).
 * Right panel: the chosen query group's key groups on the group grid (1-D: one row; 2-D: the
 * G_h×G_w grid; 3-D: one small grid per outer coordinate, wrapped).
 *
 * Both formats come from one cell-level model (`Picture`), so PNG and SVG show the same thing;
 * the PNG just has no text. Huge group counts are downsampled by OR-ing blocks of cells so a
 * panel stays within PANEL_MAX pixels while every cell keeps at least MIN_CELL pixels.
 */
import { PNG } from 'pngjs';
import { groupCount, type PatternIR } from '../compiler/ir.js';
import { groupCoords, KeyGroupEnumerator } from '../compiler/keys.js';

/** Longest side of a panel in pixels (two panels + margins stay under 2048). */
export const PANEL_MAX = 960;
export const MIN_CELL = 3;
export const MAX_CELL = 24;
const GAP_FROM = 8;
const MARGIN = 16;
const TOP = 84; // title, subtitle and panel captions
const PANEL_GAP = 40;
const CAPTION_W = 300; // the left panel's caption needs this much room before the right one starts
const BAND_GAP = 3; // between the text band and the image part of the mask
const BAND_MIN = 8; // the text band is at least this thick, however small the cells
const TILE_GAP = 6;
const MAX_TILES = 64; // 3-D: more outer coordinates than this are stacked into one grid
const TILE_LABEL = 14; // room above each 3-D tile for its label
const LEGEND_H = 16;
const LEGEND_ITEM_W = 170;

/** Cell colours (palette indices into COLORS). */
export const C = { background: 0, none: 1, image: 2, text: 3, query: 4, rowNone: 5, rowSeen: 6 } as const;
export const COLORS: readonly string[] = ['#ffffff', '#e4e4e7', '#2563eb', '#f59e0b', '#dc2626', '#fecaca', '#b91c1c'];
const LEGEND: readonly [number, string][] = [
  [C.image, 'image keys seen'],
  [C.text, 'text keys seen'],
  [C.none, 'not seen'],
  [C.query, 'chosen query group'],
  [C.rowNone, 'its row in the mask'],
];

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
}

export interface Picture {
  readonly width: number;
  readonly height: number;
  readonly title: string;
  readonly grids: readonly CellGrid[];
  readonly labels: readonly Label[];
  /** Legend swatches (drawn in both formats; their labels are in `labels`). */
  readonly swatches: readonly { x: number; y: number; size: number; color: number }[];
}

export interface PictureOptions {
  /** Image query group shown on the right and highlighted on the left. */
  readonly query: number;
  /** Valid text length (default: the whole text segment). */
  readonly valid?: number;
}

/** Downsampling factor and cell size for n cells along a panel's side of at most maxPx. */
export function cellLayout(n: number, maxPx = PANEL_MAX): { factor: number; cell: number; cells: number } {
  const factor = Math.max(1, Math.ceil((n * MIN_CELL) / maxPx));
  const cells = Math.ceil(n / factor);
  const cell = Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor(maxPx / cells)));
  return { factor, cell, cells };
}

const dimsText = (ir: PatternIR, f: (d: PatternIR['dims'][number]) => number): string => ir.dims.map((d) => `${d.name}=${f(d)}`).join(' ');

export function buildPicture(ir: PatternIR, opts: PictureOptions): Picture {
  const G = groupCount(ir);
  const count = ir.text?.count ?? 0;
  const valid = Math.max(0, Math.min(opts.valid ?? count, count));
  const band = ir.text !== null && count > 0;
  const before = ir.text?.place === 'before';
  const keys = new KeyGroupEnumerator(ir);
  const q = opts.query;

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
  const D = ir.dims.length;
  const tiled = D === 3 && ir.dims[0].groups <= MAX_TILES;
  const tiles = tiled ? ir.dims[0].groups : 1;
  const rows = D === 1 ? 1 : D === 2 || tiled ? ir.dims[D - 2].groups : ir.dims[0].groups * ir.dims[1].groups;
  const cols = ir.dims[D - 1].groups;
  const tileCols = Math.ceil(Math.sqrt(tiles));
  const tileRows = Math.ceil(tiles / tileCols);
  const label3 = tiled ? TILE_LABEL : 0;
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

  // ---- layout ----
  const bandPx = Math.max(L.cell, BAND_MIN);
  const leftW = m * L.cell + (band ? bandPx + BAND_GAP : 0);
  const tileW = tc * rCell, tileH = tr * rCell;
  const rightW = tileCols * tileW + (tileCols - 1) * TILE_GAP;
  const rightH = tileRows * (tileH + label3) + (tileRows - 1) * TILE_GAP;
  const x0 = MARGIN, y0 = TOP, x1 = x0 + Math.max(leftW, CAPTION_W) + PANEL_GAP;
  const panelsH = Math.max(leftW, rightH);
  const legendY = y0 + panelsH + 16;
  const width = Math.max(x1 + rightW + MARGIN, 2 * MARGIN + LEGEND.length * LEGEND_ITEM_W, 480);
  const height = legendY + LEGEND_H + MARGIN;

  const grids: CellGrid[] = [];
  // the mask, split so the text band sits apart from the image part
  const part = (r0: number, r1: number, c0: number, c1: number, x: number, y: number): void => {
    const data = new Uint8Array((r1 - r0) * (c1 - c0));
    for (let r = r0; r < r1; r++) data.set(mask.subarray(r * n + c0, r * n + c1), (r - r0) * (c1 - c0));
    const cellW = band && c0 === bandAt && c1 === bandAt + 1 ? bandPx : L.cell;
    const cellH = band && r0 === bandAt && r1 === bandAt + 1 ? bandPx : L.cell;
    grids.push({ x, y, cols: c1 - c0, rows: r1 - r0, cellW, cellH, data });
  };
  const imgAt = x0 + (band && before ? bandPx + BAND_GAP : 0);
  const imgAtY = y0 + (band && before ? bandPx + BAND_GAP : 0);
  const bandAtX = before ? x0 : x0 + m * L.cell + BAND_GAP;
  const bandAtY = before ? y0 : y0 + m * L.cell + BAND_GAP;
  part(off, off + m, off, off + m, imgAt, imgAtY);
  if (band) {
    part(bandAt, bandAt + 1, off, off + m, imgAt, bandAtY); // text queries
    part(off, off + m, bandAt, bandAt + 1, bandAtX, imgAtY); // text keys
    part(bandAt, bandAt + 1, bandAt, bandAt + 1, bandAtX, bandAtY);
  }
  const labels: Label[] = [];
  for (let t = 0; t < tiles; t++) {
    const x = x1 + (t % tileCols) * (tileW + TILE_GAP);
    const y = y0 + Math.floor(t / tileCols) * (tileH + label3 + TILE_GAP) + label3;
    grids.push({ x, y, cols: tc, rows: tr, cellW: rCell, cellH: rCell, data: state[t] });
    if (tiled) labels.push({ x, y: y - 3, text: `${ir.dims[0].name}=${t}`, size: 10 });
  }

  // ---- text (SVG only) ----
  const qc = groupCoords(ir, q);
  const textPart = ir.text ? `, text ${ir.text.count} ${ir.text.place}${valid < count ? ` (valid ${valid})` : ''}` : '';
  const title = `pattern ${ir.name}`;
  labels.push({ x: MARGIN, y: 30, text: title, size: 16, bold: true });
  labels.push({
    x: MARGIN, y: 50, size: 12,
    text: `grid ${dimsText(ir, (d) => d.size)}, group ${dimsText(ir, (d) => d.group)} (${ir.dims.map((d) => d.groups).join('×')} groups), order ${ir.order}${textPart}`,
  });
  const ds = (f: number): string => (f > 1 ? ` (1 cell = ${f}×${f} groups)` : '');
  labels.push({ x: x0, y: y0 - 8, size: 11, text: `mask: query groups × key groups${band ? ' + text band' : ''}${ds(L.factor)}` });
  const textKeys = ir.image.text && valid > 0 ? ` + ${valid} text keys` : '';
  const coords = ir.dims.map((d, i) => `${d.name}=${qc[i]}`).join(' ');
  labels.push({ x: x1, y: y0 - 8, size: 11, text: `query group ${q} (${coords}): ${qKeys.length} key groups${textKeys}${ds(rf)}${D === 3 && !tiled ? ` (${ir.dims[0].name} stacked: rows are ${ir.dims[0].name}×${ir.dims[1].name})` : ''}` });
  const swatches = LEGEND.map(([color, text], i) => {
    const x = MARGIN + i * LEGEND_ITEM_W;
    labels.push({ x: x + 16, y: legendY + 11, text, size: 11 });
    return { x, y: legendY, size: 12, color };
  });
  return { width, height, title, grids, labels, swatches };
}

// ---- PNG ----

/** Big cells get a 1-pixel gap so single groups stay distinguishable; small ones are solid. */
const gapOf = (g: CellGrid): number => (Math.min(g.cellW, g.cellH) >= GAP_FROM ? 1 : 0);

const rgb = (hex: string): [number, number, number] => [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];

export function renderPng(p: Picture): Buffer {
  const png = new PNG({ width: p.width, height: p.height, colorType: 2 });
  const img = png.data;
  const rgbs = COLORS.map(rgb);
  const fill = (x: number, y: number, w: number, h: number, color: number): void => {
    const [r, g, b] = rgbs[color];
    for (let yy = y; yy < y + h; yy++) {
      for (let xx = x; xx < x + w; xx++) {
        const o = (yy * p.width + xx) * 4;
        img[o] = r; img[o + 1] = g; img[o + 2] = b; img[o + 3] = 255;
      }
    }
  };
  fill(0, 0, p.width, p.height, C.background);
  for (const gr of p.grids) {
    const gap = gapOf(gr);
    for (let r = 0; r < gr.rows; r++) {
      for (let c = 0; c < gr.cols; c++) fill(gr.x + c * gr.cellW, gr.y + r * gr.cellH, gr.cellW - gap, gr.cellH - gap, gr.data[r * gr.cols + c]);
    }
  }
  for (const s of p.swatches) fill(s.x, s.y, s.size, s.size, s.color);
  return PNG.sync.write(png, { colorType: 2 });
}

// ---- SVG ----

export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch] as string);

export function renderSvg(p: Picture): string {
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${p.width}" height="${p.height}" viewBox="0 0 ${p.width} ${p.height}" font-family="sans-serif">`);
  out.push(`<title>${escapeXml(p.title)}</title>`);
  out.push(`<rect width="100%" height="100%" fill="${COLORS[C.background]}"/>`);
  for (const gr of p.grids) {
    out.push('<g shape-rendering="crispEdges">');
    const gap = gapOf(gr);
    for (let r = 0; r < gr.rows; r++) {
      const y = gr.y + r * gr.cellH;
      let c = 0;
      while (c < gr.cols) {
        const color = gr.data[r * gr.cols + c];
        let e = c + 1;
        if (gap === 0) while (e < gr.cols && gr.data[r * gr.cols + e] === color) e++; // merge a run
        const w = (e - c) * gr.cellW - gap, h = gr.cellH - gap;
        out.push(`<rect x="${gr.x + c * gr.cellW}" y="${y}" width="${w}" height="${h}" fill="${COLORS[color]}"/>`);
        c = e;
      }
    }
    out.push('</g>');
  }
  for (const s of p.swatches) out.push(`<rect x="${s.x}" y="${s.y}" width="${s.size}" height="${s.size}" fill="${COLORS[s.color]}"/>`);
  for (const l of p.labels) {
    out.push(`<text x="${l.x}" y="${l.y}" font-size="${l.size}"${l.bold ? ' font-weight="bold"' : ''} fill="#18181b">${escapeXml(l.text)}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

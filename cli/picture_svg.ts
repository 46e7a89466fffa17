/** The `inspect` picture (picture.ts's model) as SVG text; the PNG is this SVG rasterised (picture_png.ts). */
import { C, COLORS, type CellGrid, type Picture } from './picture.js';
import { FONT_FAMILY } from './picture_text.js';

/** Text and tick colour. */
export const INK = '#18181b';
const GAP_FROM = 8;

/** Big cells get a 1-pixel gap so single groups stay distinguishable; small ones are solid. */
const gapOf = (g: CellGrid): number => (Math.min(g.cellW, g.cellH) >= GAP_FROM ? 1 : 0);

export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch] as string);

/** Numbers as SVG writes them: integers stay integers, the rest get two decimals at most. */
const n = (x: number): string => `${Math.round(x * 100) / 100}`;

export function renderSvg(p: Picture): string {
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${p.width}" height="${p.height}" viewBox="0 0 ${p.width} ${p.height}" font-family="${FONT_FAMILY}, sans-serif">`);
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
  if (p.ticks.length > 0) {
    out.push(`<g shape-rendering="crispEdges" fill="${INK}">`);
    for (const t of p.ticks) out.push(`<rect x="${t.x}" y="${t.y}" width="${t.w}" height="${t.h}"/>`);
    out.push('</g>');
  }
  for (const l of p.labels) {
    const anchor = l.anchor && l.anchor !== 'start' ? ` text-anchor="${l.anchor}"` : '';
    out.push(`<text x="${n(l.x)}" y="${n(l.y)}" font-size="${l.size}"${l.bold ? ' font-weight="bold"' : ''}${anchor} fill="${INK}">${escapeXml(l.text)}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

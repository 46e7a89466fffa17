/**
 * Text metrics for laying out the `inspect` pictures without a font engine.
 *
 * The PNG is rendered with DejaVu Sans (picture_png.ts loads it from the dejavu-fonts-ttf
 * package) and the SVG names it first, so widths here are DejaVu Sans advance widths, rounded
 * up: a caption laid out with them is never wider when drawn (kerning only narrows it; most other
 * sans fonts a browser may fall back to are narrower). test/picture.test.ts checks the tables
 * against the font as resvg draws it.
 */

/** The font family the pictures are drawn with, and what the SVG names. */
export const FONT_FAMILY = 'DejaVu Sans';
/** Vertical extent of a line of text around its baseline, in em (the font's hhea ascent/descent). */
export const ASCENT = 0.93;
export const DESCENT = 0.24;

// Advance widths in 1/1000 em of the printable ASCII characters, ' ' (32) to '~' (126),
// read from DejaVuSans.ttf and DejaVuSans-Bold.ttf 2.37 (hmtx), rounded up.
const REGULAR = [
  318, 401, 460, 838, 637, 951, 780, 275, 391, 391, 500, 838, 318, 361, 318, 337, 637, 637, 637, 637, 637, 637, 637, 637,
  637, 637, 337, 337, 838, 838, 838, 531, 1000, 685, 687, 699, 771, 632, 576, 775, 752, 295, 295, 656, 558, 863, 749, 788,
  604, 788, 695, 635, 611, 732, 685, 989, 686, 611, 686, 391, 337, 391, 838, 500, 500, 613, 635, 550, 635, 616, 353, 635,
  634, 278, 278, 580, 278, 975, 634, 612, 635, 635, 412, 521, 393, 634, 592, 818, 592, 592, 525, 637, 337, 637, 838,
];
const BOLD = [
  349, 457, 521, 838, 696, 1002, 873, 307, 458, 458, 523, 838, 380, 416, 380, 366, 696, 696, 696, 696, 696, 696, 696, 696,
  696, 696, 400, 400, 838, 838, 838, 581, 1000, 774, 763, 734, 831, 684, 684, 821, 837, 373, 373, 775, 638, 996, 837, 851,
  733, 851, 771, 721, 683, 813, 774, 1104, 771, 725, 726, 458, 366, 458, 838, 500, 500, 675, 716, 593, 716, 679, 436, 716,
  712, 343, 343, 666, 343, 1042, 712, 688, 716, 716, 494, 596, 479, 712, 652, 924, 646, 652, 583, 712, 366, 712, 838,
];
/** The non-ASCII characters the pictures write (same width in both weights). */
const OTHER: Readonly<Record<string, number>> = { '×': 838, '·': 380, '–': 500, '—': 1000, '≤': 838, '…': 1000, '→': 838 };
/** Anything else: DejaVu Sans's widest advance (1.874 em regular, 2.016 bold), so unknown text is overestimated. */
const UNKNOWN = 2016;

/** How far, in em, a glyph's ink may reach past its advance at either end (DejaVu Sans: J, j, K ≤ 0.056). */
export const OVERHANG = 0.06;

/** Sum of the advance widths, in px, of `text` drawn at `size` px: where the next text would start. */
export function advanceWidth(text: string, size: number, bold = false): number {
  const table = bold ? BOLD : REGULAR;
  let w = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    w += c >= 32 && c <= 126 ? table[c - 32] : (OTHER[ch] ?? UNKNOWN);
  }
  return (w * size) / 1000;
}

/** Width in px that `text` at `size` px may cover when drawn: its advances and the overhang at both ends. */
export const textWidth = (text: string, size: number, bold = false): number => advanceWidth(text, size, bold) + 2 * OVERHANG * size;

/**
 * `text` broken at spaces into lines of at most `maxW` px; a word wider than a line on its own
 * is cut between characters, so every line fits.
 */
export function wrapText(text: string, size: number, maxW: number, bold = false): string[] {
  const fits = (s: string): boolean => textWidth(s, size, bold) <= maxW;
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const joined = line === '' ? word : `${line} ${word}`;
    if (fits(joined)) { line = joined; continue; }
    if (line !== '') lines.push(line);
    line = word;
    // a word longer than a whole line: cut it
    while (!fits(line)) {
      let n = 1;
      const chars = [...line];
      while (n < chars.length && fits(chars.slice(0, n + 1).join(''))) n++;
      lines.push(chars.slice(0, n).join(''));
      line = chars.slice(n).join('');
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/**
 * The `inspect` picture as PNG: the SVG (picture_svg.ts) rasterised by resvg, with DejaVu Sans
 * loaded from the dejavu-fonts-ttf package and no system fonts, so text looks the same on every
 * machine, whatever fonts it has.
 */
import { createRequire } from 'node:module';
import type { Resvg, ResvgRenderOptions } from '@resvg/resvg-js';
import { usageError } from './exit.js';
import type { Picture } from './picture.js';
import { renderSvg } from './picture_svg.js';
import { FONT_FAMILY } from './picture_text.js';

const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'];

/** resvg and the options the pictures are drawn with (loaded on first use, not at start-up:
 *  a platform with no resvg build loses --png only, not the CLI). */
export async function rasteriser(): Promise<{ Resvg: typeof Resvg; options: ResvgRenderOptions }> {
  try {
    const { Resvg } = await import('@resvg/resvg-js');
    const require = createRequire(import.meta.url);
    const fontFiles = FONT_FILES.map((f) => require.resolve(`dejavu-fonts-ttf/ttf/${f}`));
    return { Resvg, options: { font: { loadSystemFonts: false, fontFiles, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY } } };
  } catch (e) {
    throw usageError(`--png needs the packages @resvg/resvg-js and dejavu-fonts-ttf (${(e as Error).message.split('\n')[0]}); --svg needs neither`);
  }
}

export async function renderPng(p: Picture): Promise<Buffer> {
  const { Resvg, options } = await rasteriser();
  return new Resvg(renderSvg(p), options).render().asPng();
}

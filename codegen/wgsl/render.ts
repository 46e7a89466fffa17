/**
 * Renders one WGSL variant of a spec from templates/attention.wgsl.hbs. Every value handed to
 * the template is a number, a boolean or text built here from numbers and identifiers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { geometryWgsl } from './geometry.js';
import { kernelName, specFacts, type WgslSpec, type WgslVariant } from './spec.js';

function templatePath(file: string): string {
  // the source tree (vitest, tsx) or dist/codegen/wgsl → the source templates
  const candidates = [new URL(`./templates/${file}`, import.meta.url), new URL(`../../../codegen/wgsl/templates/${file}`, import.meta.url)];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  throw new Error(`WGSL template ${file} not found next to ${fileURLToPath(import.meta.url)}`);
}

let compiled: HandlebarsTemplateDelegate | null = null;
const template = (): HandlebarsTemplateDelegate =>
  (compiled ??= Handlebars.compile(readFileSync(templatePath('attention.wgsl.hbs'), 'utf8'), { strict: true, noEscape: false }));

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The WGSL source of one variant. Deterministic: a pure function of (spec, variant). */
export function renderVariant(spec: WgslSpec, v: WgslVariant): string {
  const f = specFacts(spec);
  const d4 = spec.headDim / 4;
  const kstride = d4 + 1;
  const shuffles: number[] = [];
  for (let s = v.lanes / 2; s >= 1; s /= 2) shuffles.push(s);
  const ctx = {
    kernel: kernelName(spec),
    variant: v.id,
    pattern: spec.pattern,
    f16: v.precision === 'f16',
    subgroups: v.reduction !== 'shared',
    reductionNote: v.reduction === 'shared'
      ? 'every lane reads its rows\' scores back from workgroup memory'
      : `subgroupShuffleXor across the ${v.lanes} lanes of a row group (needs subgroups of >= ${v.lanes} invocations)`,
    elem: v.precision,
    d4,
    blockQ: v.blockQ,
    lanes: v.lanes,
    threads: v.threads,
    rowsPerThread: v.rowsPerThread,
    kstride,
    ndim: spec.dims.length,
    nterms: spec.terms.length,
    imageOffset: f.imageOffset,
    imageTokens: f.imageTokens,
    textOffset: f.textOffset,
    textCount: f.textCount,
    textTiles: f.textTiles,
    tilesPerGroup: f.tilesPerGroup,
    gridTiles: f.gridTiles,
    imageSeesText: spec.imageSeesText,
    textqGrid: spec.textQueries?.grid ?? false,
    textqText: spec.textQueries?.text ?? false,
    qsLen: v.blockQ * d4,
    kvLen: v.lanes * kstride,
    psLen: v.blockQ * v.lanes,
    splitKV: v.splitKV,
    vbuf: v.splitKV ? 'vs' : 'ks',
    rows: range(v.rowsPerThread),
    dvs: range(d4 / v.lanes),
    shuffles,
    geometry: geometryWgsl(spec),
  };
  return template()(ctx);
}

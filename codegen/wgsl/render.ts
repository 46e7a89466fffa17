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
  // noEscape: this is WGSL, not HTML (escaping printed `&gt;&#x3D;` into comments); values are
  // numbers, booleans and identifiers, safe as they are
  (compiled ??= Handlebars.compile(readFileSync(templatePath('attention.wgsl.hbs'), 'utf8'), { strict: true, noEscape: true }));

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The WGSL source of one variant. Deterministic: a pure function of (spec, variant). */
export function renderVariant(spec: WgslSpec, v: WgslVariant): string {
  const f = specFacts(spec);
  const d4 = spec.headDim / 4;
  const shuffles: number[] = [];
  for (let s = v.lanes / 2; s >= 1; s /= 2) shuffles.push(s);
  const rq = v.rowsPerThread, rk = v.keysPerThread;
  const keys = range(rk);
  // the loader: invocation t loads key t/8 + 16 j (j < 4) of a tile, vec4 column t%8 (+ 8 m)
  const ldj = range(4);
  const nkch = d4 / 8; // K chunks of 32 dims (8 vec4) x BLOCK_K keys = 512 vec4
  const kpc = 512 / d4; // keys per V chunk (512 vec4)
  const nvc = v.blockK / kpc;
  const vloads = (vc: number): { r: number; j: number; jj16: number; m8: number }[] =>
    range(kpc / 16).flatMap((jj) => range(d4 / 8).map((m) => ({ r: jj * (d4 / 8) + m, j: vc * (kpc / 16) + jj, jj16: 16 * jj, m8: 8 * m })));
  const kloads = ldj.map((j) => ({ r: j, j, j16x8: 128 * j }));
  for (const vc of range(nvc)) if (vloads(vc).length !== 4) throw new Error('V chunk loads must be 4 per invocation');
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
    blockK: v.blockK,
    lanes: v.lanes,
    threads: v.threads,
    rq,
    rk,
    pcols: v.blockQ / rq,
    kpc,
    colsPerThread: d4 / v.lanes,
    ndim: spec.dims.length,
    nterms: spec.terms.length,
    imageOffset: f.imageOffset,
    imageTokens: f.imageTokens,
    textOffset: f.textOffset,
    textCount: f.textCount,
    textTiles: f.textTiles,
    textSplits: f.textSplits,
    splits: f.textSplits > 1,
    tilesPerGroup: f.tilesPerGroup,
    gridTiles: f.gridTiles,
    imageSeesText: spec.imageSeesText,
    textqGrid: spec.textQueries?.grid ?? false,
    textqText: spec.textQueries?.text ?? false,
    qsLen: v.blockQ * d4,
    psLen: (v.blockK * v.blockQ) / rq,
    rows: range(rq),
    keys,
    cols: range(d4 / v.lanes),
    comps: ['x', 'y', 'z', 'w'],
    ldj,
    kchunks: range(nkch).map((ch) => ({ ch, dim0: 32 * ch, dim1: 32 * ch + 32, col0: 8 * ch, nextCol: 8 * (ch + 1), last: ch === nkch - 1, loads: kloads })),
    v0loads: vloads(0),
    vchunks: range(nvc).map((vc) => ({ vc, key0: vc * kpc, key1: (vc + 1) * kpc, last: vc === nvc - 1, loads: vloads(vc), nextLoads: vc + 1 < nvc ? vloads(vc + 1) : [] })),
    maxExpr: keys.slice(1).reduce((e, k) => `max(${e}, s${k})`, 's0'),
    psumExpr: `(${keys.map((k) => `p${k}`).join(' + ')})`,
    shuffles,
    geometry: geometryWgsl(spec),
  };
  return template()(ctx);
}

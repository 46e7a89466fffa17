/**
 * The CUDA backend: PatternIR → KernelSpec (spec.ts) → three files from handlebars templates:
 *   <kernel>.cu  the specialized kernel + C host API (needs only the CUDA toolkit)
 *   <kernel>.h   the C API
 *   <module>.py  the PyTorch loader: builds the .cu with torch.utils.cpp_extension, attention(), plug()
 * Templates hold the shape of the code; every value they receive is a number, a generated
 * identifier or C text printed by geometry.ts from numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { Backend, EmitResult, EmittedFile } from '../backend.js';
import type { PatternIR } from '../../compiler/ir.js';
import { registerBackend } from '../registry.js';
import { geometryC, runAxis } from './geometry.js';
import { canonicalSpec, kernelName, planKernel, specFacts, specHash, SUPPORTED_ARCHS, type KernelSpec } from './spec.js';
import { planSm90, wgmmaWrappersC } from './sm90.js';
import { spatialPlans } from '../../compiler/shard.js';

export { planSm90, type Sm90Plan } from './sm90.js';
export { canonicalSpec, kernelName, planKernel, specFacts, specHash, SUPPORTED_ARCHS, SUPPORTED_HEAD_DIMS, type KernelSpec } from './spec.js';

/** dtype codes of the C API (keep in sync with the loader's _DTYPES). */
const DTYPE_BF16 = 0;
const DTYPE_FP16 = 1;

/** Templates live in the source tree; from dist/ (tsc output) they are found three folders up. */
function templatePath(file: string): string {
  const candidates = [new URL(`./templates/${file}`, import.meta.url), new URL(`../../../codegen/cuda/templates/${file}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`cuda backend: template ${file} not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

const cache = new Map<string, HandlebarsTemplateDelegate>();
function template(file: string): HandlebarsTemplateDelegate {
  let t = cache.get(file);
  if (!t) {
    // shared by both kernels: the row copy of the multi-GPU code
    if (!Handlebars.partials.copy_rows) Handlebars.registerPartial('copy_rows', readFileSync(templatePath('copy_rows.cu.hbs'), 'utf8'));
    // noEscape: C++ and Python, not HTML; values are numbers, booleans and identifiers
    t = Handlebars.compile(readFileSync(templatePath(file), 'utf8'), { strict: true, noEscape: true });
    cache.set(file, t);
  }
  return t;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ident = (s: string): string => {
  if (!IDENT.test(s)) throw new Error(`cuda backend: not an identifier: ${s}`);
  return s;
};
const num = (n: number): string => {
  if (!Number.isFinite(n)) throw new Error(`cuda backend: not a finite number: ${n}`);
  return Number.isInteger(n) ? String(n) : n.toPrecision(17).replace(/0+$/, '').replace(/\.$/, '.0');
};

/** A one-line, human-readable summary of the spec for the kernel's header comment. */
function summary(spec: KernelSpec): string {
  const grid = spec.dims.map((d) => `${d.size}/${d.group}`).join('x');
  const text = spec.text ? `text ${spec.text.count} ${spec.text.place}` : 'no text';
  const t = spec.tiling;
  return `grid ${grid} (size/group) ${spec.order}, ${text}, ${spec.terms.length} term(s), head_dim ${spec.headDim}, `
    + `block_q ${t.blockQ} block_k ${t.blockK} warps ${t.warps} stages ${t.stages}`;
}

/** Every template value, validated (identifiers and numbers only, plus printed C). */
export function templateContext(spec: KernelSpec): Record<string, unknown> {
  const f = specFacts(spec);
  const kernel = ident(kernelName(spec));
  const t = spec.tiling;
  // Q fragments fit in registers when a warp owns 16 rows or the head is small.
  const qInRegs = t.blockQ / t.warps === 16 || spec.headDim === 64;
  const specJson = canonicalSpec(spec);
  const sm90 = planSm90(spec);
  return {
    sm90a: sm90.supported ? 'True' : 'False',
    sm90aReason: JSON.stringify(sm90.reason ?? ''),
    kernel,
    copyPrefix: kernel,
    module: ident(`grat_${spec.pattern}`),
    pattern: ident(spec.pattern),
    hash: specHash(spec),
    guard: `${kernel.toUpperCase()}_H`,
    macro: kernel.toUpperCase(),
    specSummary: summary(spec),
    // JSON inside a C string literal: escape backslashes and quotes
    specEscaped: specJson.replace(/\\/g, '\\\\').replace(/"/g, '\\"'),
    headDim: spec.headDim,
    blockQ: t.blockQ,
    blockK: t.blockK,
    warps: t.warps,
    stages: t.stages,
    qInRegs: String(qInRegs),
    // 2 CTAs a multiprocessor when 128 threads (255 registers each still fit); 1 otherwise
    minBlocks: f.threads <= 128 ? 2 : 1,
    ndim: spec.dims.length,
    nterms: spec.terms.length,
    tokens: f.tokens,
    imageOffset: f.imageOffset,
    imageTokens: f.imageTokens,
    textOffset: f.textOffset,
    textCount: f.textCount,
    textPlace: spec.text?.place ?? 'none',
    textPlacePy: spec.text ? `"${spec.text.place}"` : 'None',
    queryGroups: f.queryGroups,
    tilesPerGroup: f.tilesPerGroup,
    textTiles: f.textTiles,
    imageSeesText: String(spec.imageSeesText),
    imageSeesTextPy: spec.imageSeesText ? 'True' : 'False',
    textQueriesPy: spec.textQueries ? `{"grid": ${spec.textQueries.grid ? 'True' : 'False'}, "text": ${spec.textQueries.text ? 'True' : 'False'}}` : 'None',
    // numbers, booleans and fixed keys only: safe inside a Python string literal
    spatialJson: JSON.stringify(spatialPlans(spec)),
    textqGrid: String(spec.textQueries?.grid ?? false),
    textqText: String(spec.textQueries?.text ?? false),
    geometry: geometryC(spec),
    dtypeBf16: DTYPE_BF16,
    dtypeFp16: DTYPE_FP16,
    torchDtype: spec.dtype === 'fp16' ? 'float16' : 'bfloat16',
    scale: num(spec.scale),
    order: spec.order,
    gridPy: spec.dims.map((d) => `${d.size},`).join(' '),
    groupPy: spec.dims.map((d) => `${d.group},`).join(' '),
  };
}

/** Template values of the sm_90a kernel: the same spec, its own fixed tiling (sm90.ts). */
export function templateContextSm90(spec: KernelSpec): Record<string, unknown> {
  const base = templateContext(spec);
  const plan = planSm90(spec);
  const kernel = base.kernel as string;
  return {
    ...base,
    copyPrefix: `${kernel}_sm90a`,
    specSummary: `${summary(spec).replace(/, block_q .*$/, '')}, sm_90a: block_q ${plan.blockQ} block_k ${plan.blockK} stages ${plan.stages}, 3 warpgroups`,
    blockQ: plan.blockQ,
    blockK: plan.blockK,
    stages: plan.stages,
    smemBytes: plan.smemBytes,
    tilesPerGroup: plan.tilesPerGroup,
    textTiles: plan.textTiles,
    wgmma: wgmmaWrappersC([plan.blockK, spec.headDim]),
    rasterTma: String(plan.rasterBox !== null),
    producerRegs: plan.producerRegs,
    consumerRegs: plan.consumerRegs,
    gridW: spec.dims[spec.dims.length - 1].size,
    gridH: spec.dims.length >= 2 ? spec.dims[spec.dims.length - 2].size : 1,
    gridT: spec.dims.length >= 3 ? spec.dims[spec.dims.length - 3].size : 1,
    groupW: Math.min(spec.dims[spec.dims.length - 1].group, spec.dims[spec.dims.length - 1].size),
    groupH: spec.dims.length >= 2 ? Math.min(spec.dims[spec.dims.length - 2].group, spec.dims[spec.dims.length - 2].size) : 1,
    boxW: plan.rasterBox?.w ?? 1,
    boxH: plan.rasterBox?.h ?? 1,
    boxT: plan.rasterBox?.t ?? 1,
    splitSoftmax: plan.splitSoftmax ? 1 : 0,
    lazyRescale: plan.lazyRescale ? 1 : 0,
    maxFree: plan.maxFree ? 1 : 0,
    runs: plan.runs ? 1 : 0,
    hasRuns: String(spec.terms.some((_, i) => runAxis(spec, i) !== null)),
    blockRows: plan.blockRows,
    groupsLast: plan.groupsLast,
  };
}

/** The emitted files for a planned spec (the sm_90a kernel and its header when planSm90 supports the spec). */
export function emitSpec(spec: KernelSpec): EmittedFile[] {
  const ctx = templateContext(spec);
  const kernel = ctx.kernel as string;
  const files: EmittedFile[] = [
    { path: `${kernel}.cu`, contents: template('kernel.cu.hbs')(ctx), role: 'kernel' },
    { path: `${kernel}.h`, contents: template('api.h.hbs')(ctx), role: 'host' },
    { path: `${ctx.module as string}.py`, contents: template('loader.py.hbs')(ctx), role: 'loader' },
    // the multi-GPU code is the same for every pattern; the loader imports it on first use
    { path: 'gratc_parallel.py', contents: readFileSync(templatePath('gratc_parallel.py'), 'utf8'), role: 'loader' },
  ];
  if (planSm90(spec).supported) {
    const c90 = templateContextSm90(spec);
    const k90 = `${kernel}_sm90a`;
    const hctx = { ...ctx, kernel: k90, guard: `${k90.toUpperCase()}_H`, macro: k90.toUpperCase() };
    files.push({ path: `${k90}.cu`, contents: template('kernel_sm90.cu.hbs')(c90), role: 'kernel' });
    files.push({ path: `${k90}.h`, contents: template('api.h.hbs')(hctx), role: 'host' });
  }
  return files;
}

export function emitCuda(ir: PatternIR): EmitResult {
  const { spec, diagnostics } = planKernel(ir);
  if (!spec) return { files: [], diagnostics, info: {} };
  const f = specFacts(spec);
  return {
    files: emitSpec(spec),
    diagnostics,
    info: {
      kernel: kernelName(spec),
      module: `grat_${spec.pattern}`,
      specHash: specHash(spec),
      spec: JSON.parse(canonicalSpec(spec)) as unknown,
      archs: [...SUPPORTED_ARCHS],
      tiling: spec.tiling,
      launch: { gridX: f.gridTiles, gridY: 'heads', gridZ: 'batch', threads: f.threads, smemBytes: f.smemBytes },
      sm90a: (() => {
        const p = planSm90(spec);
        return p.supported
          ? { kernel: `${kernelName(spec)}_sm90a`, blockQ: p.blockQ, blockK: p.blockK, stages: p.stages, launch: { schedule: 'persistent', tilesPerHead: p.gridTiles, ctas: 'min(SMs, tilesPerHead x heads)', threads: p.threads, smemBytes: p.smemBytes } }
          : { kernel: null, fallback: p.reason };
      })(),
    },
  };
}

export const cudaBackend: Backend = {
  target: 'cuda',
  description: 'CUDA C++ forward kernels (mma.sync for sm_80+, wgmma for sm_90a) with a C API and a PyTorch loader',
  emit: emitCuda,
};

registerBackend(cudaBackend);

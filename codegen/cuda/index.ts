/**
 * The CUDA backend: PatternIR → KernelSpec (spec.ts) → a pip-installable folder:
 *   <module>/<kernel>.cu  the specialized kernel + C host API (needs only the CUDA toolkit), and
 *                         <kernel>_sm90a.cu, the Hopper kernel, where sm90.ts supports the spec
 *   <module>/<kernel>.h   their C API
 *   pyproject.toml, <module>/*.py  the PyTorch package (python.ts): builds the .cu files with
 *                         torch.utils.cpp_extension, attention(), the torch.library op, plug()
 * Templates hold the shape of the code; every value they receive is a number, a generated
 * identifier or C text printed by codegen/cursor.ts from numbers.
 */
import Handlebars from 'handlebars';
import type { Backend, EmitResult, EmittedFile } from '../backend.js';
import { TARGET } from './target.js';
import type { PatternIR } from '../../compiler/ir.js';
import { queryTiling, type QueryTiling } from '../../compiler/plan.js';
import { CUDA, printCursor, takesRuns } from '../cursor.js';
import { ident, template, templateText } from '../kernel.js';
import { canonicalSpec, kernelName, planKernel, specHash, SUPPORTED_ARCHS, type KernelSpec } from './spec.js';
import { planSm90, wgmmaWrappersC, type Sm90Plan } from './sm90.js';
import { emitPython, packageName } from './python.js';

export { planSm90, type Sm90Plan } from './sm90.js';
export { canonicalSpec, DEFAULT_SM90_VARIANT, kernelName, planKernel, specHash, SUPPORTED_ARCHS, SUPPORTED_HEAD_DIMS, type KernelSpec, type Sm90Variant } from './spec.js';

/** dtype codes of the C API (the Python package's _DTYPES receives them). */
const DTYPE_BF16 = 0;
const DTYPE_FP16 = 1;

/** The templates' partials: the part of both kernels that is the same (cursor, Params, Pack), their host API, the row copy. */
function cudaTemplate<C extends CudaTemplateContext>(file: string): (ctx: C) => string {
  for (const [name, f] of [['common', 'common.cu.hbs'], ['host', 'host.cu.hbs'], ['copy_rows', 'copy_rows.cu.hbs']] as const) {
    if (!Handlebars.partials[name]) Handlebars.registerPartial(name, templateText('cuda', f));
  }
  return template<C>('cuda', file);
}

const num = (n: number): string => {
  if (!Number.isFinite(n)) throw new Error(`cuda backend: not a finite number: ${n}`);
  return Number.isInteger(n) ? String(n) : n.toPrecision(17).replace(/0+$/, '').replace(/\.$/, '.0');
};

/** Everything the CUDA backend decides for one pattern, once: the spec and both kernels' plans. */
export interface CudaPlan {
  readonly spec: KernelSpec;
  readonly kernel: string; // the sm_80 kernel's name; the sm_90a one adds `_sm90a`
  /** The sm_80 kernel's query tiles (tiling.blockQ rows), shared memory and threads. */
  readonly sm80: { readonly tiles: QueryTiling; readonly smemBytes: number; readonly threads: number };
  readonly sm90: Sm90Plan;
}

export function cudaPlan(spec: KernelSpec): CudaPlan {
  const { blockQ, blockK, stages, warps } = spec.tiling;
  return {
    spec,
    kernel: ident(kernelName(spec)),
    sm80: { tiles: queryTiling(spec, blockQ), smemBytes: (blockQ + 2 * stages * blockK) * spec.headDim * 2, threads: warps * 32 },
    sm90: planSm90(spec),
  };
}

/** A one-line, human-readable summary of the spec for the kernel's header comment. */
function summary(spec: KernelSpec): string {
  const grid = spec.dims.map((d) => `${d.size}/${d.group}`).join('x');
  const text = spec.text ? `text ${spec.text.count} ${spec.text.place}` : 'no text';
  const t = spec.tiling;
  return `grid ${grid} (size/group) ${spec.order}, ${text}, ${spec.terms.length} term(s), head_dim ${spec.headDim}, `
    + `block_q ${t.blockQ} block_k ${t.blockK} warps ${t.warps} stages ${t.stages}`;
}

/** Every value of the sm_80 kernel and its header (kernel.cu.hbs, api.h.hbs and their partials). */
export interface CudaTemplateContext {
  readonly kernel: string;
  readonly prefix: string;
  readonly copyPrefix: string;
  readonly pattern: string;
  readonly guard: string;
  readonly macro: string;
  readonly specSummary: string;
  readonly specEscaped: string;
  readonly headDim: number;
  readonly blockQ: number;
  readonly blockK: number;
  readonly warps: number;
  readonly stages: number;
  readonly qInRegs: string;
  readonly minBlocks: number;
  readonly tokens: number;
  readonly imageOffset: number;
  readonly imageTokens: number;
  readonly textOffset: number;
  readonly textCount: number;
  readonly textPlace: string;
  readonly queryGroups: number;
  readonly tilesPerGroup: number;
  readonly textTiles: number;
  readonly cursor: string;
  readonly dtypeBf16: number;
  readonly dtypeFp16: number;
  readonly scale: string;
  readonly ndim: number;
}

/** The sm_90a kernel's values (kernel_sm90.cu.hbs): the sm_80 ones, some replaced, and its own. */
export interface CudaSm90TemplateContext extends CudaTemplateContext {
  readonly smemBytes: number;
  readonly wgmma: string;
  readonly rasterTma: string;
  readonly producerRegs: number;
  readonly consumerRegs: number;
  readonly gridW: number;
  readonly gridH: number;
  readonly gridT: number;
  readonly groupW: number;
  readonly groupH: number;
  readonly boxW: number;
  readonly boxH: number;
  readonly boxT: number;
  readonly splitSoftmax: string;
  readonly lazyRescale: string;
  readonly maxFree: string;
  readonly pingpong: string;
  readonly hasRuns: string;
  readonly blockRows: number;
  readonly groupsLast: number;
}

/** Every template value, validated (identifiers and numbers only, plus printed C). */
export function templateContext(plan: CudaPlan): CudaTemplateContext {
  const { spec, kernel } = plan;
  const t = spec.tiling, L = spec.layout;
  // Q fragments fit in registers when a warp owns 16 rows or the head is small.
  const qInRegs = t.blockQ / t.warps === 16 || spec.headDim === 64;
  return {
    kernel,
    prefix: kernel,
    copyPrefix: kernel,
    pattern: ident(spec.pattern),
    guard: `${kernel.toUpperCase()}_H`,
    macro: kernel.toUpperCase(),
    specSummary: summary(spec),
    // JSON inside a C string literal: escape backslashes and quotes
    specEscaped: canonicalSpec(spec).replace(/\\/g, '\\\\').replace(/"/g, '\\"'),
    headDim: spec.headDim,
    blockQ: t.blockQ,
    blockK: t.blockK,
    warps: t.warps,
    stages: t.stages,
    qInRegs: String(qInRegs),
    // 2 CTAs a multiprocessor when 128 threads (255 registers each still fit); 1 otherwise
    minBlocks: plan.sm80.threads <= 128 ? 2 : 1,
    tokens: L.tokens,
    imageOffset: L.imageOffset,
    imageTokens: L.imageTokens,
    textOffset: L.textOffset,
    textCount: L.textCount,
    textPlace: spec.text?.place ?? 'none',
    queryGroups: L.queryGroups,
    tilesPerGroup: plan.sm80.tiles.tilesPerGroup,
    textTiles: plan.sm80.tiles.textTiles,
    cursor: printCursor(spec, CUDA, { blockK: t.blockK, runs: false }),
    dtypeBf16: DTYPE_BF16,
    dtypeFp16: DTYPE_FP16,
    scale: num(spec.scale),
    ndim: spec.dims.length,
  };
}

/** Template values of the sm_90a kernel: the same spec, its own fixed tiling and variant (sm90.ts, spec.sm90). */
export function templateContextSm90(plan: CudaPlan): CudaSm90TemplateContext {
  const base = templateContext(plan);
  const { spec } = plan, p = plan.sm90, v = spec.sm90;
  const D = spec.dims.length, ext = spec.layout.groupExtent;
  const k90 = `${plan.kernel}_sm90a`;
  return {
    ...base,
    prefix: k90,
    copyPrefix: k90,
    specSummary: `${summary(spec).replace(/, block_q .*$/, '')}, sm_90a: block_q ${p.blockQ} block_k ${p.blockK} stages ${p.stages}, 3 warpgroups`,
    blockQ: p.blockQ,
    blockK: p.blockK,
    stages: p.stages,
    smemBytes: p.smemBytes,
    tilesPerGroup: p.tiles.tilesPerGroup,
    textTiles: p.tiles.textTiles,
    wgmma: wgmmaWrappersC([p.blockK, spec.headDim]),
    cursor: printCursor(spec, CUDA, { blockK: p.blockK, runs: v.runs }),
    rasterTma: String(p.rasterBox !== null),
    producerRegs: p.producerRegs,
    consumerRegs: p.consumerRegs,
    gridW: spec.dims[D - 1].size,
    gridH: D >= 2 ? spec.dims[D - 2].size : 1,
    gridT: D >= 3 ? spec.dims[D - 3].size : 1,
    groupW: ext[D - 1],
    groupH: D >= 2 ? ext[D - 2] : 1,
    boxW: p.rasterBox?.w ?? 1,
    boxH: p.rasterBox?.h ?? 1,
    boxT: p.rasterBox?.t ?? 1,
    splitSoftmax: String(v.splitSoftmax),
    lazyRescale: String(v.lazyRescale),
    maxFree: String(v.maxFree),
    pingpong: String(v.pingpong),
    hasRuns: String(takesRuns(spec, v.runs)),
    blockRows: v.blockRows,
    groupsLast: p.groupsLast,
  };
}

/** The emitted files for a planned spec: the Python package (python.ts) with the kernels inside it (the sm_90a kernel and its header when planSm90 supports the spec). */
export function emitSpec(spec: KernelSpec): EmittedFile[] {
  return emitPlan(cudaPlan(spec));
}

function emitPlan(plan: CudaPlan): EmittedFile[] {
  const ctx = templateContext(plan);
  const kernel = plan.kernel;
  // the kernels are the package's data: it builds them from the folder it is installed in
  const dir = packageName(plan.spec);
  const files: EmittedFile[] = [
    ...emitPython(plan, { scale: ctx.scale, dtypeBf16: DTYPE_BF16, dtypeFp16: DTYPE_FP16 }),
    { path: `${dir}/${kernel}.cu`, contents: cudaTemplate('kernel.cu.hbs')(ctx), role: 'kernel' },
    { path: `${dir}/${kernel}.h`, contents: cudaTemplate('api.h.hbs')(ctx), role: 'host' },
  ];
  if (plan.sm90.supported) {
    const k90 = `${kernel}_sm90a`;
    const hctx: CudaTemplateContext = { ...ctx, kernel: k90, guard: `${k90.toUpperCase()}_H`, macro: k90.toUpperCase() };
    files.push({ path: `${dir}/${k90}.cu`, contents: cudaTemplate<CudaSm90TemplateContext>('kernel_sm90.cu.hbs')(templateContextSm90(plan)), role: 'kernel' });
    files.push({ path: `${dir}/${k90}.h`, contents: cudaTemplate('api.h.hbs')(hctx), role: 'host' });
  }
  return files;
}

export function emitCuda(ir: PatternIR): EmitResult {
  const { spec, diagnostics } = planKernel(ir);
  if (!spec) return { files: [], diagnostics, info: {} };
  const plan = cudaPlan(spec), p = plan.sm90;
  return {
    files: emitPlan(plan),
    diagnostics,
    info: {
      kernel: plan.kernel,
      module: packageName(spec),
      package: { pyproject: 'pyproject.toml', folder: packageName(spec) },
      specHash: specHash(spec),
      spec: JSON.parse(canonicalSpec(spec)) as unknown,
      archs: [...SUPPORTED_ARCHS],
      tiling: spec.tiling,
      launch: { gridX: plan.sm80.tiles.gridTiles, gridY: 'heads', gridZ: 'batch', threads: plan.sm80.threads, smemBytes: plan.sm80.smemBytes },
      sm90a: p.supported
        ? { kernel: `${plan.kernel}_sm90a`, blockQ: p.blockQ, blockK: p.blockK, stages: p.stages, launch: { schedule: 'persistent', tilesPerHead: p.tiles.gridTiles, ctas: 'min(SMs, tilesPerHead x heads)', threads: p.threads, smemBytes: p.smemBytes } }
        : { kernel: null, fallback: p.reason },
    },
  };
}

export const cudaBackend: Backend = {
  target: TARGET.name,
  description: 'CUDA C++ forward kernels (mma.sync for sm_80+, wgmma for sm_90a) with a C API, in a pip-installable PyTorch package',
  emit: emitCuda,
};


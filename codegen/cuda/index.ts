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
import { groupExtents, sizeMax } from '../../compiler/plan.js';
import { CUDA, layoutExprs, printCursor, takesRuns } from '../cursor.js';
import { int } from '../clike.js';
import { ident, template, templateText } from '../kernel.js';
import { canonicalSpec, kernelName, planKernel, specHash, SUPPORTED_ARCHS, type KernelSpec } from './spec.js';
import { edgeBoxesC, wgmmaInt8WrappersC, wgmmaWrappersC } from './sm90.js';
import { emitPython, packageName } from './python.js';
import { cudaPlan, type CudaPlan } from './plan.js';
import { backwardContext, backwardSm90Context } from './backward.js';

export { cudaPlan, type CudaPlan } from './plan.js';

export { planSm90, type Sm90Plan } from './sm90.js';
export { canonicalSpec, DEFAULT_SM90_VARIANT, kernelName, planKernel, specHash, SUPPORTED_ARCHS, SUPPORTED_HEAD_DIMS, type KernelSpec, type Sm90Variant } from './spec.js';

/** dtype codes of the C API (the Python package's _DTYPES receives them). */
const DTYPE_BF16 = 0;
const DTYPE_FP16 = 1;

/** The templates' partials: the part of both kernels that is the same (cursor, Params, Pack), their host API, the row copy, the sm_80 tensor-core helpers and the backward kernels (in the sm_80 library). */
function cudaTemplate<C extends CudaTemplateContext>(file: string): (ctx: C) => string {
  for (const [name, f] of [['common', 'common.cu.hbs'], ['host', 'host.cu.hbs'], ['copy_rows', 'copy_rows.cu.hbs'], ['mma', 'mma.cu.hbs'], ['backward', 'backward.cu.hbs'], ['backward_sm90', 'backward_sm90.cu.hbs'], ['quant8', 'quant8.cu.hbs'], ['sm90_int8', 'sm90_int8.cu.hbs']] as const) {
    if (!Handlebars.partials[name]) Handlebars.registerPartial(name, templateText('cuda', f));
  }
  return template<C>('cuda', file);
}

const num = (n: number): string => {
  if (!Number.isFinite(n)) throw new Error(`cuda backend: not a finite number: ${n}`);
  return Number.isInteger(n) ? String(n) : n.toPrecision(17).replace(/0+$/, '').replace(/\.$/, '.0');
};

/** A size for display: `512`, or `?<=4096` when taken at launch. */
const showSize = (s: KernelSpec['dims'][number]['size']): string => (s.kind === 'fixed' ? String(s.value) : `?<=${s.max}`);

/**
 * The host's check of the launch's sizes (`sizes`: rank + 1 ints, the text count last) and, where
 * some are taken at launch, the geometry it fills (p.geom; p.div_w / p.div_h for the sm_90a
 * kernel's raster boxes): C statements, every number from the spec. Sizes past the limits the
 * checker proved (ir.runtime.max) are cudaErrorInvalidValue, as is NULL then.
 */
export function hostSizesC(spec: KernelSpec): string {
  const D = spec.dims.length, bad = 'return static_cast<int>(cudaErrorInvalidValue);';
  const textSize = spec.text?.count ?? { kind: 'fixed' as const, value: 0 };
  if (!spec.runtime) {
    const compiled = [...spec.dims.map((d) => sizeMax(d.size)), sizeMax(textSize)];
    return [
      '  if (sizes != nullptr) {  // the compiled sizes, or the same values',
      `    const int compiled[${D + 1}] = {${compiled.join(', ')}};`,
      `    for (int i = 0; i < ${D + 1}; ++i) {`,
      `      if (sizes[i] != compiled[i]) ${bad}`,
      '    }',
      '  }',
    ].join('\n');
  }
  const lim = spec.runtime.max;
  const out: string[] = [`  if (sizes == nullptr) ${bad}  // some sizes are taken at launch`];
  const check = (i: number, s: typeof textSize, min: number): void => {
    out.push(s.kind === 'fixed' ? `  if (sizes[${i}] != ${int(s.value)}) ${bad}` : `  if (sizes[${i}] < ${min} || sizes[${i}] > ${int(s.max)}) ${bad}`);
  };
  spec.dims.forEach((d, a) => check(a, d.size, 1));
  check(D, textSize, 0);
  const grid = spec.dims.map((_, a) => `static_cast<long long>(sizes[${a}])`).join(' * ');
  const groups = spec.dims.map((d, a) => `((static_cast<long long>(sizes[${a}]) + ${d.group - 1}) / ${d.group})`).join(' * ');
  out.push(`  if (${grid} + sizes[${D}] > ${int(lim.tokens)} || ${groups} > ${int(lim.groups)}) ${bad}`);
  out.push('  Geom& g = p.geom;');
  spec.dims.forEach((d, a) => { if (d.size.kind === 'runtime') out.push(`  g.size${a} = sizes[${a}];`, `  g.n${a} = (sizes[${a}] + ${d.group - 1}) / ${d.group};`); });
  out.push(`  g.image_tokens = ${spec.dims.map((_, a) => `sizes[${a}]`).join(' * ')};`);
  out.push(`  g.text_count = sizes[${D}];`);
  const before = spec.text?.place === 'before';
  out.push(`  g.image_offset = ${before ? 'g.text_count' : '0'};`, `  g.text_offset = ${before ? '0' : 'g.image_tokens'};`);
  out.push(`  g.query_groups = ${spec.dims.map((d, a) => `((sizes[${a}] + ${d.group - 1}) / ${d.group})`).join(' * ')};`);
  out.push('  g.tokens = g.image_tokens + g.text_count;');
  const W = `sizes[${D - 1}]`, H = D >= 2 ? `sizes[${D - 2}]` : '1';
  out.push(`  p.div_w = fast_div(${W});`, `  p.div_h = fast_div(${H});`);
  return out.join('\n');
}

/** Params' fields for sizes taken at launch, and the division by a launch value they use (empty for fixed sizes). */
export function paramsRuntimeC(spec: KernelSpec): { fields: string; helpers: string } {
  if (!spec.runtime) return { fields: '', helpers: '' };
  return {
    fields: [
      '  Geom geom;         // the launch sizes (the host fills it from `sizes`)',
      '  FastDiv div_w, div_h;  // by the grid width and height (the sm_90a raster boxes\' coordinates)',
    ].join('\n'),
    helpers: [
      '/** Division of 0 <= n < 2^31 by a launch value d >= 1 without a divide: (umulhi(n, m) + n) >> s (round-up method). */',
      'struct FastDiv {',
      '  unsigned m;',
      '  int s;',
      '};',
      'inline FastDiv fast_div(int d) {',
      '  int s = 0;',
      '  while ((1ll << s) < d) ++s;',
      '  const unsigned long long m = ((1ull << 32) * ((1ull << s) - static_cast<unsigned long long>(d))) / static_cast<unsigned long long>(d) + 1;',
      '  return FastDiv{static_cast<unsigned>(m), s};',
      '}',
      '__device__ __forceinline__ int div_of(const FastDiv& f, int n) {',
      '  return static_cast<int>((__umulhi(static_cast<unsigned>(n), f.m) + static_cast<unsigned>(n)) >> f.s);',
      '}',
    ].join('\n'),
  };
}

/** A one-line, human-readable summary of the spec for the kernel's header comment. */
function summary(spec: KernelSpec): string {
  const grid = spec.dims.map((d) => `${showSize(d.size)}/${d.group}`).join('x');
  const text = spec.text ? `text ${showSize(spec.text.count)} ${spec.text.place}` : 'no text';
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
  /** Some size is taken at launch (the kernels read p.geom; no TOKENS, QUERY_GROUPS, TEXT_TILES constants). */
  readonly runtime: boolean;
  /** The layout values (fixed: numbers; run-time: None, for the loader). */
  readonly tokens: number | 'None';
  readonly imageOffset: number | 'None';
  readonly imageTokens: number | 'None';
  readonly textOffset: number | 'None';
  readonly textCount: number | 'None';
  readonly textPlace: string;
  readonly queryGroups: number | 'None';
  readonly tilesPerGroup: number;
  readonly textTiles: number | 'None';
  /** The same as the kernels and host spell them: constants, or fields of p.geom. */
  readonly tokensExpr: string;
  readonly imageOffsetExpr: string;
  readonly imageTokensExpr: string;
  readonly textOffsetExpr: string;
  readonly textCountExpr: string;
  readonly queryGroupsExpr: string;
  readonly textTilesExpr: string;
  /** `, p.geom` after the arguments of the printed cursor's functions where some size is taken at launch. */
  readonly geomArg: string;
  /** C: the host's check of `sizes` (and the geometry it fills); Params' run-time fields; their helpers. */
  readonly hostSizes: string;
  readonly paramsRuntime: string;
  readonly runtimeHelpers: string;
  readonly cursor: string;
  readonly dtypeBf16: number;
  readonly dtypeFp16: number;
  readonly scale: string;
  readonly ndim: number;
  /** The header declares K_backward (both libraries: the sm_80 backward, and the opt-in sm_90a one in K_sm90a). */
  readonly backward: boolean;
  /** The backward kernels' values (backward.ts). */
  readonly bwdWarps: number;
  readonly bwdBlockK: number;
  readonly bwdBlockQV: number;
  readonly bwdTilesPerGroupQ: number;
  readonly bwdTilesPerGroupK: number;
  readonly bwdCursor: string;
  readonly transposedCursor: string;
}

/** The sm_90a kernel's values (kernel_sm90.cu.hbs): the sm_80 ones, some replaced, and its own. */
export interface CudaSm90TemplateContext extends CudaTemplateContext {
  readonly smemBytes: number;
  readonly wgmma: string;
  readonly rasterTma: string;
  readonly producerRegs: number;
  readonly consumerRegs: number;
  /** The grid's (w, h, t) sizes as constants (`constexpr int GRID_W = ...`, empty where some are taken at launch) and as the code reads them. */
  readonly gridDecl: string;
  readonly gridWExpr: string;
  readonly gridHExpr: string;
  readonly gridTExpr: string;
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
  readonly groupsLastDecl: string;
  readonly groupsLastExpr: string;
  /** Some group shape is loaded by edge boxes (Sm90Plan.edgeBoxes; their helpers follow the cursor). */
  readonly edgeBoxes: boolean;
  /** Some edge shape is loaded by the alternate box (Sm90Plan.altBox): a second pair of image tensor maps. */
  readonly altBox: boolean;
  /** Tiles of at most 64 rows run one consumer warpgroup (Sm90Plan.halfTiles). */
  readonly halfTiles: boolean;
  /** Whether the consumers take turns in this tile: the constant PINGPONG, or (half tiles) a tile's `turns`. */
  readonly turns: string;
  /** (spec.precision 'int8', issue 20) The 8-bit path (templates/sm90_int8.cu.hbs) and its wgmma wrappers. */
  readonly int8: boolean;
  readonly wgmma8: string;
  /** This file holds the sm_90a backward kernels and <prefix>_backward (the library's main file; not the exact forward's). */
  readonly backward90: boolean;
  readonly bwd90Block: number;
  readonly bwd90TransposedCursor: string;
  readonly bwdWgmma: string;
}

/** Every template value, validated (identifiers and numbers only, plus printed C). */
export function templateContext(plan: CudaPlan): CudaTemplateContext {
  const { spec, kernel } = plan;
  const t = spec.tiling, L = plan.bound?.layout ?? null;
  const X = layoutExprs(spec, 'p.geom');
  const rt = L === null;
  const textTiles = plan.sm80.tiles?.textTiles ?? null;
  const runtime = paramsRuntimeC(spec);
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
    runtime: rt,
    tokens: L?.tokens ?? 'None',
    imageOffset: L?.imageOffset ?? 'None',
    imageTokens: L?.imageTokens ?? 'None',
    textOffset: L?.textOffset ?? 'None',
    textCount: L?.textCount ?? (spec.text?.count.kind === 'fixed' ? spec.text.count.value : 'None'),
    textPlace: spec.text?.place ?? 'none',
    queryGroups: L?.queryGroups ?? 'None',
    tilesPerGroup: plan.sm80.tilesPerGroup,
    textTiles: textTiles ?? 'None',
    tokensExpr: X.tokens,
    imageOffsetExpr: X.imageOffset,
    imageTokensExpr: X.imageTokens,
    textOffsetExpr: X.textOffset,
    textCountExpr: X.textCount,
    queryGroupsExpr: X.queryGroups,
    textTilesExpr: rt ? (spec.textQueries ? `(${X.textCount} + BQ - 1) / BQ` : '0') : 'TEXT_TILES',
    geomArg: rt ? ', p.geom' : '',
    hostSizes: hostSizesC(spec),
    paramsRuntime: runtime.fields,
    runtimeHelpers: runtime.helpers,
    cursor: printCursor(spec, CUDA, { blockK: t.blockK, runs: false }),
    dtypeBf16: DTYPE_BF16,
    dtypeFp16: DTYPE_FP16,
    scale: num(spec.scale),
    ndim: spec.dims.length,
    backward: true,
    ...backwardContext(spec),
  };
}

/** Template values of the sm_90a kernel: the same spec, its own fixed tiling and variant (sm90.ts, spec.sm90). */
export function templateContextSm90(plan: CudaPlan): CudaSm90TemplateContext {
  const base = templateContext(plan);
  const { spec } = plan, p = plan.sm90, v = spec.sm90;
  const D = spec.dims.length, ext = groupExtents(spec);
  // a grid size as the sm_90a code reads it: the GRID_* constants (every size fixed), a literal, or p.geom's field
  const gridSize = (a: number, name: string): string => {
    if (!spec.runtime) return name;
    if (a < 0) return '1';
    const s = spec.dims[a].size;
    return s.kind === 'fixed' ? int(s.value) : `p.geom.size${a}`;
  };
  const fixedGrid = (a: number): number => (a < 0 ? 1 : sizeMax(spec.dims[a].size));
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
    tilesPerGroup: p.tilesPerGroup,
    textTiles: p.tiles?.textTiles ?? 'None',
    textTilesExpr: spec.runtime ? base.textTilesExpr : 'TEXT_TILES',
    wgmma: wgmmaWrappersC([p.blockK, spec.headDim]),
    cursor: [printCursor(spec, CUDA, { blockK: p.blockK, runs: v.runs }), edgeBoxesC(p)].filter((x) => x !== '').join('\n\n'),
    rasterTma: String(p.rasterBox !== null),
    producerRegs: p.producerRegs,
    consumerRegs: p.consumerRegs,
    gridDecl: spec.runtime ? '' : `constexpr int GRID_W = ${fixedGrid(D - 1)}, GRID_H = ${fixedGrid(D - 2)}, GRID_T = ${fixedGrid(D - 3)};`,
    gridWExpr: gridSize(D - 1, 'GRID_W'),
    gridHExpr: gridSize(D - 2, 'GRID_H'),
    gridTExpr: gridSize(D - 3, 'GRID_T'),
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
    groupsLastDecl: p.groupsLast === null ? '' : `constexpr int GROUPS_LAST = ${p.groupsLast};`,
    groupsLastExpr: p.groupsLast === null ? `p.geom.n${D - 1}` : 'GROUPS_LAST',
    edgeBoxes: p.edgeBoxes !== null,
    altBox: p.altBox !== null,
    halfTiles: p.halfTiles,
    turns: p.halfTiles ? 'turns' : 'PINGPONG',
    int8: p.int8,
    wgmma8: p.int8 ? wgmmaInt8WrappersC([p.blockK, spec.headDim]) : '',
    backward90: !p.int8,  // (an int8 spec's file is a forward only)
    ...backwardSm90Context(spec, wgmmaWrappersC),
  };
}

/**
 * The emitted files for a planned spec: the Python package (python.ts) with the kernels inside it (the
 * sm_90a kernel and its header when planSm90 supports the spec). A spec with precision 'int8' (issue
 * 20) emits the package of its 16-bit spec (the same files, names and kernels) plus the int8 sm_90a
 * kernel as KERNEL_int8_sm90a.cu, which attention(precision="int8") loads.
 */
export function emitSpec(spec: KernelSpec): EmittedFile[] {
  if (spec.precision !== 'int8') return emitPlan(cudaPlan(spec));
  const { precision: _, ...base } = spec;
  const plan16 = cudaPlan(base), plan8 = cudaPlan(spec);
  if (!plan8.sm90.supported) throw new Error(`precision int8: ${plan8.sm90.reason}`);
  const k8 = `${plan16.kernel}_int8`, p8 = { ...plan8, kernel: k8 }, k90 = `${k8}_sm90a`, ctx = templateContext(p8);
  const hctx: CudaTemplateContext = { ...ctx, kernel: k90, guard: `${k90.toUpperCase()}_H`, macro: k90.toUpperCase(), backward: false };
  const dir = packageName(spec);
  return [...emitPlan(plan16, true),
    { path: `${dir}/${k90}.cu`, contents: cudaTemplate<CudaSm90TemplateContext>('kernel_sm90.cu.hbs')(templateContextSm90(p8)), role: 'kernel' },
    { path: `${dir}/${k90}.h`, contents: cudaTemplate('api.h.hbs')(hctx), role: 'host' }];
}

function emitPlan(plan: CudaPlan, int8 = false): EmittedFile[] {
  const ctx = templateContext(plan);
  const kernel = plan.kernel;
  // the kernels are the package's data: it builds them from the folder it is installed in
  const dir = packageName(plan.spec);
  const files: EmittedFile[] = [
    ...emitPython(plan, { scale: ctx.scale, dtypeBf16: DTYPE_BF16, dtypeFp16: DTYPE_FP16, int8 }),
    { path: `${dir}/${kernel}.cu`, contents: cudaTemplate('kernel.cu.hbs')(ctx), role: 'kernel' },
    { path: `${dir}/${kernel}.h`, contents: cudaTemplate('api.h.hbs')(ctx), role: 'host' },
  ];
  if (plan.sm90.supported) {
    const k90 = `${kernel}_sm90a`;
    const hctx: CudaTemplateContext = { ...ctx, kernel: k90, guard: `${k90.toUpperCase()}_H`, macro: k90.toUpperCase(), backward: true };
    files.push({ path: `${dir}/${k90}.cu`, contents: cudaTemplate<CudaSm90TemplateContext>('kernel_sm90.cu.hbs')(templateContextSm90(plan)), role: 'kernel' });
    files.push({ path: `${dir}/${k90}.h`, contents: cudaTemplate('api.h.hbs')(hctx), role: 'host' });
    const exact = exactForwardContext(plan);
    if (exact) files.push({ path: `${dir}/${exact.prefix}.cu`, contents: cudaTemplate<CudaSm90TemplateContext>('kernel_sm90.cu.hbs')(exact), role: 'kernel' });
  }
  return files;
}

/**
 * The sm_90a forward the autograd path runs (issue 21): the spec's variant with the max-free
 * softmax and lazy rescaling off, so every row's O is normalized by its true running max. With
 * them on, a peaked row's O carries a factor down to 2^-8 until the epilogue, and the backward's
 * delta = rowsum(dO * O) inherits that rounding (H100: dq/dk errors up to 2.34x PyTorch's). A
 * second translation unit of the sm_90a library, entry <kernel>_sm90a_exact_forward (same C ABI
 * as <kernel>_sm90a_forward); null where the variant is exact already.
 */
export function exactForwardContext(plan: CudaPlan): CudaSm90TemplateContext | null {
  const v = plan.spec.sm90;
  if (!plan.sm90.supported || (!v.maxFree && !v.lazyRescale)) return null;
  const exact = cudaPlan({ ...plan.spec, sm90: { ...v, maxFree: false, lazyRescale: false } });
  const prefix = `${plan.kernel}_sm90a_exact`;
  // (the same sm_90a plan: the two flags change no tiling, register split or shared memory)
  return { ...templateContextSm90(exact), kernel: plan.kernel, prefix, copyPrefix: prefix, backward90: false };
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
      runtime: spec.runtime,
      launch: { gridX: plan.sm80.tiles?.gridTiles ?? 'textTiles + queryGroups x tilesPerGroup', tilesPerGroup: plan.sm80.tilesPerGroup, gridY: 'heads', gridZ: 'batch', threads: plan.sm80.threads, smemBytes: plan.sm80.smemBytes },
      sm90a: p.supported
        ? { kernel: `${plan.kernel}_sm90a`, blockQ: p.blockQ, blockK: p.blockK, stages: p.stages, launch: { schedule: 'persistent', tilesPerHead: p.tiles?.gridTiles ?? 'textTiles + queryGroups x tilesPerGroup', tilesPerGroup: p.tilesPerGroup, ctas: 'min(SMs, tilesPerHead x heads)', threads: p.threads, smemBytes: p.smemBytes } }
        : { kernel: null, fallback: p.reason },
    },
  };
}

export const cudaBackend: Backend = {
  target: TARGET.name,
  description: 'CUDA C++ forward kernels (mma.sync for sm_80+, wgmma for sm_90a) with a C API, in a pip-installable PyTorch package',
  runtimeSizes: true,
  emit: emitCuda,
};


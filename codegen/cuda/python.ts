/**
 * The CUDA backend's Python package: from the CudaPlan, the files that make the output folder
 * pip-installable and importable as `grat_<pattern>`:
 *   pyproject.toml                      setuptools, the package and its kernel sources as package data
 *   grat_<pattern>/__init__.py          the API and its documentation (re-exports)
 *   grat_<pattern>/_spec.py             the pattern's facts: sizes (None where run-time), limits, plans
 *   grat_<pattern>/_build.py            building and loading the kernel libraries (ctypes)
 *   grat_<pattern>/_op.py               the torch.library operator and its fake implementation
 *   grat_<pattern>/_api.py              attention(), tokens_for(), the sizes of a launch, multi-GPU calls
 *   grat_<pattern>/_plug.py             plug(): routing a model's SDPA calls, policy, counts
 *   grat_<pattern>/_parallel.py         several GPUs (torch.distributed)
 *   grat_<pattern>/__main__.py          `python -m grat_<pattern> build|info`
 * Only _spec.py, __init__.py and pyproject.toml depend on the pattern (handlebars templates fed
 * numbers, identifiers and JSON of numbers and booleans); the rest are the same for every pattern.
 */
import type { EmittedFile } from '../backend.js';
import type { KernelSpec } from './spec.js';
import { canonicalSpec, specHash } from './spec.js';
import { spatialPlans } from '../../compiler/shard.js';
import { bindPlan, sizeMax, termAxes, termBorder } from '../../compiler/plan.js';
import { ident, template, templateText } from '../kernel.js';
import type { CudaPlan } from './plan.js';

/** Which sizes a kernel takes at launch and the largest it takes (CONTRACT: the spec JSON's "runtime"). */
export interface RuntimeSizes {
  readonly dims: readonly boolean[];
  readonly text: boolean;
  readonly max: { readonly dims: readonly number[]; readonly text: number; readonly tokens: number };
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * The spec's run-time sizes, read from its canonical JSON (the "runtime" field the kernels state);
 * a spec without it has every size fixed, and its limits are its sizes.
 */
export function runtimeSizes(spec: KernelSpec): RuntimeSizes {
  const D = spec.dims.length;
  const declared = (JSON.parse(canonicalSpec(spec)) as { runtime?: unknown }).runtime;
  if (declared === undefined || declared === null) {
    const L = bindPlan(spec).layout;
    return { dims: spec.dims.map(() => false), text: false, max: { dims: spec.dims.map((d) => sizeMax(d.size)), text: L.textCount, tokens: L.tokens } };
  }
  const r = declared as { dims?: unknown; text?: unknown; max?: { dims?: unknown; text?: unknown; tokens?: unknown } };
  const ok = Array.isArray(r.dims) && r.dims.length === D && r.dims.every((b) => typeof b === 'boolean') && typeof r.text === 'boolean'
    && r.max !== undefined && Array.isArray(r.max.dims) && r.max.dims.length === D && r.max.dims.every(isCount)
    && isCount(r.max.text) && isCount(r.max.tokens);
  if (!ok) throw new Error(`cuda backend: the spec's "runtime" field is not {dims: [bool x ${D}], text: bool, max: {dims, text, tokens}}: ${JSON.stringify(declared)}`);
  return r as RuntimeSizes;
}

/** Values of the pattern's Python templates (numbers, identifiers, Python literals of them, JSON of numbers and booleans). */
export interface PythonTemplateContext {
  readonly pattern: string;
  readonly module: string;
  readonly distribution: string;
  readonly version: string;
  readonly kernel: string;
  readonly hash: string;
  readonly headDim: number;
  readonly gridPy: string;
  readonly groupPy: string;
  readonly order: string;
  readonly textCountPy: string;
  readonly textPlacePy: string;
  readonly tokensPy: string;
  readonly imageOffsetPy: string;
  readonly imageTokensPy: string;
  readonly textOffsetPy: string;
  readonly scale: string;
  readonly torchDtype: 'float16' | 'bfloat16';
  readonly sm90a: 'True' | 'False';
  readonly sm90aReason: string;
  readonly sm90aInt8: 'True' | 'False';
  readonly imageSeesTextPy: 'True' | 'False';
  readonly textQueriesPy: string;
  readonly runtimeJson: string;
  readonly spatialJson: string;
  readonly shardTermsJson: string;
  readonly dtypeBf16: number;
  readonly dtypeFp16: number;
}

/** What the CUDA templates already decide and the Python package repeats: the C API's dtype codes and the printed scale. */
export interface PythonFacts {
  readonly scale: string;
  readonly dtypeBf16: number;
  readonly dtypeFp16: number;
  /** The package holds the int8 sm_90a kernel too (issue 20: KERNEL_int8_sm90a.cu). */
  readonly int8?: boolean;
}

const pyBool = (b: boolean): 'True' | 'False' => (b ? 'True' : 'False');

/** The package's name: `grat_<pattern>`. */
export const packageName = (spec: KernelSpec): string => ident(`grat_${spec.pattern}`);

export function pythonContext(plan: CudaPlan, facts: PythonFacts): PythonTemplateContext {
  const { spec } = plan, L = plan.bound?.layout;
  const rt = runtimeSizes(spec);
  const open = rt.text || rt.dims.some((b) => b);
  const fixed = (n: number | undefined): string => (open || n === undefined ? 'None' : String(n));
  const module = packageName(spec);
  return {
    pattern: ident(spec.pattern),
    module,
    // a PEP 508 name: letters, digits and '-' (the module's underscores), ending in one of the first two
    distribution: module.replace(/_+$/, '').replace(/_/g, '-'),
    version: `0+${specHash(spec)}`,
    kernel: plan.kernel,
    hash: specHash(spec),
    headDim: spec.headDim,
    gridPy: spec.dims.map((d, i) => (rt.dims[i] ? 'None,' : `${sizeMax(d.size)},`)).join(' '),
    groupPy: spec.dims.map((d) => `${d.group},`).join(' '),
    order: spec.order,
    textCountPy: rt.text ? 'None' : String(spec.text ? sizeMax(spec.text.count) : 0),
    textPlacePy: spec.text ? `"${spec.text.place}"` : 'None',
    tokensPy: fixed(L?.tokens),
    imageOffsetPy: fixed(L?.imageOffset),
    imageTokensPy: fixed(L?.imageTokens),
    textOffsetPy: fixed(L?.textOffset),
    scale: facts.scale,
    torchDtype: spec.dtype === 'fp16' ? 'float16' : 'bfloat16',
    sm90a: pyBool(plan.sm90.supported),
    sm90aReason: JSON.stringify(plan.sm90.reason ?? ''),
    sm90aInt8: pyBool(facts.int8 === true),
    imageSeesTextPy: pyBool(spec.imageSeesText),
    textQueriesPy: spec.textQueries ? `{"grid": ${pyBool(spec.textQueries.grid)}, "text": ${pyBool(spec.textQueries.text)}}` : 'None',
    runtimeJson: JSON.stringify({ dims: rt.dims, text: rt.text, max: { dims: rt.max.dims, text: rt.max.text, tokens: rt.max.tokens } }),
    // numbers, booleans and fixed keys only: safe inside a Python string literal
    spatialJson: plan.bound ? JSON.stringify(spatialPlans(plan.bound)) : '{}',
    shardTermsJson: JSON.stringify(spec.terms.map((t) => ({ range: termAxes(t)[0], border: termBorder(t) }))),
    dtypeBf16: facts.dtypeBf16,
    dtypeFp16: facts.dtypeFp16,
  };
}

/** The files of the package that are the same for every pattern (templates/python/<name>). */
const STATIC_FILES = ['_build.py', '_op.py', '_api.py', '_plug.py', '_parallel.py', '_shard.py', '__main__.py'] as const;

/** pyproject.toml and the package's Python files; the kernels go into `<module>/` beside them (index.ts). */
export function emitPython(plan: CudaPlan, facts: PythonFacts): EmittedFile[] {
  const ctx = pythonContext(plan, facts);
  const t = (f: string): string => template<PythonTemplateContext>('cuda', `python/${f}`)(ctx);
  return [
    { path: 'pyproject.toml', contents: t('pyproject.toml.hbs'), role: 'package' },
    { path: `${ctx.module}/__init__.py`, contents: t('__init__.py.hbs'), role: 'loader' },
    { path: `${ctx.module}/_spec.py`, contents: t('_spec.py.hbs'), role: 'loader' },
    ...STATIC_FILES.map((f) => ({ path: `${ctx.module}/${f}`, contents: templateText('cuda', `python/${f}`), role: 'loader' })),
  ];
}

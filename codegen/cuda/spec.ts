/**
 * CUDA kernel planning: the pattern's KernelPlan (compiler/plan.ts) → a typed KernelSpec (the
 * plan plus every decision the CUDA templates need, validated: element type, the sm_80 tiling,
 * the sm_90a kernel's variant) → a canonical specialization string and hash. The kernel's name is
 * a pure function of the spec, so the name is also the build-cache key (the PyTorch loader builds
 * one library per name) and two patterns that compile to the same kernel share it.
 */
import { diag, type Diagnostic } from '../../dsl/diagnostics.js';
import type { Dtype, PatternIR } from '../../compiler/ir.js';
import { artefactIdentity, canonicalJson, kernelNameOf, kernelPlan, specHashOf, type Generator, type KernelPlan } from '../../compiler/plan.js';
import { KERNEL_HEAD_DIMS, headDimError, type PlanResult } from '../kernel.js';
import { planSm90 } from './sm90.js';
import { DEFAULT_SM90_VARIANT, type KernelSpec, type Precision, type Sm90Variant, type Tiling } from './kernel_spec.js';

export const SUPPORTED_HEAD_DIMS = KERNEL_HEAD_DIMS;
export const SUPPORTED_ARCHS = ['sm_80', 'sm_86', 'sm_89', 'sm_90'] as const;

export { DEFAULT_SM90_VARIANT, type KernelSpec, type Precision, type Sm90Variant, type Tiling } from './kernel_spec.js';

const TILING_CHOICES = {
  block_q: [64, 128],
  block_k: [32, 64, 128],
  warps: [2, 4, 8],
  stages: [2, 3, 4],
} as const;

/** Defaults, measured on an H200 (bench/NOTES.md): head_dim 128: 8 warps of 16 query rows with Q in registers, 64 keys a stage (227 registers, no spills); head_dim 64: the same with 3 stages (4 warps of 32 rows spill on sm_80). */
export function defaultTiling(headDim: number): Tiling {
  return headDim === 64 ? { blockQ: 128, blockK: 64, warps: 8, stages: 3 } : { blockQ: 128, blockK: 64, warps: 8, stages: 2 };
}

/** Reads `schedule cuda` hints over the defaults; bad values are errors naming the choices. */
function tilingOf(ir: PatternIR, diags: Diagnostic[]): Tiling {
  const base = defaultTiling(ir.headDim);
  const hints = ir.schedule.cuda ?? {};
  const pick = (key: keyof typeof TILING_CHOICES, fallback: number): number => {
    const v = hints[key];
    if (v === undefined) return fallback;
    const allowed: readonly number[] = TILING_CHOICES[key];
    if (typeof v !== 'number' || !allowed.includes(v)) {
      diags.push(diag('E0912', `schedule cuda ${key}=${String(v)} is not supported`, null, { hint: `${key} is one of ${allowed.join(', ')}` }));
      return fallback;
    }
    return v;
  };
  const t: Tiling = {
    blockQ: pick('block_q', base.blockQ),
    blockK: pick('block_k', base.blockK),
    warps: pick('warps', base.warps),
    stages: pick('stages', base.stages),
  };
  const rowsPerWarp = t.blockQ / t.warps;
  if (rowsPerWarp !== 16 && rowsPerWarp !== 32) {
    diags.push(diag('E0913', `schedule cuda block_q=${t.blockQ} warps=${t.warps} gives ${rowsPerWarp} query rows per warp`, null, { hint: 'each warp owns 16 or 32 query rows: warps = block_q / 16 or block_q / 32' }));
    return base;
  }
  return t;
}

/**
 * Plans the kernel; returns diagnostics (never throws) for what the CUDA backend cannot build.
 * `precision` 'int8' (issue 20, opt-in): the sm_90a kernel's 8-bit path, head_dim 128 only.
 */
export function planKernel(ir: PatternIR, sm90: Sm90Variant = DEFAULT_SM90_VARIANT, precision?: Precision): PlanResult<KernelSpec> {
  const diags: Diagnostic[] = [];
  const hd = headDimError('E0911', 'CUDA', ir.headDim, 'pad q, k and v to head_dim 64 or 128 (zeros change nothing but the scale: keep `scale` at 1/sqrt(original head_dim))');
  if (hd) diags.push(hd);
  let dtype: 'bf16' | 'fp16' = 'bf16';
  if (ir.dtype === 'fp16' || ir.dtype === 'bf16') dtype = ir.dtype;
  else diags.push(diag('W0911', `the CUDA backend computes on bf16/fp16 tensor cores; dtype ${ir.dtype as Dtype} is read as bf16`, null, { hint: 'pass bf16 or fp16 tensors to attention()' }));
  const tiling = tilingOf(ir, diags);
  if (precision === 'int8' && ir.headDim !== 128) diags.push(diag('E0914', `precision int8 is built for head_dim 128, not ${ir.headDim}`, null, { hint: 'use the 16-bit kernel (no precision) for this head_dim' }));
  if (diags.some((d) => d.severity === 'error')) return { spec: null, diagnostics: diags };
  return { spec: { ...kernelPlan(ir), dtype, tiling, sm90, ...(precision ? { precision } : {}) }, diagnostics: diags };
}

/** Bump when the emitted CUDA (kernels, host, loader) changes for the same spec. */
export const GENERATOR: Generator = 'cuda/5'; // 2: the issue-18 C ABI (sizes, per-sample text_valid); 3: the backward kernels (issue 21); 4: the sm_90a exact forward and opt-in backward (issue 21); 5: its backward behind GRAT_FORWARD_ONLY (forward-variant compile tests)

/**
 * What names the kernel: the plan's identity, the element type, the tiling, the sm_90a variant where
 * it is not the default, and the generator. The default's edge boxes (issue 19) print code only
 * where the plan has edge-box shapes: those kernels are named with the shapes too (other code, a
 * new name), every other kernel keeps its name.
 */
function specIdentity(spec: KernelSpec): Record<string, unknown> {
  const { sm90, dtype, tiling, precision, ...plan } = spec;
  const isDefault = canonicalJson(sm90) === canonicalJson(DEFAULT_SM90_VARIANT);
  const edges = isDefault ? planSm90(spec).edgeBoxes : null;
  return artefactIdentity(GENERATOR, plan, { dtype, tiling, ...(isDefault ? {} : { sm90 }), ...(edges ? { sm90EdgeBoxes: edges } : {}), ...(precision ? { precision } : {}) });
}

/** JSON with sorted keys: byte-stable. */
export const canonicalSpec = (spec: KernelSpec): string => canonicalJson(specIdentity(spec));

export const specHash = (spec: KernelSpec): string => specHashOf(specIdentity(spec));

/** `grat_<pattern>_<hash12>`: a C identifier, a file stem and the build-cache key. */
export const kernelName = (spec: KernelSpec): string => kernelNameOf(spec.pattern, specIdentity(spec));

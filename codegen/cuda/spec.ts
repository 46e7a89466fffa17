/**
 * CUDA kernel planning: a checked PatternIR → a typed KernelSpec (every decision the templates
 * need, validated) → a canonical specialization string and hash. The kernel's name is a pure
 * function of the spec, so the name is also the build-cache key (the PyTorch loader builds one
 * library per name) and two patterns that compile to the same kernel share it.
 */
import { error, warning, type Diagnostic } from '../../dsl/diagnostics.js';
import type { Dtype, PatternIR } from '../../compiler/ir.js';
import { canonicalJson, planGeometry, specHashOf, type PlanGeometry, type PlanTerm } from '../../compiler/plan.js';
import { imageOffset, imageTokens, textOffset } from '../../compiler/ir.js';

/** head_dim values the tensor-core kernel is written for (ldmatrix tiles of 16, a register budget). */
export const SUPPORTED_HEAD_DIMS = [64, 128] as const;
export const SUPPORTED_ARCHS = ['sm_80', 'sm_86', 'sm_89', 'sm_90'] as const;

/** The tile shape and pipeline depth: what `schedule cuda ...` may set. */
export interface Tiling {
  readonly blockQ: number; // query rows per CTA
  readonly blockK: number; // key rows per pipeline stage
  readonly warps: number; // warps per CTA; each owns blockQ / warps query rows (16 or 32)
  readonly stages: number; // cp.async pipeline depth (K and V tiles in flight)
}

export interface SpecDim {
  readonly size: number;
  readonly group: number;
  readonly groups: number;
}

/** An image term, with every bound made finite and small (|offset| <= groups along its axis). */
export type SpecTerm = PlanTerm;

/** The target-independent plan (compiler/plan.ts) plus what the CUDA kernels add. */
export interface KernelSpec extends PlanGeometry {
  /** Element type the pattern declares; the library takes bf16 and fp16 either way. */
  readonly dtype: 'bf16' | 'fp16';
  readonly tiling: Tiling;
}

/** Derived numbers the templates and the host need. */
export interface SpecFacts {
  readonly tokens: number;
  readonly imageTokens: number;
  readonly imageOffset: number;
  readonly textOffset: number;
  readonly textCount: number;
  readonly queryGroups: number;
  readonly maxGroupTokens: number;
  readonly tilesPerGroup: number; // query tiles per image query group (edge groups may use fewer)
  readonly textTiles: number;
  readonly gridTiles: number; // launch grid x = textTiles + queryGroups * tilesPerGroup
  readonly smemBytes: number; // dynamic shared memory per CTA
  readonly threads: number;
}

export interface PlanResult {
  readonly spec: KernelSpec | null;
  readonly diagnostics: readonly Diagnostic[];
}

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
      diags.push(error('C0102', `schedule cuda ${key}=${String(v)} is not supported`, null, { hint: `${key} is one of ${allowed.join(', ')}` }));
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
    diags.push(error('C0103', `schedule cuda block_q=${t.blockQ} warps=${t.warps} gives ${rowsPerWarp} query rows per warp`, null, { hint: 'each warp owns 16 or 32 query rows: warps = block_q / 16 or block_q / 32' }));
    return base;
  }
  return t;
}

/** Plans the kernel; returns diagnostics (never throws) for what the CUDA backend cannot build. */
export function planKernel(ir: PatternIR): PlanResult {
  const diags: Diagnostic[] = [];
  if (!(SUPPORTED_HEAD_DIMS as readonly number[]).includes(ir.headDim)) {
    diags.push(error('C0101', `the CUDA backend supports head_dim ${SUPPORTED_HEAD_DIMS.join(' and ')}, got ${ir.headDim}`, null, {
      hint: 'pad q, k and v to head_dim 64 or 128 (zeros change nothing but the scale: keep `scale` at 1/sqrt(original head_dim))',
    }));
  }
  let dtype: 'bf16' | 'fp16' = 'bf16';
  if (ir.dtype === 'fp16' || ir.dtype === 'bf16') dtype = ir.dtype;
  else diags.push(warning('C0104', `the CUDA backend computes on bf16/fp16 tensor cores; dtype ${ir.dtype as Dtype} is read as bf16`, null, { hint: 'pass bf16 or fp16 tensors to attention()' }));
  const tiling = tilingOf(ir, diags);
  if (diags.some((d) => d.severity === 'error')) return { spec: null, diagnostics: diags };
  const spec: KernelSpec = { ...planGeometry(ir), dtype, tiling };
  return { spec, diagnostics: diags };
}

/** JSON with sorted keys: byte-stable. */
export const canonicalSpec = (spec: KernelSpec): string => canonicalJson(spec);

export const specHash = (spec: KernelSpec): string => specHashOf(spec);

/** `grat_<pattern>_<hash12>`: a C identifier, a file stem and the build-cache key. */
export function kernelName(spec: KernelSpec): string {
  return `grat_${spec.pattern}_${specHash(spec).slice(0, 12)}`;
}

export function specFacts(spec: KernelSpec): SpecFacts {
  const M = spec.dims.reduce((n, d) => n * d.size, 1);
  const textCount = spec.text?.count ?? 0;
  const ir = { dims: spec.dims, text: spec.text } as unknown as PatternIR;
  const maxGroupTokens = spec.dims.reduce((n, d) => n * Math.min(d.group, d.size), 1);
  const tilesPerGroup = Math.ceil(maxGroupTokens / spec.tiling.blockQ);
  const queryGroups = spec.dims.reduce((n, d) => n * d.groups, 1);
  const textTiles = Math.ceil(textCount / spec.tiling.blockQ);
  const { blockQ, blockK, stages, warps } = spec.tiling;
  return {
    tokens: M + textCount,
    imageTokens: imageTokens(ir),
    imageOffset: imageOffset(ir),
    textOffset: textOffset(ir),
    textCount,
    queryGroups,
    maxGroupTokens,
    tilesPerGroup,
    textTiles,
    gridTiles: textTiles + queryGroups * tilesPerGroup,
    smemBytes: (blockQ + 2 * stages * blockK) * spec.headDim * 2,
    threads: warps * 32,
  };
}

/**
 * WGSL kernel planning: a checked PatternIR → a typed WgslSpec (the pattern's geometry, every
 * bound finite) and its variants (precision × how rows are reduced). Every decision the
 * template needs is made here; the template only prints. The kernel's name is a pure function
 * of the spec (sha256 of its canonical JSON), so it doubles as the pipeline-cache key.
 *
 * One workgroup = THREADS invocations = one tile of BLOCK_Q query rows of one query group (or of
 * the text rows) × one (batch, head). Invocations form row groups of LANES lanes: lane c scores
 * key c of each key tile (BK = LANES keys) for its RQ rows, and owns output columns
 * {c, c + LANES, ...} (vec4 units) of those rows, so K/V reads from workgroup memory are
 * contiguous across lanes. Row maxima are reduced across the LANES lanes of a row group with
 * subgroupShuffleXor (variants 'sg16', 'sg8': the device's subgroups must hold at least LANES
 * invocations) or through workgroup memory ('shared', any device).
 */
import { error, warning, type Diagnostic } from '../../dsl/diagnostics.js';
import type { PatternIR } from '../../compiler/ir.js';
import { canonicalJson, exprFitsI32, planGeometry, specHashOf, type PlanGeometry, type PlanTerm } from '../../compiler/plan.js';
import { imageOffset, imageTokens, textOffset, totalTokens } from '../../compiler/ir.js';

export const SUPPORTED_HEAD_DIMS = [64, 128] as const;
export const PRECISIONS = ['f32', 'f16'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const REDUCTIONS = ['sg16', 'sg8', 'shared'] as const;
export type Reduction = (typeof REDUCTIONS)[number];

/** Query rows per workgroup and invocations per workgroup (WebGPU's default limit is 256). */
export const BLOCK_Q = 32;
export const THREADS = 128;
/** Every device must allow this much workgroup memory (WebGPU's default limit). */
export const PORTABLE_WORKGROUP_STORAGE = 16384;
/** Most adapters allow this much when asked (the runtime requests the adapter's maximum). */
export const MAX_WORKGROUP_STORAGE = 32768;

export interface SpecDim {
  readonly size: number;
  readonly group: number;
  readonly groups: number;
}

/** An image term with every bound finite and small (|offset| <= groups along its axis). */
export type SpecTerm = PlanTerm;

/** The target-independent plan (compiler/plan.ts) plus the precision the pattern's dtype asks for. */
export interface WgslSpec extends PlanGeometry {
  /** bf16 runs as f16: WGSL has no bf16. */
  readonly preferred: Precision;
}

/** One compiled shader of a spec. */
export interface WgslVariant {
  readonly id: string; // `${precision}-${reduction}`
  readonly precision: Precision;
  readonly reduction: Reduction;
  readonly lanes: number; // keys per key tile; lanes per row group
  readonly blockQ: number;
  readonly threads: number;
  readonly rowsPerThread: number;
  readonly splitKV: boolean; // K and V tiles in separate workgroup arrays (one barrier fewer)
  readonly workgroupStorage: number; // bytes
  readonly features: readonly string[]; // device features the shader needs
  readonly minSubgroupSize: number; // 0 when it uses no subgroup operations
}

/** Derived sizes shared by the template, the typed module and the runtime. */
export interface SpecFacts {
  readonly tokens: number;
  readonly imageTokens: number;
  readonly imageOffset: number;
  readonly textOffset: number;
  readonly textCount: number;
  readonly queryGroups: number;
  readonly maxGroupTokens: number;
  readonly tilesPerGroup: number;
  readonly textTiles: number;
  readonly gridTiles: number; // workgroups per (batch, head)
}

export interface PlanResult {
  readonly spec: WgslSpec | null;
  readonly diagnostics: readonly Diagnostic[];
}

/** Plans the kernel; returns diagnostics (never throws) for what the WGSL backend cannot build. */
export function planWgsl(ir: PatternIR): PlanResult {
  const diags: Diagnostic[] = [];
  if (!(SUPPORTED_HEAD_DIMS as readonly number[]).includes(ir.headDim)) {
    diags.push(error('W0101', `the WGSL backend supports head_dim ${SUPPORTED_HEAD_DIMS.join(' and ')}, got ${ir.headDim}`, null, {
      hint: 'pad q, k and v with zeros to head_dim 64 or 128 and keep `scale` at 1/sqrt(original head_dim)',
    }));
  }
  if (totalTokens(ir) > 2 ** 31 - 1) diags.push(error('W0102', 'too many tokens for 32-bit token indices', null));
  for (const t of ir.image.terms) {
    if (t.kind === 'predicate' && !exprFitsI32(t.expr)) diags.push(error('W0103', `a constant in '${t.origin}' does not fit a 32-bit integer`, null));
  }
  const hints = ir.schedule.wgsl ?? {};
  for (const key of Object.keys(hints)) diags.push(warning('W0104', `schedule wgsl ${key}=${String(hints[key])} is ignored: the WGSL backend sizes its tiles from the device limits`, null));
  if (diags.some((d) => d.severity === 'error')) return { spec: null, diagnostics: diags };
  return {
    spec: { ...planGeometry(ir), preferred: ir.dtype === 'fp32' ? 'f32' : 'f16' },
    diagnostics: diags,
  };
}

export { canonicalJson };
export const specHash = (spec: WgslSpec): string => specHashOf(spec);

/** `grat_<pattern>_<hash12>`: an identifier, a file stem and the pipeline-cache key. */
export const kernelName = (spec: WgslSpec): string => `grat_${spec.pattern}_${specHash(spec).slice(0, 12)}`;

export function specFacts(spec: WgslSpec): SpecFacts {
  const shape = { dims: spec.dims, text: spec.text } as unknown as PatternIR;
  const textCount = spec.text?.count ?? 0;
  const maxGroupTokens = spec.dims.reduce((n, d) => n * Math.min(d.group, d.size), 1);
  const tilesPerGroup = Math.ceil(maxGroupTokens / BLOCK_Q);
  const queryGroups = spec.dims.reduce((n, d) => n * d.groups, 1);
  const textTiles = spec.textQueries ? Math.ceil(textCount / BLOCK_Q) : 0;
  return {
    tokens: imageTokens(shape) + textCount,
    imageTokens: imageTokens(shape),
    imageOffset: imageOffset(shape),
    textOffset: textOffset(shape),
    textCount,
    queryGroups,
    maxGroupTokens,
    tilesPerGroup,
    textTiles,
    gridTiles: textTiles + queryGroups * tilesPerGroup,
  };
}

/**
 * The variant of a precision and reduction: tile sizes and workgroup memory. K and V get
 * separate arrays (one barrier fewer per key tile) only when that still fits the portable 16 KiB,
 * or when neither layout does but the split one fits 32 KiB.
 */
export function variantOf(spec: WgslSpec, precision: Precision, reduction: Reduction): WgslVariant {
  const lanes = reduction === 'sg8' ? 8 : 16;
  const eb = precision === 'f16' ? 2 : 4;
  const D = spec.headDim, BQ = BLOCK_Q;
  const q = BQ * D * eb, kv = lanes * (D + 4) * eb, p = BQ * lanes * 4;
  const shared = q + kv + p, split = q + 2 * kv + p;
  const splitKV = split <= PORTABLE_WORKGROUP_STORAGE || (shared > PORTABLE_WORKGROUP_STORAGE && split <= MAX_WORKGROUP_STORAGE);
  const features: string[] = [];
  if (precision === 'f16') features.push('shader-f16');
  if (reduction !== 'shared') features.push('subgroups');
  return {
    id: `${precision}-${reduction}`,
    precision,
    reduction,
    lanes,
    blockQ: BQ,
    threads: THREADS,
    rowsPerThread: (BQ * lanes) / THREADS,
    splitKV,
    workgroupStorage: splitKV ? split : shared,
    features,
    minSubgroupSize: reduction === 'shared' ? 0 : lanes,
  };
}

/** Every variant the backend emits for a spec. */
export const allVariants = (spec: WgslSpec): WgslVariant[] =>
  PRECISIONS.flatMap((p) => REDUCTIONS.map((r) => variantOf(spec, p, r)));

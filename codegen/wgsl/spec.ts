/**
 * WGSL kernel planning: a checked PatternIR → a typed WgslSpec (the pattern's geometry, every
 * bound finite) and its variants (precision × how rows are reduced). Every decision the
 * template needs is made here; the template only prints. The kernel's name is a pure function
 * of the spec (sha256 of its canonical JSON), so it doubles as the pipeline-cache key.
 *
 * One workgroup = THREADS invocations = one tile of BLOCK_Q query rows of one query group (or of
 * the text rows) × one (batch, head); keys come in tiles of BLOCK_K. FlashAttention on SIMT
 * cores: invocations form row groups of LANES lanes; lane c of a row group computes an RQ × RK
 * register block of S = QKᵀ (its RQ rows × keys c, c + LANES, ...) and owns an RQ-row ×
 * (D/4 / LANES)-vec4 block of the output (columns c, c + LANES, ...), so both products are
 * register-tiled. K passes through workgroup memory in 32-dim chunks, V in chunks of 512/(D/4)
 * keys, each prefetched into registers while the previous chunk is in use. Row maxima are
 * reduced across the LANES lanes of a row group with subgroupShuffleXor (variants 'sg16',
 * 'sg8': the device's subgroups must hold at least LANES invocations) or through workgroup
 * memory ('shared', any device; same layout as 'sg16').
 *
 * Staging of the query tile: 'tile' keeps the scaled BQ x D tile in workgroup memory (32 KiB in
 * all at head_dim 128, most adapters allow it when asked); 'global' re-reads each invocation's
 * query rows from the q buffer per key chunk (cached loads) and stages only K/V chunks and
 * probabilities: 16 KiB, the limit every conformant WebGPU adapter has. Same tiles, same launch.
 */
import { diag, type Diagnostic } from '../../dsl/diagnostics.js';
import type { PatternIR } from '../../compiler/ir.js';
import { artefactIdentity, canonicalJson, fixedPlan, kernelNameOf, kernelPlan, queryTiling, specHashOf, tilesPerGroupOf, type BoundPlan, type Generator, type KernelPlan, type QueryTiling } from '../../compiler/plan.js';
import { KERNEL_HEAD_DIMS, headDimError, type PlanResult } from '../kernel.js';

export const SUPPORTED_HEAD_DIMS = KERNEL_HEAD_DIMS;
export const PRECISIONS = ['f32', 'f16'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const REDUCTIONS = ['sg16', 'sg8', 'shared'] as const;
/** 'sg4': the subgroup-matrix variant's softmax, a query row's 4 invocations (not one of the SIMT reductions). */
export type Reduction = (typeof REDUCTIONS)[number] | 'sg4';
/** Where the query tile lives: in workgroup memory (faster), or re-read from q (fits 16 KiB). */
export const Q_STAGINGS = ['tile', 'global'] as const;
export type QStaging = (typeof Q_STAGINGS)[number];
/** WebGPU's default (and least) maxComputeWorkgroupStorageSize: the 'global' variants fit it. */
export const MIN_WORKGROUP_STORAGE = 16384;

/** Query rows per workgroup, keys per key tile and invocations per workgroup (WebGPU's default limit is 256). */
export const BLOCK_Q = 32;
export const BLOCK_K = 64;
export const THREADS = 128;
/** Most adapters allow this much workgroup memory when asked (the runtime requests the adapter's maximum). */
export const MAX_WORKGROUP_STORAGE = 32768;

/**
 * The subgroup-matrix variant (Dawn's chromium_experimental_subgroup_matrix: Vulkan cooperative
 * matrices, tensor cores on NVIDIA): f16 operands, f32 accumulators, 16 x 16 x 16 products. It
 * partitions the tiles among exactly THREADS / SUBGROUP subgroups (S: RT row tiles x BK / N key
 * tiles = one per subgroup; O: RT x D / N, D / N / 2 per subgroup), so the device's subgroups must
 * hold exactly SUBGROUP invocations, and key tiles are 32 keys (query tiles stay BLOCK_Q = 32:
 * the launch is every variant's).
 */
export const SUBGROUP_MATRIX = { M: 16, N: 16, K: 16, componentType: 'f16', resultComponentType: 'f32', subgroupSize: 32, blockK: 32 } as const;
/** The device feature that offers subgroup matrices (Dawn: exposed with the allow_unsafe_apis toggle). */
export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';
/** A product shape and its types, as adapters list them (GPUSubgroupMatrixConfig) plus the subgroup size the variant assumes. */
export interface SubgroupMatrixShape {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly componentType: 'f16';
  readonly resultComponentType: 'f32';
  readonly subgroupSize: number;
}

/**
 * The pattern's plan (compiler/plan.ts) plus the precision the pattern's dtype asks for: bound
 * (every size compiled in) or with sizes taken at launch (plan.runtime; the runtime passes them).
 */
export type WgslSpec = (BoundPlan | (KernelPlan & { readonly runtime: NonNullable<KernelPlan['runtime']> })) & {
  /** bf16 runs as f16: WGSL has no bf16. */
  readonly preferred: Precision;
};

/** A spec with every size compiled in (its layout known). */
export const isBound = (spec: WgslSpec): spec is BoundPlan & { readonly preferred: Precision } => 'layout' in spec;

/** One compiled shader of a spec. */
export interface WgslVariant {
  readonly id: string; // `${precision}-${reduction}`, `-q16k` when the query tile stays in global memory
  readonly precision: Precision;
  readonly reduction: Reduction;
  readonly qStaging: QStaging;
  readonly lanes: number; // lanes per row group (the subgroup cluster a row maximum spans)
  readonly blockQ: number;
  readonly blockK: number; // keys per key tile
  readonly threads: number;
  readonly rowsPerThread: number; // RQ: rows of an invocation's S and O blocks
  readonly keysPerThread: number; // RK: keys of an invocation's S block per key tile
  readonly workgroupStorage: number; // bytes
  readonly features: readonly string[]; // device features the shader needs
  readonly minSubgroupSize: number; // 0 when it uses no subgroup operations
  /** QK^T and PV on subgroup matrices of this shape (the device must list it and have subgroups of exactly its size); null: SIMT FMAs. */
  readonly matrix: SubgroupMatrixShape | null;
}

/**
 * The launch of a spec: its query tiles (compiler/plan.ts queryTiling at BLOCK_Q rows) and the
 * text split. Text rows may see every key (Flux: 512 rows x all 66k keys at 4096²) while an image
 * tile sees a few thousand, so one workgroup per text tile would be the critical path: each of
 * `textSplits` workgroups of a text tile takes every textSplits-th key tile and writes its partial
 * (O, m, l); the `combine` entry point merges them. 1: no split, no combine.
 */
export interface WgslLaunch extends QueryTiling {
  readonly textSplits: number;
  readonly workgroups: number; // per (batch, head): textTiles * textSplits + queryGroups * tilesPerGroup
}

/** Key tiles a text split takes at least (fewer, larger splits below that). */
export const MIN_TILES_PER_SPLIT = 2;
/** The most splits of a text tile (bounds the scratch buffer: 16 x (D + 2) floats per text row and head). */
export const MAX_TEXT_SPLITS = 16;

/** Plans the kernel; returns diagnostics (never throws) for what the WGSL backend cannot build. */
export function planWgsl(ir: PatternIR): PlanResult<WgslSpec> {
  const diags: Diagnostic[] = [];
  const hd = headDimError('E0921', 'WGSL', ir.headDim, 'pad q, k and v with zeros to head_dim 64 or 128 and keep `scale` at 1/sqrt(original head_dim)');
  if (hd) diags.push(hd);
  const hints = ir.schedule.wgsl ?? {};
  for (const key of Object.keys(hints)) diags.push(diag('W0921', `schedule wgsl ${key}=${String(hints[key])} is ignored: the WGSL backend sizes its tiles from the device limits`, null));
  if (diags.some((d) => d.severity === 'error')) return { spec: null, diagnostics: diags };
  // sizes taken at launch: the printed cursor reads them from a Geom argument, the runtime passes them
  const plan = kernelPlan(ir), bound = fixedPlan(plan), preferred: Precision = ir.dtype === 'fp32' ? 'f32' : 'f16';
  return { spec: bound ? { ...bound, preferred } : { ...plan, runtime: plan.runtime!, preferred }, diagnostics: diags };
}

/** Bump when the emitted WGSL or typed module changes for the same spec. */
export const GENERATOR: Generator = 'wgsl/4';

const specIdentity = (spec: WgslSpec): Record<string, unknown> => {
  const { preferred, ...plan } = spec;
  return artefactIdentity(GENERATOR, plan, { preferred });
};
export const canonicalSpec = (spec: WgslSpec): string => canonicalJson(specIdentity(spec));
export const specHash = (spec: WgslSpec): string => specHashOf(specIdentity(spec));

/** `grat_<pattern>_<hash12>`: an identifier, a file stem and the pipeline-cache key. */
export const kernelName = (spec: WgslSpec): string => kernelNameOf(spec.pattern, specIdentity(spec));

/** Workgroups per text tile for `textKeys` keys (and whether there are text tiles): the runtime computes the same at launch. */
export const textSplitsFor = (textTiles: number, textKeys: number): number =>
  textTiles ? Math.max(1, Math.min(MAX_TEXT_SPLITS, Math.floor(textKeys / (MIN_TILES_PER_SPLIT * BLOCK_K)))) : 1;

/** The launch of a bound spec (sizes taken at launch: the runtime computes it per call). */
export function wgslLaunch(spec: BoundPlan): WgslLaunch {
  const q = queryTiling(spec, BLOCK_Q);
  const textKeys = (spec.textQueries?.grid ? spec.layout.imageTokens : 0) + (spec.textQueries?.text ? spec.layout.textCount : 0);
  const textSplits = textSplitsFor(q.textTiles, textKeys);
  return { ...q, textSplits, workgroups: q.textTiles * textSplits + spec.layout.queryGroups * q.tilesPerGroup };
}

/** Query tiles a full group needs, bound or not. */
export const tilesPerGroup = (spec: WgslSpec): number => (isBound(spec) ? wgslLaunch(spec).tilesPerGroup : tilesPerGroupOf(spec, BLOCK_Q));

/**
 * The variant of a precision, reduction and query staging: tile sizes and workgroup memory.
 * Workgroup memory (f32 whatever the precision of the tensors): the scaled query tile ('tile'
 * only), one K/V chunk buffer of 8 KiB and the probabilities (8 KiB); 32 KiB for head_dim 128
 * with the query tile, 16 KiB without.
 */
export function variantOf(spec: WgslSpec, precision: Precision, reduction: Reduction, qStaging: QStaging = 'tile'): WgslVariant {
  const lanes = reduction === 'sg8' ? 8 : 16;
  const D = spec.headDim, BQ = BLOCK_Q, BK = BLOCK_K;
  const rowsPerThread = (BQ * lanes) / THREADS;
  const q = qStaging === 'tile' ? BQ * D * 4 : 0, kv = 512 * 16, p = BQ * BK * 4;
  const features: string[] = [];
  if (precision === 'f16') features.push('shader-f16');
  if (reduction !== 'shared') features.push('subgroups');
  return {
    id: `${precision}-${reduction}${qStaging === 'global' ? '-q16k' : ''}`,
    precision,
    reduction,
    qStaging,
    lanes,
    blockQ: BQ,
    blockK: BK,
    threads: THREADS,
    rowsPerThread,
    keysPerThread: BK / lanes,
    workgroupStorage: q + kv + p,
    features,
    minSubgroupSize: reduction === 'shared' ? 0 : lanes,
    matrix: null,
  };
}

/**
 * The subgroup-matrix variant: f16 tensors, two passes over the key tiles (row maxima first, then
 * exact probabilities: the O accumulators stay in result matrices, never rescaled). Workgroup
 * memory (rows padded by 16 B against bank conflicts): K tile and V tile (f16, BK x (D + 8)),
 * scores (f32, BQ x (BK + 4), also the output's staging) and probabilities (f16, BQ x (BK + 8)):
 * 24 KiB at head_dim 128, 16 KiB at 64.
 */
export function matrixVariantOf(spec: WgslSpec): WgslVariant {
  const { M, N, K, subgroupSize, blockK: BK } = SUBGROUP_MATRIX;
  const D = spec.headDim, BQ = BLOCK_Q, tpr = THREADS / BQ;
  const subgroups = THREADS / subgroupSize, rowTiles = BQ / M;
  // the partition the template prints: one S tile per subgroup, O column tiles shared evenly, 4 invocations per row
  if (rowTiles * (BK / N) !== subgroups || (D / N) % (subgroups / rowTiles) !== 0 || (subgroups / rowTiles) * N !== BK || BK !== BQ || tpr !== 4 || D % K !== 0 || BK % K !== 0) {
    throw new Error(`subgroup-matrix partition does not fit: BQ ${BQ}, BK ${BK}, D ${D}, ${M}x${N}x${K}, ${subgroups} subgroups`);
  }
  const kv = BK * (D + 8) * 2, s = BQ * (BK + 4) * 4, p = BQ * (BK + 8) * 2;
  return {
    id: `f16-sgmat${M}x${N}x${K}`,
    precision: 'f16',
    reduction: 'sg4',
    qStaging: 'tile',
    lanes: tpr,
    blockQ: BQ,
    blockK: BK,
    threads: THREADS,
    rowsPerThread: 1,
    keysPerThread: BK / tpr,
    workgroupStorage: 2 * kv + s + p,
    features: ['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE],
    minSubgroupSize: subgroupSize,
    matrix: { M, N, K, componentType: SUBGROUP_MATRIX.componentType, resultComponentType: SUBGROUP_MATRIX.resultComponentType, subgroupSize },
  };
}

/** Every variant the backend emits for a spec (the runtime prefers subgroup matrices, then 'tile' staging, where they fit). */
export const allVariants = (spec: WgslSpec): WgslVariant[] =>
  [...Q_STAGINGS.flatMap((s) => PRECISIONS.flatMap((p) => REDUCTIONS.map((r) => variantOf(spec, p, r, s)))), matrixVariantOf(spec)];

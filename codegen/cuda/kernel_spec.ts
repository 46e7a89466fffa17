/**
 * What a CUDA kernel spec is (the pattern's plan, the element type, the tiling, the sm_90a variant):
 * the types alone, so the planners (spec.ts, sm90.ts) can both name them without importing each other.
 */
import type { KernelPlan } from '../../compiler/plan.js';

/** The tile shape and pipeline depth: what `schedule cuda ...` may set. */
export interface Tiling {
  readonly blockQ: number; // query rows per CTA
  readonly blockK: number; // key rows per pipeline stage
  readonly warps: number; // warps per CTA; each owns blockQ / warps query rows (16 or 32)
  readonly stages: number; // cp.async pipeline depth (K and V tiles in flight)
}

/**
 * The sm_90a kernel's variant: each field is a `constexpr` of the emitted kernel and part of its
 * name (when it differs from the default), so nothing but the chosen code is compiled in. The
 * defaults are the measured best (bench/NOTES.md); bench/ passes other variants for A/B runs.
 */
export interface Sm90Variant {
  /** The two consumer warpgroups take turns issuing wgmma (named barriers), as FlashAttention-3 does. */
  readonly pingpong: boolean;
  /**
   * A never-taken branch ends the basic block after the softmax: ptxas otherwise hoists the wait
   * for P·V above it and the softmax no longer overlaps that product (H200: up to 5 %, "sm90a v4").
   */
  readonly splitSoftmax: boolean;
  /** FA4's lazy rescaling: most key tiles skip the O rescale (H200: 2-4 % on Flux GRAT-X). */
  readonly lazyRescale: boolean;
  /** The row max only on a work tile's first key tile; later tiles checked after their exp2 (H200: 4-7 % on GRAT-X, "sm90a v6"). */
  readonly maxFree: boolean;
  /** Terms with a run axis (plan.runAxes) walked as runs of whole image rows (raster Flux 8192² GRAT-X: -4.8 %). */
  readonly runs: boolean;
  /**
   * Group rows per band of the image tiles' work order (the CTAs in flight share key rows and
   * columns in L2); 1: row by row. H200 A/B of 8 against 4: 0.3-1.7 % faster grouped, -1.5 to +0.7 % raster.
   */
  readonly blockRows: number;
  /**
   * Ragged raster groups (edge groups of a grid its groups do not divide) loaded by TMA boxes of
   * the full group's shape, past the grid zero-filled and masked by the box's layout, where the
   * boxes are as many as the packed key tiles (sm90.ts edgeBoxShapes); off: gathered by cp.async (issue 19).
   * Off by default until a GPU A/B and check run (bench/NOTES.md, issue 19): CPU-verified only.
   */
  readonly edgeBoxes: boolean;
  /** A work tile of at most 64 query rows runs consumer warpgroup 0's products only; warpgroup 1 follows the stages (issue 19). */
  readonly halfTiles: boolean;
}

export const DEFAULT_SM90_VARIANT: Sm90Variant = { pingpong: true, splitSoftmax: true, lazyRescale: true, maxFree: true, runs: true, blockRows: 8, edgeBoxes: false, halfTiles: false };

/**
 * The tensor-core precision of the sm_90a kernel's products (issue 20): absent, the inputs' 16-bit
 * type; 'int8': a fused pre-pass quantizes q, k, v (codegen/cuda/int8_numerics.ts) and the products
 * are s8 Q·Kᵀ and u8 P × s8 V (twice the bf16 rate on Hopper). e4m3 is not offered: with P and V in
 * 3 mantissa bits O misses the 3 % relative-L1 bar (int8_numerics.ts). Part of the kernel's name only when set.
 */
export type Precision = 'int8';

/** The pattern's plan plus what the CUDA kernels add. */
export interface KernelSpec extends KernelPlan {
  /** Element type the pattern declares; the library takes bf16 and fp16 either way. */
  readonly dtype: 'bf16' | 'fp16';
  /** (opt-in) The sm_90a kernel's 8-bit products; absent: 16-bit (see Precision). */
  readonly precision?: Precision;
  readonly tiling: Tiling;
  readonly sm90: Sm90Variant;
}

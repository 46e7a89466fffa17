/**
 * The sm_80 backward kernels' decisions (templates/backward.cu.hbs, in the same library as the
 * sm_80 forward): their tiling and the two walks they print, the forward cursor (dq_kernel: a query
 * tile's key tiles) and the transposed one (dkdv_kernel: a key tile's query tiles), both from the
 * spec. The tiling follows from head_dim (no schedule hint sets it); a change of this rule changes
 * the emitted text, so it bumps the backend's GENERATOR.
 */
import { groupExtents } from '../../compiler/plan.js';
import { CUDA, printCursor } from '../cursor.js';
import { printTransposedCursor } from '../cursor_transposed.js';
import type { KernelSpec } from './spec.js';

export interface BackwardTiling {
  /** Warps per CTA of both kernels; a warp owns 16 query rows (dq_kernel) or 16 key rows (dkdv_kernel). */
  readonly warps: number;
  /** dq_kernel: key rows per key tile. */
  readonly blockK: number;
  /** dkdv_kernel: query rows per query tile. */
  readonly blockQV: number;
}

/** 4 warps, 64-row tiles: two CTAs of 96 KB shared memory per H100 multiprocessor at head_dim 128 (ptxas: no spills, test/cuda.nvcc_backward.test.ts). */
export const backwardTiling = (headDim: number): BackwardTiling => ({ warps: 4, blockK: 64, blockQV: headDim === 128 ? 32 : 64 });

/** The backward template's values: its tiling, its tiles per query and key group, and the two walks printed for it. */
export function backwardContext(spec: KernelSpec): {
  bwdWarps: number; bwdBlockK: number; bwdBlockQV: number; bwdTilesPerGroupQ: number; bwdTilesPerGroupK: number; bwdCursor: string; transposedCursor: string;
} {
  const t = backwardTiling(spec.headDim), rows = t.warps * 16;
  const groupTokens = groupExtents(spec).reduce((n, e) => n * e, 1);
  return {
    bwdWarps: t.warps,
    bwdBlockK: t.blockK,
    bwdBlockQV: t.blockQV,
    bwdTilesPerGroupQ: Math.ceil(groupTokens / rows),
    bwdTilesPerGroupK: Math.ceil(groupTokens / rows),
    bwdCursor: printCursor(spec, CUDA, { blockK: t.blockK, runs: false }),
    transposedCursor: printTransposedCursor(spec, CUDA, { blockQ: t.blockQV }),
  };
}

/** The sm_90a backward (templates/backward_sm90.cu.hbs): one warpgroup of 64 rows per CTA (the sm_80 tiling's 4 warps) and 64-row tiles on the other side (wgmma n64). */
export const SM90_BACKWARD_BLOCK = 64;

/** The sm_90a backward template's own values (the rest is backwardContext's): its tile, its transposed walk over 64-row query tiles, its wgmma wrappers. */
export function backwardSm90Context(spec: KernelSpec, wgmma: (ns: readonly number[]) => string): { bwd90Block: number; bwd90TransposedCursor: string; bwdWgmma: string } {
  if (backwardTiling(spec.headDim).warps * 16 !== 64) throw new Error('cuda backend: the sm_90a backward takes the sm_80 tiling\'s 64-row CTAs');
  return {
    bwd90Block: SM90_BACKWARD_BLOCK,
    bwd90TransposedCursor: printTransposedCursor(spec, CUDA, { blockQ: SM90_BACKWARD_BLOCK }),
    bwdWgmma: wgmma([SM90_BACKWARD_BLOCK, spec.headDim]),
  };
}

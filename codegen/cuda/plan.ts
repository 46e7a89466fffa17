/**
 * The CUDA backend's plan of one kernel spec: everything it decides once (the kernel's name, the
 * plan at its sizes, both kernels' tiling), read by the kernel emitter (index.ts) and the Python
 * package emitter (python.ts).
 */
import { fixedPlan, groupExtents, queryTiling, type BoundPlan, type QueryTiling } from '../../compiler/plan.js';
import { ident } from '../kernel.js';
import { kernelName, type KernelSpec } from './spec.js';
import { planSm90, type Sm90Plan } from './sm90.js';

/** Everything the CUDA backend decides for one pattern, once: the spec and both kernels' plans. */
export interface CudaPlan {
  readonly spec: KernelSpec;
  readonly kernel: string; // the sm_80 kernel's name; the sm_90a one adds `_sm90a`
  /** The spec at its sizes; null where some size is taken at launch. */
  readonly bound: BoundPlan | null;
  /** The sm_80 kernel's query tiles (tiling.blockQ rows; null: taken at launch), shared memory and threads. */
  readonly sm80: { readonly tiles: QueryTiling | null; readonly tilesPerGroup: number; readonly smemBytes: number; readonly threads: number };
  readonly sm90: Sm90Plan;
}

export function cudaPlan(spec: KernelSpec): CudaPlan {
  const { blockQ, blockK, stages, warps } = spec.tiling;
  const bound = fixedPlan(spec);
  const tiles = bound ? queryTiling(bound, blockQ) : null;
  return {
    spec,
    kernel: ident(kernelName(spec)),
    bound,
    sm80: { tiles, tilesPerGroup: tiles?.tilesPerGroup ?? Math.ceil(groupExtents(spec).reduce((n, e) => n * e, 1) / blockQ), smemBytes: (blockQ + 2 * stages * blockK) * spec.headDim * 2, threads: warps * 32 },
    sm90: planSm90(spec),
  };
}


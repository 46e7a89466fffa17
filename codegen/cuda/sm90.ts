/**
 * The sm_90a (Hopper) path of the CUDA backend: planning and the printed wgmma wrappers.
 *
 * The sm_90a kernel (templates/kernel_sm90.cu.hbs) is built beside the sm_80 one from the same
 * KernelSpec and the same cursor (codegen/cursor.ts): the loader picks it when the device reports
 * compute capability 9.0 (H100/H200), and keeps the sm_80 kernel for every other card.
 * Its tiling is fixed (the `schedule cuda` hints tune the sm_80 kernel only):
 *   3 warpgroups: one producer (TMA boxes or cp.async into 128-byte-swizzled smem, mbarriers), two
 *   consumers of 64 query rows each (wgmma m64nNk16: S = Q·Kᵀ from smem, O += P·V with P in
 *   registers), ping-ponging so one warpgroup's softmax overlaps the other's matrix products.
 * Its schedule is persistent: about one CTA per SM (grid =
 * min(#SMs, tiles × heads) per batch launch), each looping over (tile, head) work items taken from
 * a global atomic counter that the host zeroes before each launch, longest first (every head's text
 * tiles, which see the whole grid, before the image query-group tiles). The producer hands each
 * tile to the consumers through two shared-memory slots with "tile full"/"tile free" mbarriers and
 * starts the next tile's K/V stages while the consumers finish the previous one; each consumer
 * copies its own 64 Q rows, so neither waits for the other's epilogue. K/V barrier phases run on
 * across tiles. The persistent producer gets 8 more registers than `producerRegs` (its tile loop),
 * which 72/216 (box terms) and 80/208 (predicate terms) still fit in the 384 × 168 of the launch.
 * Its variant (spec.sm90: turn-taking, the softmax's block boundary, lazy rescaling, the max-free
 * softmax, whole-row runs, the work order's bands) is printed as constexpr: part of the spec, so of
 * the kernel's name when it is not the default.
 * Whatever this file rejects falls back to the sm_80 kernel (reason in `Sm90Plan.reason`).
 */
import { fixedPlan, groupExtents, queryTiling, tilesPerGroupOf, type QueryTiling } from '../../compiler/plan.js';
import type { KernelSpec } from './spec.js';

export interface Sm90Plan {
  readonly supported: boolean;
  /** Why the sm_80 kernel is used on Hopper too (null when supported). */
  readonly reason: string | null;
  readonly blockQ: number; // 2 consumer warpgroups × 64 rows
  readonly blockK: number; // keys per stage (wgmma N of S = Q·Kᵀ)
  readonly stages: number;
  readonly threads: number;
  /** setmaxnreg split (128 x producer + 256 x consumer <= 384 x 168, what the launch holds). */
  readonly producerRegs: number;
  readonly consumerRegs: number;
  readonly smemBytes: number;
  /** Query tiles of 128 rows (per group, of the text, per head in all); null where sizes are taken at launch. */
  readonly tiles: QueryTiling | null;
  /** Query tiles of a full group (a run-time axis: of a full-size group). */
  readonly tilesPerGroup: number;
  /** Raster order: full tiles of full-size groups are TMA boxes (w, h, t) of the image tensor. */
  readonly rasterBox: { readonly w: number; readonly h: number; readonly t: number } | null;
  /** Query groups along the last axis (a row of the group grid, for the blocked work order); null: taken at launch. */
  readonly groupsLast: number | null;
}

/**
 * The TMA box of BK keys of a raster group, or null (cp.async gathers instead): the last axis is
 * w, then h, then t; a tile is BK/w rows of one plane, or BK/(w·h) whole planes.
 */
function rasterBox(spec: KernelSpec, blockK: number): { w: number; h: number; t: number } | null {
  const n = spec.dims.length;
  if (spec.order !== 'raster' || (n !== 2 && n !== 3)) return null;
  const ext = groupExtents(spec);
  const gw = ext[n - 1], gh = ext[n - 2];
  if (gw > 256) return null;
  if (blockK <= gw * gh) {
    if (blockK % gw !== 0 || (gw * gh) % blockK !== 0) return null;
    return { w: gw, h: blockK / gw, t: 1 };
  }
  if (n !== 3 || blockK % (gw * gh) !== 0 || gh > 256) return null;
  return { w: gw, h: gh, t: blockK / (gw * gh) };
}

/** Max dynamic shared memory per block on sm_90 (227 KB). */
const SMEM_LIMIT = 232448;

export function planSm90(spec: KernelSpec): Sm90Plan {
  const d = spec.headDim;
  const blockQ = 128, blockK = 128;
  const stages = d === 128 ? 3 : 4;
  const bound = fixedPlan(spec);
  const tiles = bound ? queryTiling(bound, blockQ) : null;
  // 1024-byte alignment slack + barriers, row counts and the persistent schedule's two tile slots
  // (320 bytes: 224 at most today, head_dim 64's four stages and a 3-D group; a static_assert checks)
  const smemBytes = (blockQ + 2 * stages * blockK) * d * 2 + 1024 + 320;
  let reason: string | null = null;
  if (d !== 64 && d !== 128) reason = `head_dim ${d} (the sm_90a kernel is written for 64 and 128)`;
  else if (smemBytes > SMEM_LIMIT) reason = `needs ${smemBytes} bytes of shared memory`;
  return {
    supported: reason === null, reason, blockQ, blockK, stages, threads: 384, smemBytes,
    // predicate terms make the producer's cursor larger (72 registers, e.g. video_causal_anchor),
    // and so do the 5-D TMA coordinates of 3-D raster groups (64 spilled 4-8 bytes there); box
    // terms otherwise fit in 64, which leaves the consumers 216 (the configuration measured most)
    ...(spec.terms.some((t) => t.kind === 'predicate') || (spec.order === 'raster' && spec.dims.length >= 3)
      ? { producerRegs: 72, consumerRegs: 208 } : { producerRegs: 64, consumerRegs: 216 }),
    tiles,
    tilesPerGroup: tilesPerGroupOf(spec, blockQ),
    rasterBox: rasterBox(spec, blockK),
    groupsLast: bound ? bound.layout.groupsLast : null,
  };
}

/** `{%a, %a+1, ..., %b}` */
const regs = (from: number, count: number): string => `{${Array.from({ length: count }, (_, i) => `%${from + i}`).join(', ')}}`;

/**
 * wgmma wrappers for the N values the kernel uses, both element types:
 *   wgmma_ss<N, T>(acc, descA, descB, scale_d)   A and B from smem, both K-major
 *   wgmma_rs<N, T>(acc, a[4], descB)             A from registers, B from smem MN-major (trans-b)
 */
export function wgmmaWrappersC(ns: readonly number[]): string {
  const out: string[] = [];
  out.push('template <int N, typename T> struct Wgmma;');
  for (const n of [...new Set(ns)].sort((a, b) => a - b)) {
    const m = n / 2; // f32 accumulators per thread
    const accOut = Array.from({ length: m }, (_, i) => `"+f"(d[${i}])`).join(', ');
    for (const [ctype, ptx] of [['__nv_bfloat16', 'bf16'], ['__half', 'f16']] as const) {
      out.push(`template <> struct Wgmma<${n}, ${ctype}> {
  static __device__ __forceinline__ void ss(float (&d)[${m}], uint64_t a, uint64_t b, int scale_d) {
    asm volatile("{\\n.reg .pred p;\\nsetp.ne.b32 p, %${m + 2}, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n${n}k16.f32.${ptx}.${ptx} ${regs(0, m)}, %${m}, %${m + 1}, p, 1, 1, 0, 0;\\n}\\n"
                 : ${accOut}
                 : "l"(a), "l"(b), "r"(scale_d));
  }
  static __device__ __forceinline__ void rs(float (&d)[${m}], const uint32_t (&a)[4], uint64_t b) {
    asm volatile("{\\n.reg .pred p;\\nsetp.ne.b32 p, %${m + 5}, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n${n}k16.f32.${ptx}.${ptx} ${regs(0, m)}, ${regs(m, 4)}, %${m + 4}, p, 1, 1, 1;\\n}\\n"
                 : ${accOut}
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
  }
};`);
    }
  }
  return out.join('\n');
}

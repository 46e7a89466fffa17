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
 * the kernel's name when it is not the default; edge boxes and half tiles (issue 19) print code only
 * where the plan has them (edgeBoxShapes, hasHalfTiles), so other kernels' text stays as it was.
 * Whatever this file rejects falls back to the sm_80 kernel (reason in `Sm90Plan.reason`).
 */
import { fixedPlan, groupExtents, queryTiling, sizeMax, tilesPerGroupOf, type BoundPlan, type QueryTiling } from '../../compiler/plan.js';
import type { Seg } from '../../compiler/cursor.js';
import type { KernelSpec } from './kernel_spec.js';

/** The raster TMA box: w tokens a row, h rows, t planes (w·h·t = BK). */
export interface RasterBox { readonly w: number; readonly h: number; readonly t: number }

/** A raster group's shape in tokens: lw a row, lh rows a plane, lt planes (2-D: lt = 1). */
export interface GroupShape { readonly lw: number; readonly lh: number; readonly lt: number }

/** An edge-box shape: a group shape and which box loads it (the raster box, or the alternate box: Sm90Plan.altBox). */
export interface EdgeShape extends GroupShape { readonly alt: boolean }

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
  readonly rasterBox: RasterBox | null;
  /**
   * (variant edgeBoxes) The group shapes other than a full group's whose key tiles are raster
   * boxes too, box i for key tile i (edgeBoxShapes); 'launch': the grid is taken at launch, the
   * kernel applies the same rule (edgeRule) to each group; null: none (the variant is off, no raster
   * box, or no shape qualifies).
   */
  readonly edgeBoxes: readonly EdgeShape[] | 'launch' | null;
  /**
   * The alternate box (narrower than the raster box) of the edge shapes the raster box cannot load in
   * as many boxes as packed tiles (e.g. Flux's 5 x 16 column groups: 8 x 16, one box); null: none.
   * The kernel gets a second pair of image tensor maps with this box.
   */
  readonly altBox: RasterBox | null;
  /** (variant halfTiles) Some work tile may have at most 64 query rows: such a tile runs consumer warpgroup 0 alone. */
  readonly halfTiles: boolean;
  /** Query groups along the last axis (a row of the group grid, for the blocked work order); null: taken at launch. */
  readonly groupsLast: number | null;
  /** (spec.precision 'int8', issue 20) The 8-bit path: Q, K and V-transposed stages of bytes, a key-bias array a stage. */
  readonly int8: boolean;
}

/**
 * The TMA box of BK keys of a raster group, or null (cp.async gathers instead): the last axis is
 * w, then h, then t; a tile is BK/w rows of one plane, or BK/(w·h) whole planes.
 */
function rasterBox(spec: KernelSpec, blockK: number): RasterBox | null {
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

/**
 * Boxes of a box's shape that hold a group of shape g (box i: planes i·t.. when t > 1, else row
 * block i % rowBlocks of plane i / rowBlocks); Infinity where one box cannot hold a row or (t > 1) a plane.
 */
export const boxCount = (box: RasterBox, g: GroupShape): number => {
  if (g.lw > box.w || (box.t > 1 && g.lh > box.h)) return Infinity;
  return box.t > 1 ? Math.ceil(g.lt / box.t) : g.lt * Math.ceil(g.lh / box.h);
};

/**
 * The group shapes whose key tiles the kernel loads as raster boxes of the full group's shape
 * (issue 19's "edge boxes"): every shape a group of the fixed grid has (each axis full or its
 * ragged edge) whose boxes are exactly as many as its packed key tiles, ceil(tokens / BK), so the
 * cursor's walk (key tile i at offset i·BK) is unchanged and key tile i is box i. The box reads
 * the grid from the group's origin: its rows outside the group lie past the grid (a group is ragged
 * only at the grid's end; TMA zero-fills them) or, where the box's planes do not divide the group's,
 * in the next group's first planes (image keys, finite); the consumers mask both by the box's layout.
 * Shapes whose tiles are all full boxes already (full rows and planes, whole tiles) are left out.
 * Shapes the raster box cannot load tile for tile (Flux 48x85's 5 x 16 columns: two 16 x 8 boxes for
 * one tile) may take the alternate box, a narrower one chosen here (8 x 16: one box), loaded through a
 * second pair of tensor maps (withAlt; the spec's half tiles turn it off). 'launch' where a grid size
 * is taken at launch: the kernel applies edgeRule (the raster box) to each group.
 */
export function edgeBoxShapes(spec: KernelSpec, box: RasterBox | null, blockK: number, withAlt = true): { shapes: EdgeShape[]; alt: RasterBox | null } | 'launch' {
  const D = spec.dims.length, ext = groupExtents(spec);
  if (!box || (D !== 2 && D !== 3)) return { shapes: [], alt: null };
  if (spec.dims.some((d) => d.size.kind === 'runtime')) return 'launch';
  // per axis: the full group's extent and, where the grid is ragged, the last group's
  const extents = spec.dims.map((d, a) => {
    const size = sizeMax(d.size), edge = size - (Math.ceil(size / d.group) - 1) * d.group;
    return edge === ext[a] ? [ext[a]] : [ext[a], edge];
  });
  const gw = ext[D - 1], gh = ext[D - 2];
  const main: EdgeShape[] = [], rest: GroupShape[] = [];
  for (const lt of D === 3 ? extents[0] : [1]) for (const lh of extents[D - 2]) for (const lw of extents[D - 1]) {
    const g = { lw, lh, lt };
    if (edgeRule(box, gw, gh, blockK, g)) main.push({ ...g, alt: false });
    else if (!allFull(gw, gh, blockK, g)) rest.push(g);
  }
  // the alternate box (not with half tiles: with both, the consumers' second mask path spilled 16-80
  // bytes, nvcc 13): narrower than the raster box, w·h·t = BK (t = 1 in 2-D), taking the most of the
  // rest (ties: the widest); every box side <= 256 (TMA)
  let alt: RasterBox | null = null, best = 0;
  for (let w = withAlt ? box.w >> 1 : 0; w >= 1; w >>= 1) {
    if (blockK % w !== 0) continue;
    for (let t = 1; t <= (D === 3 ? blockK / w : 1); t *= 2) {
      const h = blockK / (w * t);
      if (!Number.isInteger(h) || h > 256 || t > 256) continue;
      const cand = { w, h, t }, n = rest.filter((g) => edgeRule(cand, gw, gh, blockK, g)).length;
      if (n > best) { best = n; alt = cand; }
    }
  }
  const altShapes = alt ? rest.filter((g) => edgeRule(alt!, gw, gh, blockK, g)).map((g) => ({ ...g, alt: true })) : [];
  return { shapes: [...main, ...altShapes], alt };
}

/** Every key tile of a group of shape g is a full box of the raster box already (whole rows and planes of a full group, whole tiles). */
const allFull = (gw: number, gh: number, blockK: number, g: GroupShape): boolean => g.lw === gw && g.lh === gh && (g.lw * g.lh * g.lt) % blockK === 0;

/**
 * The edge-box rule for a raster group of shape g (groups of gw x gh tokens a plane at most; a run-time
 * axis: the group): its boxes are as many as its packed key tiles, and not every tile is a full box
 * already. edgeBoxShapes applies it to the shapes of a fixed grid; a kernel whose grid is taken at
 * launch applies it to each group (the printed edge_boxed).
 */
export function edgeRule(box: RasterBox, gw: number, gh: number, blockK: number, g: GroupShape): boolean {
  if (g.lw > gw || g.lh > gh || allFull(gw, gh, blockK, g)) return false;
  return boxCount(box, g) === Math.ceil((g.lw * g.lh * g.lt) / blockK);
}

/** The edge-box shape of a key segment (a raster group: not contiguous), or null. Fixed grids only. */
export function edgeShapeOf(shapes: readonly EdgeShape[] | 'launch' | null, s: Seg): EdgeShape | null {
  if (shapes === 'launch') throw new Error('edge boxes of a grid taken at launch: bind the sizes first');
  if (shapes === null || s.contiguous) return null;
  return shapes.find((g) => s.lw === g.lw && s.lh === g.lh && s.len === g.lw * g.lh * g.lt) ?? null;
}
export const isEdgeBoxed = (shapes: readonly EdgeShape[] | 'launch' | null, s: Seg): boolean => edgeShapeOf(shapes, s) !== null;

/**
 * Key tile `off / BK` of an edge-boxed group s, box i: its first plane (dt) and row (dy) inside
 * the group, and the group's tokens it holds (lw of each box row, lh of its rows, lt of its planes;
 * box row r = (tt·box.h + yy)·box.w + xx holds a key iff xx < lw, yy < lh, tt < lt).
 */
export function edgeBoxTile(box: RasterBox, s: Seg, off: number, blockK: number): { dt: number; dy: number } & GroupShape {
  const i = Math.floor(off / blockK), lt = s.len / (s.lw * s.lh);
  if (box.t > 1) return { dt: i * box.t, dy: 0, lw: s.lw, lh: s.lh, lt: Math.min(box.t, lt - i * box.t) };
  const blocks = Math.ceil(s.lh / box.h), dt = Math.floor(i / blocks), dy = (i - dt * blocks) * box.h;
  return { dt, dy, lw: s.lw, lh: Math.min(box.h, s.lh - dy), lt: 1 };
}

/** The sequence index of row r of an edge box (edgeBoxTile) of group s, or -1 for a row outside the group (zero-filled or masked). */
export function edgeBoxToken(plan: BoundPlan, box: RasterBox, s: Seg, b: { dt: number; dy: number } & GroupShape, r: number): number {
  const xx = r % box.w, yy = Math.floor(r / box.w) % box.h, tt = Math.floor(r / (box.w * box.h));
  if (xx >= b.lw || yy >= b.lh || tt >= b.lt) return -1;
  const D = plan.dims.length, W = plan.dims[D - 1].size, H = plan.dims[D - 2].size;
  return s.base + ((b.dt + tt) * H + b.dy + yy) * W + xx;
}

/** Whether some work tile of the spec may have at most 64 query rows (a group's or the text's last tile); true where sizes are taken at launch. */
function hasHalfTiles(spec: KernelSpec, blockQ: number): boolean {
  const bound = fixedPlan(spec);
  if (!bound) return true;
  const half = (rows: number): boolean => rows % blockQ > 0 && rows % blockQ <= blockQ / 2;
  if (bound.textQueries && half(bound.layout.textCount)) return true;
  // every group shape: each axis full or its ragged edge
  let lens = [1];
  for (const d of bound.dims) {
    const full = Math.min(d.group, d.size), edge = d.size - (d.groups - 1) * d.group;
    lens = lens.flatMap((n) => (edge === full ? [n * full] : [n * full, n * edge]));
  }
  return lens.some(half);
}

/** Max dynamic shared memory per block on sm_90 (227 KB). */
const SMEM_LIMIT = 232448;

export function planSm90(spec: KernelSpec): Sm90Plan {
  const d = spec.headDim;
  const blockQ = 128, blockK = 128;
  const int8 = spec.precision === 'int8';
  // int8: stages of half the bytes (K rows and V columns of 1 byte, plus BK fp32 key biases): one more;
  // sQ keeps the 16-bit size (each warpgroup's Q8 rows in its half, where its epilogue writes T rows)
  const stages = int8 ? 4 : d === 128 ? 3 : 4;
  const bound = fixedPlan(spec);
  const tiles = bound ? queryTiling(bound, blockQ) : null;
  // 1024-byte alignment slack + barriers, row counts and the persistent schedule's two tile slots
  // (320 bytes: 224 at most today, head_dim 64's four stages and a 3-D group; a static_assert checks)
  const smemBytes = int8 ? blockQ * d * 2 + stages * (2 * blockK * d + 4 * blockK) + 1024 + 320 : (blockQ + 2 * stages * blockK) * d * 2 + 1024 + 320;
  let reason: string | null = null;
  if (d !== 64 && d !== 128) reason = `head_dim ${d} (the sm_90a kernel is written for 64 and 128)`;
  else if (smemBytes > SMEM_LIMIT) reason = `needs ${smemBytes} bytes of shared memory`;
  else if (int8 && (d !== 128 || spec.sm90.edgeBoxes || spec.sm90.halfTiles)) reason = 'precision int8 is written for head_dim 128 without edge boxes or half tiles';
  const box = rasterBox(spec, blockK);
  const edges = spec.sm90.edgeBoxes ? edgeBoxShapes(spec, box, blockK, !spec.sm90.halfTiles) : { shapes: [], alt: null };
  return {
    supported: reason === null, reason, blockQ, blockK, stages, threads: 384, smemBytes,
    // predicate terms make the producer's cursor larger (72 registers, e.g. video_causal_anchor),
    // and so do the 5-D TMA coordinates of 3-D raster groups (64 spilled 4-8 bytes there); box
    // terms otherwise fit in 64, which leaves the consumers 216 (the configuration measured most)
    ...(spec.terms.some((t) => t.kind === 'predicate') || (spec.order === 'raster' && spec.dims.length >= 3)
      ? { producerRegs: 72, consumerRegs: 208 } : { producerRegs: 64, consumerRegs: 216 }),
    tiles,
    tilesPerGroup: tilesPerGroupOf(spec, blockQ),
    rasterBox: box,
    edgeBoxes: edges === 'launch' ? 'launch' : edges.shapes.length > 0 ? edges.shapes : null,
    altBox: edges === 'launch' ? null : edges.alt,
    halfTiles: spec.sm90.halfTiles && hasHalfTiles(spec, blockQ),
    groupsLast: bound ? bound.layout.groupsLast : null,
    int8,
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

/**
 * The int8 precision's wgmma wrappers (issue 20; both operands K-major, integer wgmma has no transpose):
 *   Wgmma8<N>::ss(acc, descA, descB, scale_d)   s32 += s8 · s8, A and B from smem (S = Q8·K8ᵀ)
 *   Wgmma8<N>::rs(acc, a[4], descB)             s32 += u8 · s8, A from registers (O += P8·V8ᵀᵀ: V stored [d, keys])
 */
export function wgmmaInt8WrappersC(ns: readonly number[]): string {
  const out: string[] = ['template <int N> struct Wgmma8;'];
  for (const n of [...new Set(ns)].sort((a, b) => a - b)) {
    const m = n / 2; // s32 accumulators per thread
    const accOut = Array.from({ length: m }, (_, i) => `"+r"(d[${i}])`).join(', ');
    out.push(`template <> struct Wgmma8<${n}> {
  static __device__ __forceinline__ void ss(int (&d)[${m}], uint64_t a, uint64_t b, int scale_d) {
    asm volatile("{\\n.reg .pred p;\\nsetp.ne.b32 p, %${m + 2}, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n${n}k32.s32.s8.s8 ${regs(0, m)}, %${m}, %${m + 1}, p;\\n}\\n"
                 : ${accOut}
                 : "l"(a), "l"(b), "r"(scale_d));
  }
  static __device__ __forceinline__ void rs(int (&d)[${m}], const uint32_t (&a)[4], uint64_t b) {
    asm volatile("{\\n.reg .pred p;\\nsetp.ne.b32 p, %${m + 5}, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n${n}k32.s32.u8.s8 ${regs(0, m)}, ${regs(m, 4)}, %${m + 4}, p;\\n}\\n"
                 : ${accOut}
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
  }
};`);
  }
  return out.join('\n');
}

/**
 * The kernel's edge-box helpers (C, after the cursor; empty without edge boxes): the shapes of
 * edgeBoxShapes as a constant test (1: the raster box, 2: the alternate box), box i of such a group
 * (edgeBoxTile) and the consumers' test of a key column by the box's layout. A stage's row count
 * (tile_rows) of an edge box that is not all keys is EDGE_TILE | EDGE_ALT (the alternate box) | lw |
 * lh << 9 | lt << 18 (every extent <= 256: the boxes' limits).
 */
export function edgeBoxesC(p: Sm90Plan): string {
  const shapes = p.edgeBoxes, box = p.rasterBox;
  if (!shapes || !box) return '';
  const alt = p.altBox ?? box;
  const list = (xs: readonly EdgeShape[]): string => xs.map((g) => `(s.lw == ${g.lw} && s.lh == ${g.lh} && s.len == ${g.lw * g.lh * g.lt})`).join('\n      || ');
  // a fixed grid: its shapes as constant tests; a grid taken at launch: edgeRule (the raster box) on each group
  const test = shapes === 'launch'
    ? ['  if (s.contiguous || s.lw > GROUP_W || s.lh > GROUP_H || (s.lw == GROUP_W && s.lh == GROUP_H && s.len % BK == 0)) { return 0; }',
      '  const int lt = s.len / (s.lw * s.lh);',
      '  return (BOX_T > 1 ? (lt + BOX_T - 1) / BOX_T : lt * ((s.lh + BOX_H - 1) / BOX_H)) == (s.len + BK - 1) / BK ? 1 : 0;']
    : ['  if (s.contiguous) { return 0; }',
      ...[false, true].flatMap((a) => {
        const xs = shapes.filter((g) => g.alt === a);
        return xs.length ? [`  if (${list(xs)}) { return ${a ? 2 : 1}; }`] : [];
      }),
      '  return 0;'];
  return [
    '// ---- edge boxes (codegen/cuda/sm90.ts edgeBoxShapes, the spec\'s sm90.edgeBoxes): groups of these ragged',
    '// shapes are loaded by TMA boxes of the full group\'s shape (or of the alternate box), key tile i = box i',
    '// (as many boxes as packed tiles); TMA zero-fills what lies past the grid and the consumers mask by the',
    '// box\'s layout ----',
    `constexpr int ALT_W = ${alt.w}, ALT_H = ${alt.h}, ALT_T = ${alt.t};  // the alternate box${p.altBox ? '' : ' (none: the raster box)'}`,
    'constexpr int EDGE_TILE = 1 << 30;  // a stage\'s row count with this bit: an edge box, its keys (lw, lh, lt) in 9-bit fields',
    'constexpr int EDGE_ALT = 1 << 29;   // ... of the alternate box',
    shapes === 'launch' ? '/** 1: a raster group whose boxes are as many as its packed key tiles (sm90.ts edgeRule; the grid is taken at launch); else 0. */'
      : '/** 1: a raster group of one of the raster box\'s edge shapes, 2: of the alternate box\'s; else 0. */',
    '__device__ __forceinline__ int edge_boxed(const Seg& s) {',
    ...test,
    '}',
    '/** Key tile off / BK of an edge-boxed group: box i\'s first plane (dt) and row (dy) in the group; returns the',
    ' *  stage\'s row count (BK: every row of the box is a key of the group). */',
    '__device__ __forceinline__ int edge_box(const Seg& s, int off, bool alt, int& dt, int& dy) {',
    '  const int i = off / BK;',
    '  const int bw = alt ? ALT_W : BOX_W, bh = alt ? ALT_H : BOX_H, bt = alt ? ALT_T : BOX_T;',
    '  int lh, lt;',
    '  if (bt > 1) { dt = i * bt; dy = 0; lh = s.lh; lt = min(bt, s.len / (s.lw * s.lh) - dt); }',
    '  else { const int blocks = (s.lh + bh - 1) / bh; dt = i / blocks; dy = (i - dt * blocks) * bh; lh = min(bh, s.lh - dy); lt = 1; }',
    '  return s.lw == bw && lh == bh && lt == bt ? BK : (EDGE_TILE | (alt ? EDGE_ALT : 0) | s.lw | lh << 9 | lt << 18);',
    '}',
    '/** Key column col (box row col) of a stage whose row count n is an edge box of a BW x BH (x planes) box holds a key of the group. */',
    'template <int BW, int BH>',
    '__device__ __forceinline__ bool edge_col(int n, int col) {',
    '  return col % BW < (n & 511) && (col / BW) % BH < ((n >> 9) & 511) && col / (BW * BH) < ((n >> 18) & 511);',
    '}',
  ].join('\n');
}

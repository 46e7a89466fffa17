/**
 * An INDEPENDENT computation of the official GRAT masks, token by token, the way the official
 * FlexAttention mask_mod does (github OliverRensu/GRAT, cross_processor.py, `local_mask`):
 *
 *   text  = kv is not padded text                     (padded text keys: nobody sees them)
 *   text2 = q is text  OR  kv is valid text           (text rows see every valid key)
 *   image = q is image AND group relation(q, kv)      (GRAT-B / GRAT-X on group coordinates)
 *   mask  = (image | text2) & text
 *
 * It shares NO code with compiler/keys.ts or compiler/reference.ts: token → grid position →
 * group coordinate is done here with its own arithmetic (grouped order by plain enumeration
 * of groups, plus the official `q_idx // cell_size` formula for divisible grids), and the
 * relation is tested pair by pair. Only `irFromSpec` (kept apart, at the end) touches the IR
 * types, to hand the same pattern to the compiler.
 */
import type { AxisRange, BoxTerm, PatternIR } from '../../compiler/ir.js';

export type Relation =
  /** GRAT-B: |k_i - q_i| <= radius_i (one radius for every dim, or one per dim). */
  | { readonly kind: 'B'; readonly radius: readonly number[]; readonly border?: 'clip' | 'shift' }
  | { readonly kind: 'X' } // planes: share ANY group coordinate (official video code; rows + columns in 2-D)
  | { readonly kind: 'Xlines' } // share all coordinates but one
  /** Any relation on group coordinates (query, key, group counts), for non-GRAT tests. */
  | { readonly kind: 'fn'; readonly f: (q: readonly number[], k: readonly number[], n: readonly number[]) => boolean };

export interface OfficialSpec {
  readonly grid: readonly number[]; // token sizes, outermost first
  readonly group: readonly number[];
  readonly order: 'raster' | 'grouped';
  readonly relation: Relation;
  readonly text: { readonly count: number; readonly place: 'before' | 'after' } | null;
  /** Valid text length (default: count). */
  readonly valid?: number;
  /** Non-official variants, for IRs that differ from GRAT (defaults: the official behaviour). */
  readonly imageSeesText?: boolean;
  readonly textSees?: { readonly grid: boolean; readonly text: boolean };
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/**
 * For each image token (offset within the grid segment, memory order), its grid position.
 * raster: row-major div/mod. grouped: enumerate groups in row-major order of group
 * coordinates, and inside each group its positions in row-major order (edge groups smaller).
 */
export function imagePositions(spec: OfficialSpec): number[][] {
  const { grid, group } = spec;
  const D = grid.length, M = prod(grid);
  const out: number[][] = [];
  if (spec.order === 'raster') {
    for (let t = 0; t < M; t++) {
      const p = new Array<number>(D);
      let r = t;
      for (let i = D - 1; i >= 0; i--) { p[i] = r % grid[i]; r = Math.floor(r / grid[i]); }
      out.push(p);
    }
    return out;
  }
  const ng = grid.map((s, i) => Math.ceil(s / group[i]));
  // all tuples 0 <= x_i < bound_i, row-major (last fastest)
  const tuples = (bound: readonly number[]): number[][] => {
    let acc: number[][] = [[]];
    for (const b of bound) {
      const next: number[][] = [];
      for (const prefix of acc) for (let x = 0; x < b; x++) next.push([...prefix, x]);
      acc = next;
    }
    return acc;
  };
  for (const c of tuples(ng)) {
    const lens = c.map((ci, i) => Math.min(group[i], grid[i] - ci * group[i]));
    for (const l of tuples(lens)) out.push(l.map((li, i) => c[i] * group[i] + li));
  }
  return out;
}

/**
 * The official formula for grouped order on a divisible grid: the group of an image token is
 * `idx // cell_size`, split into coordinates by the group counts (cross_processor.py). Used to
 * cross-check `imagePositions` (tests) — it only exists where the grid divides by the group.
 */
export function officialGroupedCoords(grid: readonly number[], group: readonly number[], idx: number): number[] {
  const cell = prod(group), ng = grid.map((s, i) => s / group[i]);
  let y = Math.floor(idx / cell);
  const c = new Array<number>(grid.length);
  for (let i = grid.length - 1; i >= 0; i--) { c[i] = y % ng[i]; y = Math.floor(y / ng[i]); }
  return c;
}

/** NATTEN's window start (dilation 1) for a window of `kernel` (odd) along an axis of `length`. */
export function nattenWindowStart(index: number, length: number, kernel: number): number {
  const r = Math.floor(kernel / 2);
  return Math.max(index - r, 0) + (index + r >= length ? length - index - r - 1 : 0);
}

/** Whether key group kc is related to query group qc (group counts ng). */
function related(rel: Relation, qc: readonly number[], kc: readonly number[], ng: readonly number[]): boolean {
  const D = qc.length;
  switch (rel.kind) {
    case 'B': {
      for (let i = 0; i < D; i++) {
        const r = rel.radius.length === 1 ? rel.radius[0] : rel.radius[i];
        if (rel.border === 'shift') {
          const kernel = 2 * r + 1;
          if (kernel > ng[i]) continue; // window wider than the axis: the whole axis
          const s = nattenWindowStart(qc[i], ng[i], kernel);
          if (kc[i] < s || kc[i] >= s + kernel) return false;
        } else if (Math.abs(kc[i] - qc[i]) > r) return false;
      }
      return true;
    }
    case 'X': {
      for (let i = 0; i < D; i++) if (kc[i] === qc[i]) return true;
      return false;
    }
    case 'Xlines': {
      let shared = 0;
      for (let i = 0; i < D; i++) if (kc[i] === qc[i]) shared++;
      return shared >= D - 1;
    }
    case 'fn':
      return rel.f(qc, kc, ng);
  }
}

/** The dense boolean mask (row = query token, column = key token, memory order), 1 = visible. */
export function officialMask(spec: OfficialSpec): Uint8Array {
  const M = prod(spec.grid), T = spec.text?.count ?? 0, N = M + T;
  const valid = Math.max(0, Math.min(spec.valid ?? T, T));
  const imageFirst = spec.text?.place !== 'before'; // after, or no text
  const imageSeesText = spec.imageSeesText ?? true;
  const textSees = spec.textSees ?? { grid: true, text: true };
  const ng = spec.grid.map((s, i) => Math.ceil(s / spec.group[i]));
  const pos = imagePositions(spec);
  // per token: -1 = text, else the image token's offset in `pos`
  const image = new Int32Array(N).fill(-1);
  const textIdx = new Int32Array(N).fill(-1);
  for (let t = 0; t < N; t++) {
    const off = imageFirst ? t : t - T;
    if (off >= 0 && off < M) image[t] = off;
    else textIdx[t] = imageFirst ? t - M : t;
  }
  const coords = pos.map((p) => p.map((x, i) => Math.floor(x / spec.group[i])));
  const mask = new Uint8Array(N * N);
  for (let qi = 0; qi < N; qi++) {
    for (let ki = 0; ki < N; ki++) {
      const kvText = textIdx[ki] >= 0;
      const kvNotPadding = !kvText || textIdx[ki] < valid; // `text` in mask_mod
      const qText = textIdx[qi] >= 0;
      let see: boolean;
      if (qText) see = kvText ? textSees.text : textSees.grid; // official: both true (text2)
      else if (kvText) see = imageSeesText; // official: true (text2)
      else see = related(spec.relation, coords[image[qi]], coords[image[ki]], ng); // `image`
      mask[qi * N + ki] = see && kvNotPadding ? 1 : 0;
    }
  }
  return mask;
}

// ---- the same pattern as a hand-built PatternIR (for the compiler side of the comparison) ----

const DIM_NAMES: Record<number, readonly string[]> = { 1: ['x'], 2: ['h', 'w'], 3: ['t', 'h', 'w'] };

export function irFromSpec(spec: OfficialSpec, headDim = 8): PatternIR {
  const D = spec.grid.length;
  const dims = spec.grid.map((size, i) => ({ name: DIM_NAMES[D][i], size, group: spec.group[i], groups: Math.ceil(size / spec.group[i]) }));
  const off = (lo: number, hi: number): AxisRange => ({ kind: 'offset', lo, hi });
  const all: AxisRange = { kind: 'all' };
  const box = (axes: AxisRange[], border: 'clip' | 'shift', origin: string): BoxTerm => ({ kind: 'box', axes, border, origin });
  const rel = spec.relation;
  if (rel.kind === 'fn') throw new Error('irFromSpec: a `fn` relation has no IR; build the terms by hand');
  const terms: BoxTerm[] =
    rel.kind === 'B' ? [box(dims.map((_, i) => (rel.radius.length === 1 ? rel.radius[0] : rel.radius[i])).map((r) => off(-r, r)), rel.border ?? 'clip', `neighbors(${rel.radius.join(', ')})`)]
    : rel.kind === 'X' ? dims.map((_, i) => box(dims.map((_, j) => (j === i ? off(0, 0) : all)), 'clip', 'crisscross(planes)'))
    : dims.map((_, i) => box(dims.map((_, j) => (j === i ? all : off(0, 0))), 'clip', 'crisscross(lines)'));
  const textSees = spec.textSees ?? { grid: true, text: true };
  return {
    name: 'spec',
    dims,
    order: spec.order,
    text: spec.text ? { count: spec.text.count, place: spec.text.place } : null,
    image: { terms, text: spec.text ? (spec.imageSeesText ?? true) : false },
    textQueries: spec.text ? { grid: textSees.grid, text: textSees.text } : null,
    headDim,
    dtype: 'fp32',
    scale: 1 / Math.sqrt(headDim),
    schedule: {},
  };
}

/** Pretty-print the first differing entries of two masks (for failure messages). */
export function maskDiff(a: Uint8Array, b: Uint8Array, N: number, limit = 8): string {
  if (a.length !== b.length) return `sizes differ: ${a.length} vs ${b.length}`;
  const out: string[] = [];
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (out.length < limit) out.push(`(q ${Math.floor(i / N)}, k ${i % N}): ${a[i]} vs ${b[i]}`);
      count++;
    }
  }
  return count === 0 ? 'equal' : `${count} entries differ, e.g. ${out.join('; ')}`;
}

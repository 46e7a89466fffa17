/**
 * The closed form of a pattern: from a query group's coordinates to the key groups it sees and
 * to contiguous token runs in memory order. No N×N mask is ever built; everything is computed
 * per query group from the IR's terms. Backends mirror these functions (CUDA/WGSL in emitted
 * code, ONNX as constant index tensors); `reference.ts` builds the dense mask from them.
 */
import type { AxisRange, Border, Dim, PatternIR } from './ir.js';
import { groupCount, imageOffset, imageTokens, textOffset } from './ir.js';
import { compilePredicate, type Coords } from './predicate.js';

/** A contiguous run of tokens [start, start + length) in sequence (memory) order. */
export interface Run {
  readonly start: number;
  readonly length: number;
}

/** Inclusive interval of group coordinates along one axis; lo > hi is empty. */
export type Interval = readonly [number, number];

export function groupCoords(ir: PatternIR, g: number): number[] {
  const c = new Array<number>(ir.dims.length);
  for (let i = ir.dims.length - 1; i >= 0; i--) {
    const n = ir.dims[i].groups;
    c[i] = g % n;
    g = Math.floor(g / n);
  }
  return c;
}

export function groupIndex(ir: PatternIR, c: ArrayLike<number>): number {
  let g = 0;
  for (let i = 0; i < ir.dims.length; i++) g = g * ir.dims[i].groups + c[i];
  return g;
}

/** Tokens of group coordinate c along a dim: [start, start + length). Edge groups are smaller. */
export const groupStartAlong = (d: Dim, c: number): number => c * d.group;
export const groupLengthAlong = (d: Dim, c: number): number => Math.min(d.group, d.size - c * d.group);

/** Tokens in the group at coordinates c. */
export function groupSize(ir: PatternIR, c: ArrayLike<number>): number {
  let n = 1;
  for (let i = 0; i < ir.dims.length; i++) n *= groupLengthAlong(ir.dims[i], c[i]);
  return n;
}

/**
 * The key-group interval an axis range allows for query coordinate q along a dim of n groups.
 * `shift` slides an offset window inward so it keeps its width (as NATTEN does); `clip` cuts it.
 */
export function axisInterval(r: AxisRange, q: number, n: number, border: Border): Interval {
  if (r.kind === 'all') return [0, n - 1];
  if (r.lo > r.hi) return [1, 0];
  if (border === 'shift') {
    const width = r.hi - r.lo + 1;
    if (width >= n) return [0, n - 1];
    const start = Math.min(Math.max(q + r.lo, 0), n - width);
    return [start, start + width - 1];
  }
  return [Math.max(q + r.lo, 0), Math.min(q + r.hi, n - 1)];
}

/**
 * Enumerates the key groups of image query groups. Reuses one stamp array across calls so a
 * whole-grid sweep allocates nothing per query group.
 */
export class KeyGroupEnumerator {
  private readonly stamp: Int32Array;
  private epoch = 0;
  private readonly preds: ((c: Coords) => boolean)[];
  private readonly n: number[];
  private readonly out: Int32Array;

  constructor(private readonly ir: PatternIR) {
    this.stamp = new Int32Array(groupCount(ir));
    this.out = new Int32Array(groupCount(ir));
    this.n = ir.dims.map((d) => d.groups);
    this.preds = ir.image.terms.map((t) => (t.kind === 'predicate' ? compilePredicate(t.expr) : () => true));
  }

  /** Sorted key group indices of query group g (a view, valid until the next call). */
  keyGroups(g: number): Int32Array {
    const ir = this.ir, D = ir.dims.length, q = groupCoords(ir, g), n = this.n;
    const e = ++this.epoch;
    let count = 0;
    const k = new Array<number>(D).fill(0);
    const coords: Coords = { q, k, n };
    ir.image.terms.forEach((t, ti) => {
      const ivs = t.kind === 'box'
        ? t.axes.map((a, i) => axisInterval(a, q[i], n[i], t.border))
        : t.bounds.map((a, i) => axisInterval(a, q[i], n[i], 'clip'));
      if (ivs.some((iv) => iv[0] > iv[1])) return;
      const test = t.kind === 'predicate' ? this.preds[ti] : null;
      // odometer over the box, last axis fastest
      for (let i = 0; i < D; i++) k[i] = ivs[i][0];
      for (;;) {
        if (test === null || test(coords)) {
          const idx = groupIndex(ir, k);
          if (this.stamp[idx] !== e) { this.stamp[idx] = e; this.out[count++] = idx; }
        }
        let i = D - 1;
        while (i >= 0 && k[i] === ivs[i][1]) { k[i] = ivs[i][0]; i--; }
        if (i < 0) break;
        k[i]++;
      }
    });
    const view = this.out.subarray(0, count);
    view.sort();
    return view;
  }
}

/** Tokens of the groups that precede group c in `grouped` order (closed form, ragged-safe). */
export function groupedStart(ir: PatternIR, c: ArrayLike<number>): number {
  const D = ir.dims.length;
  let total = 0;
  for (let i = 0; i < D; i++) {
    let t = Math.min(c[i] * ir.dims[i].group, ir.dims[i].size);
    for (let j = 0; j < i; j++) t *= groupLengthAlong(ir.dims[j], c[j]);
    for (let j = i + 1; j < D; j++) t *= ir.dims[j].size;
    total += t;
  }
  return total;
}

/** Sequence index of grid position p (token coordinates) in the pattern's memory order. */
export function tokenIndex(ir: PatternIR, p: ArrayLike<number>): number {
  const D = ir.dims.length;
  if (ir.order === 'raster') {
    let t = 0;
    for (let i = 0; i < D; i++) t = t * ir.dims[i].size + p[i];
    return imageOffset(ir) + t;
  }
  const c = ir.dims.map((d, i) => Math.floor(p[i] / d.group));
  let local = 0;
  for (let i = 0; i < D; i++) local = local * groupLengthAlong(ir.dims[i], c[i]) + (p[i] - c[i] * ir.dims[i].group);
  return imageOffset(ir) + groupedStart(ir, c) + local;
}

function mergeRuns(runs: Run[]): Run[] {
  runs.sort((a, b) => a.start - b.start);
  const out: Run[] = [];
  for (const r of runs) {
    const last = out[out.length - 1];
    if (last && last.start + last.length === r.start) out[out.length - 1] = { start: last.start, length: last.length + r.length };
    else out.push(r);
  }
  return out;
}

/**
 * Token runs covering a sorted list of groups, in memory order, adjacent runs merged.
 * grouped: one run per group. raster: one run per token row (all dims but the last) per
 * maximal stretch of consecutive groups along the last dim.
 */
export function runsOfGroups(ir: PatternIR, groups: ArrayLike<number>): Run[] {
  const D = ir.dims.length, base = imageOffset(ir), runs: Run[] = [];
  if (ir.order === 'grouped') {
    for (let i = 0; i < groups.length; i++) {
      const c = groupCoords(ir, groups[i]);
      runs.push({ start: base + groupedStart(ir, c), length: groupSize(ir, c) });
    }
    return mergeRuns(runs);
  }
  const last = ir.dims[D - 1], nLast = last.groups;
  let i = 0;
  while (i < groups.length) {
    // a stretch: same prefix (g / nLast), consecutive last coordinates
    let j = i;
    while (j + 1 < groups.length && groups[j + 1] === groups[j] + 1 && Math.floor(groups[j + 1] / nLast) === Math.floor(groups[i] / nLast)) j++;
    const c = groupCoords(ir, groups[i]);
    const cEnd = groups[j] % nLast;
    const col0 = c[D - 1] * last.group;
    const len = Math.min((cEnd + 1) * last.group, last.size) - col0;
    // every token row of the prefix groups
    const rowStart = c.slice(0, D - 1).map((ci, a) => ci * ir.dims[a].group);
    const rowLen = c.slice(0, D - 1).map((ci, a) => groupLengthAlong(ir.dims[a], ci));
    const p = rowStart.slice();
    for (;;) {
      let lin = 0;
      for (let a = 0; a < D - 1; a++) lin = lin * ir.dims[a].size + p[a];
      runs.push({ start: base + lin * last.size + col0, length: len });
      let a = D - 2;
      while (a >= 0 && p[a] === rowStart[a] + rowLen[a] - 1) { p[a] = rowStart[a]; a--; }
      if (a < 0) break;
      p[a]++;
    }
    i = j + 1;
  }
  return mergeRuns(runs);
}

/** The query tokens of image query group g. */
export const queryRuns = (ir: PatternIR, g: number): Run[] => runsOfGroups(ir, [g]);

/** The text segment's key run for a run-time valid length (empty when there is no text). */
export function textKeyRun(ir: PatternIR, valid: number): Run | null {
  if (!ir.text) return null;
  const v = Math.max(0, Math.min(valid, ir.text.count));
  return v > 0 ? { start: textOffset(ir), length: v } : null;
}

/** The whole grid as one run. */
export const gridRun = (ir: PatternIR): Run => ({ start: imageOffset(ir), length: imageTokens(ir) });

/** Tokens covered by group interval [a, b] along a dim (edge groups are smaller). */
const tokensAlong = (d: Dim, a: number, b: number): number => (a > b ? 0 : Math.min((b + 1) * d.group, d.size) - a * d.group);

/** Inclusion–exclusion is exact for unions of boxes; past this many terms enumeration is cheaper. */
const MAX_CLOSED_FORM_TERMS = 8;

/** Whether `countKeys` counts in closed form (inclusion–exclusion) rather than by enumeration. */
export const closedFormCountable = (ir: PatternIR): boolean =>
  ir.image.terms.length <= MAX_CLOSED_FORM_TERMS && ir.image.terms.every((t) => t.kind === 'box');

/**
 * Query coordinates [lo, hi] along an axis of n groups where every range's interval is the same
 * as seen from q (q + lo_t .. q + hi_t, neither clipped, shifted nor reaching the possibly short
 * last group): counts over the grid are the same for all of them. Empty (lo > hi) when none.
 */
export function interiorAlong(ranges: readonly AxisRange[], n: number): Interval {
  let lo = 0, hi = n - 2;
  for (const r of ranges) {
    if (r.kind === 'all' || r.lo > r.hi) continue;
    lo = Math.max(lo, -r.lo);
    hi = Math.min(hi, n - 2 - r.hi);
  }
  return [lo, hi];
}

/**
 * Key groups and key tokens (text excluded) of image query group g, without enumerating them
 * when every term is a box: a box's token count factorises per dim even on ragged grids, and
 * boxes intersect to boxes, so the union is counted by inclusion–exclusion over term subsets.
 * Predicate terms fall back to enumeration.
 */
export function countKeys(ir: PatternIR, g: number, enumerator: KeyGroupEnumerator | null, sizes?: ArrayLike<number>): { groups: number; tokens: number } {
  const terms = ir.image.terms;
  if (closedFormCountable(ir)) {
    const q = groupCoords(ir, g), D = ir.dims.length;
    const ivs = terms.map((t) => (t as { axes: readonly AxisRange[]; border: Border }).axes.map((a, i) => axisInterval(a, q[i], ir.dims[i].groups, (t as { border: Border }).border)));
    let groups = 0, tokens = 0;
    for (let s = 1; s < 1 << terms.length; s++) {
      let lo = new Array<number>(D).fill(-Infinity), hi = new Array<number>(D).fill(Infinity), bits = 0;
      for (let t = 0; t < terms.length; t++) {
        if (!(s & (1 << t))) continue;
        bits++;
        lo = lo.map((x, i) => Math.max(x, ivs[t][i][0]));
        hi = hi.map((x, i) => Math.min(x, ivs[t][i][1]));
      }
      let ng = 1, nt = 1;
      for (let i = 0; i < D; i++) { ng *= Math.max(0, hi[i] - lo[i] + 1); nt *= tokensAlong(ir.dims[i], lo[i], hi[i]); }
      const sign = bits % 2 === 1 ? 1 : -1;
      groups += sign * ng;
      tokens += sign * nt;
    }
    return { groups, tokens };
  }
  const kg = (enumerator ?? new KeyGroupEnumerator(ir)).keyGroups(g);
  let tokens = 0;
  for (let i = 0; i < kg.length; i++) tokens += sizes ? sizes[kg[i]] : groupSize(ir, groupCoords(ir, kg[i]));
  return { groups: kg.length, tokens };
}

/**
 * The key-tile cursor: the walk over a query tile's keys, tile by tile, that every kernel runs.
 * This TypeScript interpreter, over a plan bound to one launch's sizes (bindPlan: a fixed plan's
 * own, or any sizes a run-time plan takes), is its executable definition: it is tested against the dense mask
 * (compiler/reference.ts) on random patterns, and codegen/cursor.ts prints the same functions,
 * step for step and with the same names, in each kernel dialect (CUDA, WGSL). Change one, change
 * the other: test/cursor.test.ts checks this file against the mask, test/cuda.cursor.test.ts and
 * the WGSL tests check the printed code against it.
 *
 * The walk: for an image query group q, each term's window of key groups (last axis fastest),
 * skipping a key group that the term's predicate rejects or that an earlier term contains
 * ("first-term ownership": each key group once); a key group's tokens are one segment, or with
 * `runs` a term with a run axis takes all groups of its trailing axes at once (whole image rows);
 * then the valid text run (if image queries see text). For text queries: the grid (as one run, the
 * launch's part [gridLo, gridLo + gridLen)) and the valid text. Each segment is cut into tiles of
 * at most blockK tokens.
 */
import type { BoundPlan } from './plan.js';
import { termAxes, termBorder } from './plan.js';
import { axisInterval } from './keys.js';
import { compilePredicate } from './predicate.js';

/** A run of tokens: contiguous (base + i), or a raster group (rows of lw tokens, lh rows a plane). */
export interface Seg {
  readonly base: number;
  readonly len: number;
  readonly lw: number;
  readonly lh: number;
  readonly contiguous: boolean;
}

/** One key tile: tokens seg[off .. off + n). n = 0: the walk is over. */
export interface KeyTile {
  readonly seg: Seg;
  readonly off: number;
  readonly n: number;
}

export interface CursorOptions {
  readonly blockK: number;
  /** Walk terms with a run axis as runs of whole image rows (plan.runAxes). */
  readonly runs: boolean;
  /** Text queries' grid run, in image tokens (default: the whole grid). */
  readonly gridLo?: number;
  readonly gridLen?: number;
}

const contiguous = (base: number, len: number): Seg => ({ base, len, lw: 0, lh: 0, contiguous: true });

/** Group coordinates (outermost first) of query group g. */
export function decodeGroup(plan: BoundPlan, g: number): number[] {
  const D = plan.dims.length, c = new Array<number>(D);
  for (let a = D - 1; a >= 1; a--) { c[a] = g % plan.dims[a].groups; g = Math.floor(g / plan.dims[a].groups); }
  c[0] = g;
  return c;
}

/** The tokens of image group c. */
export function groupSegment(plan: BoundPlan, c: readonly number[]): Seg {
  const D = plan.dims.length, len = plan.dims.map((d, a) => Math.min(d.group, d.size - c[a] * d.group));
  const count = len.reduce((n, x) => n * x, 1);
  let base: number;
  if (plan.order === 'grouped') {
    base = 0;
    for (let a = 0; a < D; a++) {
      let t = Math.min(c[a] * plan.dims[a].group, plan.dims[a].size);
      for (let j = 0; j < a; j++) t *= len[j];
      for (let j = a + 1; j < D; j++) t *= plan.dims[j].size;
      base += t;
    }
    return contiguous(plan.layout.imageOffset + base, count);
  }
  base = c[0] * plan.dims[0].group;
  for (let a = 1; a < D; a++) base = base * plan.dims[a].size + c[a] * plan.dims[a].group;
  return { base: plan.layout.imageOffset + base, len: count, lw: len[D - 1], lh: D >= 2 ? len[D - 2] : 1, contiguous: D === 1 };
}

/** Sequence index of the local-th token of a segment (row-major inside a raster group). */
export function segToken(plan: BoundPlan, s: Seg, local: number): number {
  if (s.contiguous) return s.base + local;
  const D = plan.dims.length, W = plan.dims[D - 1].size;
  if (D === 2) {
    const y = Math.floor(local / s.lw), x = local - y * s.lw;
    return s.base + y * W + x;
  }
  const r = Math.floor(local / s.lw), x = local - r * s.lw, t = Math.floor(r / s.lh), y = r - t * s.lh;
  return s.base + (t * plan.dims[1].size + y) * W + x;
}

/** Term t's window of key groups for query group q; null when empty. */
export function termWindow(plan: BoundPlan, t: number, q: readonly number[]): { lo: number[]; hi: number[] } | null {
  const term = plan.terms[t], lo: number[] = [], hi: number[] = [];
  termAxes(term).forEach((r, a) => {
    const [l, h] = axisInterval(r, q[a], plan.dims[a].groups, termBorder(term));
    lo.push(l); hi.push(h);
  });
  return lo.every((l, a) => l <= hi[a]) ? { lo, hi } : null;
}

const predicates = new WeakMap<BoundPlan, ((c: { q: readonly number[]; k: readonly number[]; n: readonly number[] }) => boolean)[]>();
function predicateOf(plan: BoundPlan, t: number): ((c: { q: readonly number[]; k: readonly number[]; n: readonly number[] }) => boolean) | null {
  let ps = predicates.get(plan);
  if (!ps) { ps = plan.terms.map((x) => (x.kind === 'predicate' ? compilePredicate(x.expr) : () => true)); predicates.set(plan, ps); }
  return plan.terms[t].kind === 'predicate' ? ps[t] : null;
}

/** Term t's window contains key group k and its predicate holds. */
export function termContains(plan: BoundPlan, t: number, q: readonly number[], k: readonly number[]): boolean {
  const w = termWindow(plan, t, q);
  if (!w || k.some((x, a) => x < w.lo[a] || x > w.hi[a])) return false;
  const p = predicateOf(plan, t);
  return p === null || p({ q, k, n: plan.dims.map((d) => d.groups) });
}

/** Key group k (inside term t's window) is visited by term t: its predicate holds and no earlier term has k. */
export function termVisible(plan: BoundPlan, t: number, q: readonly number[], k: readonly number[]): boolean {
  const p = predicateOf(plan, t);
  if (p !== null && !p({ q, k, n: plan.dims.map((d) => d.groups) })) return false;
  for (let j = 0; j < t; j++) if (termContains(plan, j, q, k)) return false;
  return true;
}

/** The run of term t at key group k (runAxes[t] = c0): every group of axes >= c0; moves k to the run's last group. */
export function termSegment(plan: BoundPlan, t: number, k: number[], hi: readonly number[]): Seg {
  const c0 = plan.runAxes[t];
  if (c0 === null) return groupSegment(plan, k);
  const D = plan.dims.length, size = plan.dims.map((d) => d.size);
  const len = plan.dims.map((d, a) => (a < c0 ? Math.min(d.group, d.size - k[a] * d.group) : d.size));
  let lin = c0 > 0 ? k[0] * plan.dims[0].group : 0;
  for (let a = 1; a < D; a++) lin = lin * size[a] + (a < c0 ? k[a] * plan.dims[a].group : 0);
  const count = len.reduce((n, x) => n * x, 1);
  for (let a = c0; a < D; a++) k[a] = hi[a];
  const base = plan.layout.imageOffset + lin;
  // contiguous when only the first axis is fixed (or none); in 3-D with t and h fixed: planes of whole rows
  return c0 <= 1 ? contiguous(base, count) : { base, len: count, lw: size[D - 1], lh: len[D - 2], contiguous: false };
}

/** Whether stage s (a term, STAGE_GRID = nterms, STAGE_TEXT = nterms + 1, done) applies to the tile. */
function stageOn(plan: BoundPlan, s: number, textTile: boolean): boolean {
  const T = plan.terms.length;
  if (s < T) return !textTile;
  if (s === T) return textTile && (plan.textQueries?.grid ?? false);
  if (s === T + 1) return textTile ? (plan.textQueries?.text ?? false) : plan.imageSeesText;
  return true;
}

/**
 * The cursor, as the kernels hold it (stage, fresh, k/lo/hi, seg, off). `next()` is next_tile:
 * the next key tile, n = 0 once the keys are exhausted.
 */
export class Cursor {
  private stage = -1;
  private fresh = false;
  private k: number[];
  private lo: number[];
  private hi: number[];
  private seg: Seg = contiguous(0, 0);
  private off = 0;
  private readonly gridLo: number;
  private readonly gridLen: number;

  constructor(private readonly plan: BoundPlan, private readonly q: readonly number[] | null, private readonly valid: number, private readonly opts: CursorOptions) {
    const D = plan.dims.length;
    this.k = new Array<number>(D).fill(0);
    this.lo = new Array<number>(D).fill(0);
    this.hi = new Array<number>(D).fill(-1);
    this.gridLo = opts.gridLo ?? 0;
    this.gridLen = opts.gridLen ?? plan.layout.imageTokens;
  }

  private get textTile(): boolean { return this.q === null; }
  private get qc(): readonly number[] { return this.q ?? this.plan.dims.map(() => 0); }

  /** Last axis fastest; false once past the window's end (k back at lo). */
  private odometerStep(): boolean {
    for (let a = this.k.length - 1; a >= 0; a--) {
      if (this.k[a] < this.hi[a]) { this.k[a] += 1; return true; }
      this.k[a] = this.lo[a];
    }
    return false;
  }

  /** Moves to the next non-empty segment; false when the tile's keys are exhausted. */
  private nextSegment(): boolean {
    const T = this.plan.terms.length;
    for (;;) {
      if (this.stage < T) {
        const more = this.fresh || this.odometerStep();
        this.fresh = false;
        if (more) {
          if (termVisible(this.plan, this.stage, this.qc, this.k)) {
            this.seg = this.opts.runs ? termSegment(this.plan, this.stage, this.k, this.hi) : groupSegment(this.plan, this.k);
            this.off = 0;
            return true;
          }
          continue;
        }
      } else if (this.stage === T) {
        if (this.fresh) { this.fresh = false; this.seg = contiguous(this.plan.layout.imageOffset + this.gridLo, this.gridLen); this.off = 0; return true; }
      } else if (this.stage === T + 1) {
        if (this.fresh) {
          this.fresh = false;
          if (this.valid > 0) { this.seg = contiguous(this.plan.layout.textOffset, this.valid); this.off = 0; return true; }
        }
      } else {
        return false;
      }
      // enter the next stage that applies to this tile (a term with an empty window is skipped)
      for (;;) {
        this.stage += 1;
        if (!stageOn(this.plan, this.stage, this.textTile)) continue;
        if (this.stage >= T) break;
        const w = termWindow(this.plan, this.stage, this.qc);
        if (w) { this.lo = w.lo; this.hi = w.hi; break; }
      }
      this.fresh = true;
      this.k = [...this.lo];
    }
  }

  /** The next key tile: up to blockK tokens of one segment (n = 0 when none is left). */
  next(): KeyTile {
    while (this.off >= this.seg.len) {
      if (!this.nextSegment()) return { seg: this.seg, off: this.off, n: 0 };
    }
    const t = { seg: this.seg, off: this.off, n: Math.min(this.opts.blockK, this.seg.len - this.off) };
    this.off += this.opts.blockK;
    return t;
  }
}

/** Every key tile of an image query group (coordinates) or of the text queries (null). */
export function keyTiles(plan: BoundPlan, q: readonly number[] | null, valid: number, opts: CursorOptions): KeyTile[] {
  const c = new Cursor(plan, q, valid, opts), out: KeyTile[] = [];
  for (let t = c.next(); t.n > 0; t = c.next()) out.push(t);
  return out;
}

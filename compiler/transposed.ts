/**
 * The transposed walk: for one key group (or the text keys), the query tiles that see it. The
 * backward pass's dK/dV kernel runs it per key tile, as the forward runs the key-tile cursor
 * (compiler/cursor.ts) per query tile. Like that cursor it is derived from the plan in closed
 * form, and this TypeScript interpreter is its executable definition: test/transposed.test.ts
 * checks it against the dense mask (compiler/reference.ts) on random patterns, and
 * codegen/cursor_transposed.ts prints the same functions, step for step and with the same names,
 * into the CUDA backward kernel (test/cuda.transposed.test.ts runs that print with g++).
 *
 * The walk for an image key group k: per term t, the query groups q whose window of term t holds
 * k — along each axis an interval, the exact inverse of keys.ts's axisInterval (clip: q in
 * [k - hi, k - lo]; shift: the q whose slid window start lies in [k - width + 1, k], an interval
 * since the start grows with q) — last axis fastest, skipping a q that the term's predicate
 * rejects or that an earlier term already pairs with k (term_visible of the forward cursor:
 * first-term ownership is a property of the pair (q, k), so each pair comes once either way);
 * then the text query rows, all of them (padded rows included, as the forward computes them),
 * when text queries see the grid. For the text keys: the whole grid as one run of query rows when
 * image queries see text, then the text query rows when text queries see text. Every segment is
 * cut into tiles of at most blockQ rows. Text keys at positions >= the sample's valid length are
 * seen by nobody: the walk does not depend on it, the kernel masks those key rows (their dK and
 * dV are 0), which the tests check with the mask.
 */
import type { BoundPlan } from './plan.js';
import { termAxes, termBorder } from './plan.js';
import type { AxisRange, Border } from './ir.js';
import { groupSegment, termVisible, type Seg } from './cursor.js';

/** One query tile: rows seg[off .. off + n). n = 0: the walk is over. */
export interface QueryTile {
  readonly seg: Seg;
  readonly off: number;
  readonly n: number;
}

export interface TransposedOptions {
  /** Query rows per tile. */
  readonly blockQ: number;
}

const contiguous = (base: number, len: number): Seg => ({ base, len, lw: 0, lh: 0, contiguous: true });

/**
 * The query coordinates [lo, hi] along an axis of n groups whose key interval (keys.ts
 * axisInterval) holds key coordinate k; lo > hi when none.
 */
export function queryInterval(r: AxisRange, k: number, n: number, border: Border): [number, number] {
  if (r.kind === 'all') return [0, n - 1];
  if (r.lo > r.hi) return [1, 0];
  if (border === 'shift') {
    const width = r.hi - r.lo + 1;
    if (width >= n) return [0, n - 1];
    // start(q) = min(max(q + lo, 0), n - width) must lie in [k - width + 1, k]
    const a = k - width + 1, m = n - width;
    return [a <= 0 ? 0 : Math.max(a - r.lo, 0), k >= m ? n - 1 : Math.min(k - r.lo, n - 1)];
  }
  return [Math.max(k - r.hi, 0), Math.min(k - r.lo, n - 1)];
}

/** Term t's window of query groups for key group k; null when empty. */
export function termQueryWindow(plan: BoundPlan, t: number, k: readonly number[]): { lo: number[]; hi: number[] } | null {
  const term = plan.terms[t], lo: number[] = [], hi: number[] = [];
  termAxes(term).forEach((r, a) => {
    const [l, h] = queryInterval(r, k[a], plan.dims[a].groups, termBorder(term));
    lo.push(l); hi.push(h);
  });
  return lo.every((l, a) => l <= hi[a]) ? { lo, hi } : null;
}

/** Whether stage s (a term; QSTAGE_IMAGE = nterms: the grid's rows; QSTAGE_TEXT = nterms + 1: the text rows) applies to the key tile. */
function qstageOn(plan: BoundPlan, s: number, textKey: boolean): boolean {
  const T = plan.terms.length;
  if (s < T) return !textKey;
  if (s === T) return textKey && plan.imageSeesText;
  if (s === T + 1) return plan.layout.textCount > 0 && (textKey ? (plan.textQueries?.text ?? false) : (plan.textQueries?.grid ?? false));
  return true;
}

/**
 * The transposed cursor, as the backward kernel holds it (stage, fresh, q/lo/hi, seg, off).
 * `next()` is next_qtile: the next query tile, n = 0 once the key's queries are exhausted.
 */
export class QueryCursor {
  private stage = -1;
  private fresh = false;
  private q: number[];
  private lo: number[];
  private hi: number[];
  private seg: Seg = contiguous(0, 0);
  private off = 0;

  /** k: the image key group's coordinates, or null for the text keys. */
  constructor(private readonly plan: BoundPlan, private readonly k: readonly number[] | null, private readonly opts: TransposedOptions) {
    const D = plan.dims.length;
    this.q = new Array<number>(D).fill(0);
    this.lo = new Array<number>(D).fill(0);
    this.hi = new Array<number>(D).fill(-1);
  }

  private get textKey(): boolean { return this.k === null; }
  private get kc(): readonly number[] { return this.k ?? this.plan.dims.map(() => 0); }

  private odometerStep(): boolean {
    for (let a = this.q.length - 1; a >= 0; a--) {
      if (this.q[a] < this.hi[a]) { this.q[a] += 1; return true; }
      this.q[a] = this.lo[a];
    }
    return false;
  }

  private nextSegment(): boolean {
    const T = this.plan.terms.length, L = this.plan.layout;
    for (;;) {
      if (this.stage < T) {
        const more = this.fresh || this.odometerStep();
        this.fresh = false;
        if (more) {
          // the same pair test as the forward walk: term t's predicate holds and no earlier term has (q, k)
          if (termVisible(this.plan, this.stage, this.q, this.kc)) {
            this.seg = groupSegment(this.plan, this.q);
            this.off = 0;
            return true;
          }
          continue;
        }
      } else if (this.stage === T) {
        if (this.fresh) { this.fresh = false; this.seg = contiguous(L.imageOffset, L.imageTokens); this.off = 0; return true; }
      } else if (this.stage === T + 1) {
        if (this.fresh) { this.fresh = false; this.seg = contiguous(L.textOffset, L.textCount); this.off = 0; return true; }
      } else {
        return false;
      }
      for (;;) {
        this.stage += 1;
        if (!qstageOn(this.plan, this.stage, this.textKey)) continue;
        if (this.stage >= T) break;
        const w = termQueryWindow(this.plan, this.stage, this.kc);
        if (w) { this.lo = w.lo; this.hi = w.hi; break; }
      }
      this.fresh = true;
      this.q = [...this.lo];
    }
  }

  /** The next query tile: up to blockQ rows of one segment (n = 0 when none is left). */
  next(): QueryTile {
    while (this.off >= this.seg.len) {
      if (!this.nextSegment()) return { seg: this.seg, off: this.off, n: 0 };
    }
    const t = { seg: this.seg, off: this.off, n: Math.min(this.opts.blockQ, this.seg.len - this.off) };
    this.off += this.opts.blockQ;
    return t;
  }
}

/** Every query tile that sees an image key group (coordinates) or the text keys (null). */
export function queryTiles(plan: BoundPlan, k: readonly number[] | null, opts: TransposedOptions): QueryTile[] {
  const c = new QueryCursor(plan, k, opts), out: QueryTile[] = [];
  for (let t = c.next(); t.n > 0; t = c.next()) out.push(t);
  return out;
}

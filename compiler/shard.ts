/**
 * The spatial split of one pattern over `world` GPUs: each rank owns a band of group rows along
 * the outermost grid dim (a contiguous token range in raster and grouped order alike) and gets
 * from the other ranks exactly the K/V rows its queries reach (a halo for local patterns, every
 * row for patterns with an `all` axis such as criss-cross), plus the text segment when image
 * queries see text. Text queries are split by keys: each rank attends them over its own band and
 * the partials are merged by their log-sum-exp on the text's owner.
 *
 * Pure numbers from the plan geometry, emitted into the PyTorch loader (the runtime only reads
 * them) and checked against the dense mask of compiler/reference.ts in the tests.
 */
import { axisInterval } from './keys.js';
import type { BoundPlan } from './plan.js';

/** K/V tokens [start, end) of the whole sequence that a rank receives from rank `from`. */
export interface Transfer {
  readonly from: number;
  readonly start: number;
  readonly end: number;
}

export interface RankShard {
  readonly rank: number;
  /** The rank's share of the sequence, [start, end): its band's image tokens, plus the text segment on the owner. */
  readonly tokens: readonly [number, number];
  /** Group rows along dim 0 it owns, [lo, hi). */
  readonly rows: readonly [number, number];
  /** Query groups it computes, [first, end) (linear group index; dim 0 is the slowest). */
  readonly groups: readonly [number, number];
  /** Its band as image-token offsets from the grid's first token, [lo, hi): the keys its text-query partial sees. */
  readonly grid: readonly [number, number];
  /** Query groups whose keys are all local (own band, and the text when it holds it): they can run before the halo arrives. */
  readonly inner: readonly [number, number];
  /** True on the rank that holds the text segment. */
  readonly text: boolean;
  /** What it receives, ordered by token. */
  readonly recv: readonly Transfer[];
}

export interface SpatialPlan {
  readonly world: number;
  readonly ranks: readonly RankShard[];
  /** Rank that holds the text segment (null: no text). */
  readonly textOwner: number | null;
}

export type SpatialResult = { readonly ok: true; readonly plan: SpatialPlan } | { readonly ok: false; readonly reason: string };

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Image tokens of group rows [0, r): row r of dim 0 starts there in both orders. */
function rowStart(g: BoundPlan, r: number): number {
  const d0 = g.dims[0];
  return Math.min(r * d0.group, d0.size) * product(g.dims.slice(1).map((d) => d.size));
}

/**
 * The dim-0 key rows term t's queries in rows [lo, hi) reach, as one interval, or null. A term's
 * window along dim 0 slides monotonically with the query row and never skips a row, so over a
 * range of query rows it covers [start at the first row it is nonempty, end at the last].
 */
function termReach(t: BoundPlan['terms'][number], lo: number, hi: number, n: number): [number, number] | null {
  const r = t.kind === 'box' ? t.axes[0] : t.bounds[0];
  const border = t.kind === 'box' ? t.border : 'clip';
  let q1 = lo, q2 = hi - 1;
  // a clipped window is empty for rows whose offsets fall outside the grid
  if (r.kind === 'offset' && border === 'clip') { q1 = Math.max(q1, -r.hi); q2 = Math.min(q2, n - 1 - r.lo); }
  if (q1 > q2) return null;
  const a = axisInterval(r, q1, n, border)[0], b = axisInterval(r, q2, n, border)[1];
  return a <= b ? [a, b] : null;
}

/** Group rows along dim 0 that the queries of rows [lo, hi) reach (a boolean per row); O(rows + terms). */
function reachedRows(g: BoundPlan, lo: number, hi: number): boolean[] {
  const n = g.dims[0].groups;
  const hit = new Array<boolean>(n).fill(false);
  for (const t of g.terms) {
    const iv = termReach(t, lo, hi, n);
    if (iv) hit.fill(true, iv[0], iv[1] + 1);
  }
  return hit;
}

/** Every dim-0 row the queries of row q reach lies in [lo, hi); O(terms). */
const reachesOnly = (g: BoundPlan, q: number, lo: number, hi: number): boolean =>
  g.terms.every((t) => { const iv = termReach(t, q, q + 1, g.dims[0].groups); return !iv || (iv[0] >= lo && iv[1] < hi); });

/** Band boundaries: rows split as evenly as whole rows allow. */
function bands(rows: number, world: number): number[] {
  return Array.from({ length: world + 1 }, (_, i) => Math.round((i * rows) / world));
}

export function spatialPlan(g: BoundPlan, world: number): SpatialResult {
  if (!Number.isInteger(world) || world < 1) return { ok: false, reason: `world size must be a positive integer, got ${world}` };
  const rows = g.dims[0].groups;
  if (rows < world) {
    return { ok: false, reason: `the grid has ${rows} group row(s) along its first dim; a spatial split over ${world} GPUs needs at least ${world}` };
  }
  const perRow = product(g.dims.slice(1).map((d) => d.groups));
  const textCount = g.text?.count ?? 0;
  const imageOffset = g.text?.place === 'before' ? textCount : 0;
  const textOffset = g.text?.place === 'before' ? 0 : rowStart(g, rows);
  const textOwner = g.text === null ? null : g.text.place === 'before' ? 0 : world - 1;
  const cuts = bands(rows, world);
  const ownerOfRow = (r: number): number => {
    let i = 0;
    while (cuts[i + 1] <= r) i++;
    return i;
  };
  const ranks: RankShard[] = [];
  for (let rank = 0; rank < world; rank++) {
    const [lo, hi] = [cuts[rank], cuts[rank + 1]];
    const grid: [number, number] = [rowStart(g, lo), rowStart(g, hi)];
    const holdsText = rank === textOwner;
    let start = imageOffset + grid[0], end = imageOffset + grid[1];
    if (holdsText && g.text?.place === 'before') start = 0;
    if (holdsText && g.text?.place === 'after') end = textOffset + textCount;

    // K/V rows reached from outside the band, as runs of rows per owner
    const hit = reachedRows(g, lo, hi);
    const recv: Transfer[] = [];
    const needText = g.imageSeesText && textCount > 0 && !holdsText;
    if (needText && g.text?.place === 'before') recv.push({ from: textOwner as number, start: textOffset, end: textOffset + textCount });
    for (let r = 0; r < rows; ) {
      if (!hit[r] || (r >= lo && r < hi)) { r++; continue; }
      const from = ownerOfRow(r);
      let e = r;
      while (e < rows && hit[e] && !(e >= lo && e < hi) && ownerOfRow(e) === from) e++;
      recv.push({ from, start: imageOffset + rowStart(g, r), end: imageOffset + rowStart(g, e) });
      r = e;
    }
    if (needText && g.text?.place === 'after') recv.push({ from: textOwner as number, start: textOffset, end: textOffset + textCount });

    // inner rows: every row they reach is the band's own (text keys are waited for separately)
    let innerLo = lo, innerHi = hi;
    const local = (q: number): boolean => reachesOnly(g, q, lo, hi);
    while (innerLo < hi && !local(innerLo)) innerLo++;
    while (innerHi > innerLo && !local(innerHi - 1)) innerHi--;
    ranks.push({
      rank,
      tokens: [start, end],
      rows: [lo, hi],
      groups: [lo * perRow, hi * perRow],
      grid,
      inner: [innerLo * perRow, innerHi * perRow],
      text: holdsText,
      recv,
    });
  }
  return { ok: true, plan: { world, ranks, textOwner } };
}

/** Plans for 1..maxWorld GPUs (an error reason where the grid has too few rows), as the loader embeds them. */
export function spatialPlans(g: BoundPlan, maxWorld = 8): Record<number, SpatialPlan | { readonly error: string }> {
  const out: Record<number, SpatialPlan | { readonly error: string }> = {};
  for (let w = 1; w <= maxWorld; w++) {
    const r = spatialPlan(g, w);
    out[w] = r.ok ? r.plan : { error: r.reason };
  }
  return out;
}

/** Bytes each rank sends per attention call under either split (the runtime's `parallel_bytes`). */
export interface SplitBytes {
  readonly spatial: readonly number[];
  readonly ulysses: readonly number[];
  /** What `parallel_attention(mode="auto")` runs: the split whose busiest rank sends less. */
  readonly auto: 'spatial' | 'ulysses';
}

export function splitBytes(g: BoundPlan, plan: SpatialPlan, heads: number, elemBytes = 2, batch = 1): SplitBytes {
  const world = plan.world, D = g.headDim;
  const row = batch * heads * D * elemBytes; // one token of one tensor
  const N = plan.ranks.reduce((n, r) => n + r.tokens[1] - r.tokens[0], 0);
  const T = g.text && g.textQueries?.grid && world > 1 ? g.text.count : 0;
  const spatial = plan.ranks.map((me) => {
    let sent = 0;
    for (const other of plan.ranks) for (const x of other.recv) if (x.from === me.rank) sent += (x.end - x.start) * 2 * row;
    if (T) sent += me.rank === plan.textOwner ? (world - 1) * T * row : T * batch * heads * (D + 1) * 4;
    return sent;
  });
  // q, k and v of this rank's tokens to the other ranks' heads, then the other ranks' outputs back
  const ulysses = plan.ranks.map((me) => {
    const n = me.tokens[1] - me.tokens[0];
    return Math.floor(((3 * n * (world - 1) + (N - n)) * row) / world);
  });
  const auto = Math.max(...spatial) < Math.max(...ulysses) || heads % world !== 0 ? 'spatial' : 'ulysses';
  return { spatial, ulysses, auto };
}

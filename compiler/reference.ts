/**
 * The reference interpreter of the IR: THE definition every backend is tested against.
 * Both functions are built from the closed form in `keys.ts` (query runs × key runs per image
 * query group, plus the text rows), never from a second description of the pattern, so a
 * backend that agrees with them agrees with the compiler's own reading of the IR.
 *
 * Semantics (must stay in sync with docs/language.md and every backend):
 * - image query group g sees its key groups (KeyGroupEnumerator) and, when `image.text`,
 *   the first `valid` text tokens;
 * - every text query row (padded rows included) sees the whole grid when `textQueries.grid`
 *   and the first `valid` text tokens when `textQueries.text`;
 * - text keys at positions >= valid are seen by nobody; a row that sees no key outputs 0.
 * Its gradients (dQ, dK, dV) are defined in reference_backward.ts over the same `attentionBlocks`.
 */
import type { PatternIR } from './ir.js';
import { groupCount, textOffset, totalTokens } from './ir.js';
import { BUDGET } from './cost.js';
import { KeyGroupEnumerator, groupCoords, groupSize, gridRun, queryRuns, runsOfGroups, textKeyRun, type Run } from './keys.js';

/** Largest N for which `denseMask` builds its N×N matrix (N² bytes: 400 MB at the limit; a budget of compiler/cost.ts). */
export const DENSE_MASK_MAX_TOKENS = BUDGET.denseMaskTokens;

/** The run-time valid text length: defaults to the text count, clamped to [0, count]. */
export function resolveValid(ir: PatternIR, valid?: number): number {
  const count = ir.text?.count ?? 0;
  if (valid === undefined) return count;
  if (!Number.isInteger(valid)) throw new RangeError(`valid must be an integer, got ${valid}`);
  return Math.max(0, Math.min(valid, count));
}

/** Key runs of image query group g (its key groups, then the valid text run if the image sees text). */
function imageKeyRuns(ir: PatternIR, keys: KeyGroupEnumerator, g: number, valid: number): Run[] {
  const runs = runsOfGroups(ir, keys.keyGroups(g));
  const text = ir.image.text ? textKeyRun(ir, valid) : null;
  if (text) runs.push(text);
  return runs;
}

/** Key runs shared by every text query row. */
function textQueryKeyRuns(ir: PatternIR, valid: number): Run[] {
  const runs: Run[] = [];
  if (!ir.textQueries) return runs;
  if (ir.textQueries.grid) runs.push(gridRun(ir));
  const text = ir.textQueries.text ? textKeyRun(ir, valid) : null;
  if (text) runs.push(text);
  return runs;
}

/**
 * The dense N×N mask (row = query token, column = key token, memory order), 1 = visible.
 * For tests and small sizes only: throws a RangeError above DENSE_MASK_MAX_TOKENS tokens.
 */
export function denseMask(ir: PatternIR, valid?: number): Uint8Array {
  const N = totalTokens(ir);
  if (N > DENSE_MASK_MAX_TOKENS) {
    throw new RangeError(`denseMask: ${N} tokens is too many for a dense ${N}×${N} mask (limit ${DENSE_MASK_MAX_TOKENS}); use keyCountsPerQueryGroup or the run-based functions`);
  }
  const v = resolveValid(ir, valid);
  const mask = new Uint8Array(N * N);
  const fillRows = (rows: readonly Run[], cols: readonly Run[]): void => {
    for (const r of rows) {
      for (let t = r.start; t < r.start + r.length; t++) {
        for (const c of cols) mask.fill(1, t * N + c.start, t * N + c.start + c.length);
      }
    }
  };
  const keys = new KeyGroupEnumerator(ir);
  for (let g = 0, G = groupCount(ir); g < G; g++) fillRows(queryRuns(ir, g), imageKeyRuns(ir, keys, g, v));
  if (ir.text) fillRows([{ start: textOffset(ir), length: ir.text.count }], textQueryKeyRuns(ir, v));
  return mask;
}

/** Visible key tokens (text included) of every image query group, indexed by group. */
export function keyCountsPerQueryGroup(ir: PatternIR, valid?: number): Int32Array {
  const v = resolveValid(ir, valid);
  const G = groupCount(ir), sizes = groupSizes(ir), keys = new KeyGroupEnumerator(ir);
  const textKeys = ir.image.text ? v : 0;
  const out = new Int32Array(G);
  for (let g = 0; g < G; g++) {
    const kg = keys.keyGroups(g);
    let n = textKeys;
    for (let i = 0; i < kg.length; i++) n += sizes[kg[i]];
    out[g] = n;
  }
  return out;
}

/** Token count of every group, indexed by group. */
export function groupSizes(ir: PatternIR): Int32Array {
  const G = groupCount(ir), out = new Int32Array(G);
  for (let g = 0; g < G; g++) out[g] = groupSize(ir, groupCoords(ir, g));
  return out;
}

export type Layout = 'bhnd' | 'bnhd';

export interface ReferenceOptions {
  /** Valid text length (default: the text count; clamped to [0, count]). */
  readonly valid?: number;
  readonly batch: number;
  readonly heads: number;
  /** bhnd: [batch, heads, tokens, headDim]; bnhd: [batch, tokens, heads, headDim]. Output uses the same. */
  readonly layout: Layout;
  /** Compute only these rows (the rest stay 0): a sampled check of patterns too big for all of them. */
  readonly only?: RowSample;
}

/** Some image query groups' rows and some text query rows (indices into the text, 0-based). */
export interface RowSample {
  readonly groups: readonly number[];
  readonly textRows: readonly number[];
}

/**
 * Visible (query, key) token pairs of a sample's rows: what its reference costs (2 · head_dim
 * multiply-adds each, per batch·head). Enumerates only the sampled groups' keys.
 */
export function samplePairs(ir: PatternIR, only: RowSample, valid?: number): number {
  const v = resolveValid(ir, valid), keys = new KeyGroupEnumerator(ir);
  const width = (runs: readonly Run[]): number => runs.reduce((n, r) => n + r.length, 0);
  let n = 0;
  for (const g of only.groups) n += groupSize(ir, groupCoords(ir, g)) * width(imageKeyRuns(ir, keys, g, v));
  return n + (ir.text ? only.textRows.length * width(textQueryKeyRuns(ir, v)) : 0);
}

/** The token rows a sample covers, as runs (image groups in the order given, then the text rows). */
export function sampleRows(ir: PatternIR, only: RowSample): Run[] {
  const runs = only.groups.flatMap((g) => queryRuns(ir, g));
  if (ir.text) for (const i of only.textRows) runs.push({ start: textOffset(ir) + i, length: 1 });
  return runs;
}

/** Query rows and the key runs they all see: the walk both reference passes take, defined once. */
export interface AttentionBlock {
  readonly rows: readonly Run[];
  readonly cols: readonly Run[];
}

/** Every image query group's rows with its key runs, then the text query rows with theirs (`only`: just those rows). */
export function attentionBlocks(ir: PatternIR, valid: number, only?: RowSample): AttentionBlock[] {
  const keys = new KeyGroupEnumerator(ir);
  const groups = only?.groups ?? Array.from({ length: groupCount(ir) }, (_, g) => g);
  const blocks: AttentionBlock[] = groups.map((g) => ({ rows: queryRuns(ir, g), cols: imageKeyRuns(ir, keys, g, valid) }));
  if (ir.text) {
    const t0 = textOffset(ir);
    const rows = only ? only.textRows.map((i) => ({ start: t0 + i, length: 1 })) : [{ start: t0, length: ir.text.count }];
    blocks.push({ rows, cols: textQueryKeyRuns(ir, valid) });
  }
  return blocks;
}

/** The tokens of some runs, in order. */
export function runTokens(runs: readonly Run[]): Int32Array {
  const out = new Int32Array(runs.reduce((n, r) => n + r.length, 0));
  let j = 0;
  for (const r of runs) for (let t = r.start; t < r.start + r.length; t++) out[j++] = t;
  return out;
}

/**
 * Checks batch, heads, layout and every tensor's length; returns the element count and the
 * addressing: token n of (b, h) starts at base(b, h) + n * stride.
 */
export function tensorAddressing(ir: PatternIR, who: string, tensors: Readonly<Record<string, Floats>>, opts: { readonly batch: number; readonly heads: number; readonly layout: Layout }): { size: number; stride: number; base: (b: number, h: number) => number } {
  const { batch: B, heads: H, layout } = opts;
  const N = totalTokens(ir), D = ir.headDim;
  for (const [name, x] of [['batch', B], ['heads', H]] as const) {
    if (!Number.isInteger(x) || x < 1) throw new RangeError(`${who}: ${name} must be a positive integer, got ${x}`);
  }
  if (layout !== 'bhnd' && layout !== 'bnhd') throw new RangeError(`${who}: unknown layout ${String(layout)}`);
  const size = B * H * N * D;
  for (const [name, x] of Object.entries(tensors)) {
    if (x.length !== size) throw new RangeError(`${who}: ${name} has ${x.length} elements, expected ${size} (batch ${B} × heads ${H} × tokens ${N} × head_dim ${D})`);
  }
  const stride = layout === 'bhnd' ? D : H * D;
  const base = (b: number, h: number): number => (layout === 'bhnd' ? (b * H + h) * N * D : (b * N * H + h) * D);
  return { size, stride, base };
}

export type Floats = Float64Array | Float32Array;

/**
 * One query row's forward, shared by the forward and backward references: p[0..nk) gets the row's
 * softmax over the keys keyIdx (scale · q·k, row max subtracted), o[0..D) gets Σ_j p_j v_j.
 * `qo` is the row's offset, `bh` its (batch, head) base, `stride` the token stride; nk > 0.
 */
export function softmaxRow(q: Floats, k: Floats, v: Floats, qo: number, bh: number, stride: number, keyIdx: Int32Array, D: number, scale: number, p: Float64Array, o: Float64Array): void {
  const nk = keyIdx.length;
  let max = -Infinity;
  for (let j = 0; j < nk; j++) {
    const ko = bh + keyIdx[j] * stride;
    let s = 0;
    for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
    p[j] = s * scale;
    if (p[j] > max) max = p[j];
  }
  let sum = 0;
  for (let j = 0; j < nk; j++) sum += Math.exp(p[j] - max);
  const lse = max + Math.log(sum);
  o.fill(0);
  for (let j = 0; j < nk; j++) {
    p[j] = Math.exp(p[j] - lse);
    const vo = bh + keyIdx[j] * stride;
    for (let d = 0; d < D; d++) o[d] += p[j] * v[vo + d];
  }
}

/**
 * Float64 attention softmax(scale · q kᵀ + mask) v with the mask implied by the IR.
 * O(visible pairs · D): keys are gathered per query group from its runs, never from an N×N mask.
 * Numerically stable (row max subtracted); a row with no visible key outputs exactly 0.
 */
export function referenceAttention(ir: PatternIR, q: Floats, k: Floats, v: Floats, opts: ReferenceOptions): Float64Array {
  const { batch: B, heads: H } = opts;
  const D = ir.headDim, scale = ir.scale;
  const { size, stride, base } = tensorAddressing(ir, 'referenceAttention', { q, k, v }, opts);
  const valid = resolveValid(ir, opts.valid);
  const out = new Float64Array(size);
  let p = new Float64Array(0);
  const o = new Float64Array(D);

  const attendRows = (rows: readonly Run[], cols: readonly Run[]): void => {
    const keyIdx = runTokens(cols), nk = keyIdx.length;
    if (nk === 0) return; // no visible key: the rows stay exactly 0
    if (p.length < nk) p = new Float64Array(nk);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const bh = base(b, h);
        for (const r of rows) {
          for (let t = r.start; t < r.start + r.length; t++) {
            const qo = bh + t * stride;
            softmaxRow(q, k, v, qo, bh, stride, keyIdx, D, scale, p, o);
            out.set(o, qo);
          }
        }
      }
    }
  };

  for (const { rows, cols } of attentionBlocks(ir, valid, opts.only)) attendRows(rows, cols);
  return out;
}

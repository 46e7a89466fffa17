/**
 * The cost model: what a command will do with a checked pattern, measured before it does it, and
 * the one set of budgets beyond which every command refuses (exit 1, one line naming the
 * quantity, the amount, the limit and what to change). Limits bound work and memory, not counts:
 * a predicate of 2,048 comparisons costs 2,048 times a box per key group it is tried on.
 *
 * Everything here is closed form in the IR's sizes (microseconds): per-axis sums, because a
 * term's window is a product of per-axis intervals, so sums over all query groups factorise.
 * Where a closed form only bounds a figure (unions of terms, predicates), a caller that is about
 * to pay for the exact figure anyway (the ONNX lowering's plan) checks that again (`requireAll`).
 */
import type { AxisRange, BoolExpr, Border, Dim, IntExpr, PatternIR, PExpr } from './ir.js';
import { groupCount, hasRuntimeSizes, imageTokens, totalTokens } from './ir.js';
import { closedFormCountable, interiorAlong } from './keys.js';

/**
 * The budgets, each calibrated on the 2-core CI machine (figures in docs/reliability.md) so every
 * bundled example at the sizes the README and tests use stays well inside them.
 */
export const BUDGET = {
  /** CPU steps of one command over the grid: key groups visited, predicate nodes evaluated, box counts (~1-3 s). */
  steps: 3e8,
  /**
   * Bytes of constants in a model's lowered ONNX functions: a FunctionProto cannot move them to
   * external data, and a model must stay under protobuf's 2 GB (the demo's dense reference at its
   * 16,384 tokens is 1 GiB); the lowering peaks at about 3 times this in memory.
   */
  onnxBytes: 1.5 * 2 ** 30,
  /** Nodes of a model's lowered ONNX functions (onnxruntime spends tens of µs per node creating a session). */
  onnxNodes: 100_000,
  /** Elements of the largest tensor a lowered function computes, per batch·head (8 GB of fp32). */
  onnxIntermediate: 2 ** 31,
  /** Multiply-adds of `verify`: the float64 reference plus every run of the backend. */
  verifyMacs: 4e9,
  /** Elements of each of verify's q, k, v (with the float64 copies ~1 GB at the limit). */
  verifyElements: 2 ** 25,
  /** Tokens of a dense N×N mask (`denseMask`: N² bytes; tests and checks only). */
  denseMaskTokens: 20_000,
} as const;

/** One measured quantity against its budget. */
export interface Measure {
  /** What does the work, e.g. "the ONNX lowering". */
  readonly what: string;
  /** The quantity, e.g. "bytes of constant index tensors". */
  readonly quantity: string;
  readonly amount: number;
  readonly limit: number;
  /** What to change, e.g. "use larger groups or a smaller grid". */
  readonly hint: string;
}

/** Work refused by the cost model; the message is one line. */
export class WorkRefused extends Error {
  constructor(readonly measure: Measure) {
    super(refusalLine(measure));
    this.name = 'WorkRefused';
  }
}

/** 4.29e+9, 123,456: counts as people read them. */
export const amount = (n: number): string => (n >= 1e6 ? n.toPrecision(3) : Math.round(n).toLocaleString('en-US'));

export function refusalLine(m: Measure): string {
  return `${m.what} would need ${amount(m.amount)} ${m.quantity} (limit ${amount(m.limit)}); ${m.hint}`;
}

// ---- per-axis closed forms ----

/**
 * Sums over every query coordinate q of one axis (n groups) of what a term's interval there
 * holds: `groups` Σ interval length (key groups visited), `tokens` Σ key tokens covered,
 * `pairs` Σ query tokens × key tokens. Same intervals as keys.ts axisInterval (clip cuts,
 * shift slides inward); the last group of a ragged axis is `r` tokens short.
 */
export interface AxisSums { readonly groups: number; readonly tokens: number; readonly pairs: number }

export function axisSums(range: AxisRange, d: Dim, border: Border): AxisSums {
  const n = d.groups, g = d.group, r = n * g - d.size;
  // lastLen, lastEnds: the interval at q = n-1, and whether it holds the (short) last group
  let groups: number, atEnd: number, lastLen: number, lastEnds = true;
  if (range.kind === 'all') {
    groups = n * n; atEnd = n; lastLen = n;
  } else if (range.lo > range.hi) {
    return { groups: 0, tokens: 0, pairs: 0 };
  } else if (border === 'shift') {
    const w = range.hi - range.lo + 1;
    if (w >= n) { groups = n * n; atEnd = n; lastLen = n; } else {
      groups = n * w;
      // the window reaches the last group once it is slid to start at n - w: q + lo >= n - w
      atEnd = Math.min(n, Math.max(0, n - Math.max(0, n - w - range.lo)));
      lastLen = w;
      lastEnds = range.hi >= 0;
    }
  } else {
    // clip: pairs (q, k) in [0, n)² with lo <= k - q <= hi, i.e. Σ over deltas d of (n - |d|)
    const a = Math.max(range.lo, 1 - n), b = Math.min(range.hi, n - 1);
    groups = a > b ? 0 : seriesNMinusAbs(a, b, n);
    // intervals that end at the last group: q + hi >= n - 1 and q + lo <= n - 1
    atEnd = Math.max(0, Math.min(n - 1, n - 1 - range.lo) - Math.max(0, n - 1 - range.hi) + 1);
    lastLen = Math.max(0, Math.min(n - 1 + range.hi, n - 1) - Math.max(n - 1 + range.lo, 0) + 1);
    lastEnds = range.hi >= 0;
  }
  const tokens = g * groups - r * atEnd;
  // key tokens seen from q = n-1, whose query group is the one r tokens short
  const lastTokens = lastLen > 0 ? g * lastLen - (lastEnds ? r : 0) : 0;
  return { groups, tokens, pairs: g * tokens - r * lastTokens };
}

/** Σ_{d=a}^{b} (n - |d|) for a <= b within [1-n, n-1]. */
function seriesNMinusAbs(a: number, b: number, n: number): number {
  let s = 0;
  const neg = [a, Math.min(b, -1)], pos = [Math.max(a, 0), b];
  if (neg[0] <= neg[1]) { const c = neg[1] - neg[0] + 1; s += c * n + ((neg[0] + neg[1]) * c) / 2; }
  if (pos[0] <= pos[1]) { const c = pos[1] - pos[0] + 1; s += c * n - ((pos[0] + pos[1]) * c) / 2; }
  return s;
}

/**
 * Most key tokens one image query group can see: each term's window is at most its interval's
 * groups along every axis (the whole axis for `all`), the union at most the grid, plus the text.
 */
export function maxKeyTokensPerGroup(ir: PatternIR): number {
  const M = imageTokens(ir);
  const window = (axes: readonly AxisRange[]): number => axes.reduce((n, a, i) => {
    const d = ir.dims[i];
    const w = a.kind === 'all' ? d.groups : Math.max(0, Math.min(a.hi, d.groups - 1) - Math.max(a.lo, 1 - d.groups) + 1);
    return n * Math.min(d.size, w * d.group);
  }, 1);
  const image = ir.image.terms.reduce((n, t) => n + window(t.kind === 'box' ? t.axes : t.bounds), 0);
  return Math.min(M, image) + (ir.image.text ? (ir.text?.count ?? 0) : 0);
}

/** Nodes of a predicate: what one evaluation costs (short-circuits only make it less). */
export function exprNodes(e: PExpr): number {
  const x = e as { readonly a?: PExpr; readonly b?: PExpr };
  return 1 + (x.a ? exprNodes(x.a) : 0) + (x.b ? exprNodes(x.b) : 0);
}

// ---- what a pattern costs ----

/** Per image term: summed over all query groups, exactly (each term on its own). */
export interface TermSums {
  /** Key groups in the term's window (what enumeration visits). */
  readonly visits: number;
  /** Predicate nodes evaluated over those visits (0 for a box). */
  readonly predicateNodes: number;
  /** Key tokens in the window (a box's are all seen; a predicate's at most). */
  readonly keyTokens: number;
  /** Query tokens × key tokens in the window. */
  readonly pairs: number;
}

export function termSums(ir: PatternIR): TermSums[] {
  return ir.image.terms.map((t) => {
    const axes = t.kind === 'box' ? t.axes : t.bounds;
    const border = t.kind === 'box' ? t.border : 'clip';
    let visits = 1, keyTokens = 1, pairs = 1;
    axes.forEach((a, i) => {
      const s = axisSums(a, ir.dims[i], border);
      visits *= s.groups; keyTokens *= s.tokens; pairs *= s.pairs;
    });
    return { visits, keyTokens, pairs, predicateNodes: t.kind === 'predicate' ? visits * exprNodes(t.expr) : 0 };
  });
}

/** Bounds on the pattern's totals over all image query groups (text keys not included). */
export interface PatternCost {
  readonly tokens: number;
  readonly imageTokens: number;
  readonly textCount: number;
  readonly groups: number;
  /** CPU steps to enumerate every query group's key groups once (KeyGroupEnumerator over the grid). */
  readonly sweepSteps: number;
  /** CPU steps of patternStats (for few boxes one closed-form count per class of alike query coordinates, else a sweep). */
  readonly statsSteps: number;
  /** Image key tokens summed over query groups: at least `lo` (the largest box term), at most `hi` (every term's window). */
  readonly keyTokens: Bounds;
  /** Visible (query, key) token pairs, text rows and text keys included: bounds as for keyTokens. */
  readonly pairs: Bounds;
}

export interface Bounds { readonly lo: number; readonly hi: number }

export function patternCost(ir: PatternIR): PatternCost {
  const N = totalTokens(ir), M = imageTokens(ir), G = groupCount(ir), T = ir.text?.count ?? 0;
  const sums = termSums(ir);
  const total = (f: (s: TermSums) => number): number => sums.reduce((n, s) => n + f(s), 0);
  const largestBox = (f: (s: TermSums) => number): number => sums.reduce((n, s, i) => (ir.image.terms[i].kind === 'box' ? Math.max(n, f(s)) : n), 0);
  // A step is 4-8 ns on the 2-core CI machine (measured on box, predicate and 1x1-group patterns): a predicate node
  // is one, a visited key group two (its index, stamp and sort), a query group ~100 (coordinates,
  // arrays) plus ~60 per term (its window); closed-form counting costs per group and term subset.
  const Tn = ir.image.terms.length, D = ir.dims.length;
  const sweepSteps = G * (100 + 60 * Tn) + 2 * total((s) => s.visits) + total((s) => s.predicateNodes);
  // closed form: one count per class of alike query coordinates (patternStats' boxClasses)
  const classes = ir.dims.reduce((n, d, i) => {
    const [lo, hi] = interiorAlong(ir.image.terms.map((t) => (t.kind === 'box' ? t.axes[i] : t.bounds[i])), d.groups);
    return n * (lo <= hi ? d.groups - (hi - lo) : d.groups);
  }, 1);
  const statsSteps = closedFormCountable(ir) ? classes * (100 + 4 * (1 << Tn) * (Tn + 1) * D) : sweepSteps;
  const textKeys = ir.image.text ? T : 0;
  const textRows = ir.text && ir.textQueries ? T * ((ir.textQueries.grid ? M : 0) + (ir.textQueries.text ? T : 0)) : 0;
  const extra = M * textKeys + textRows;
  return {
    tokens: N, imageTokens: M, textCount: T, groups: G, sweepSteps, statsSteps,
    // a group sees at most the whole grid (G·M key tokens over all groups, M·M pairs)
    keyTokens: { lo: largestBox((s) => s.keyTokens), hi: Math.min(total((s) => s.keyTokens), G * M) },
    pairs: { lo: largestBox((s) => s.pairs) + extra, hi: Math.min(total((s) => s.pairs), M * M) + extra },
  };
}

// ---- the jobs of each command ----

const GRID_HINT = 'use larger groups, a smaller grid or narrower where() bounds';

/** The steps a command spends over the grid, against the one steps budget. */
export function stepsMeasure(what: string, steps: number): Measure {
  return { what, quantity: 'steps over the grid (key groups visited, predicate nodes evaluated)', amount: steps, limit: BUDGET.steps, hint: GRID_HINT };
}

/** `inspect`: the statistics, and for a picture one more sweep over every query group's key groups. */
export function inspectWork(ir: PatternIR, opts: { picture: boolean }): Measure[] {
  const c = patternCost(ir);
  return [stepsMeasure('counting the keys of every query group', c.statsSteps + (opts.picture ? c.sweepSteps : 0))];
}

/**
 * What earlier lowerings into the same model already used: a model holding many attentions holds
 * all their functions (one protobuf), so their bytes, nodes and steps count against one budget.
 */
export interface Spent { readonly bytes: number; readonly nodes: number; readonly steps: number; readonly functions: number }
export const NOTHING_SPENT: Spent = { bytes: 0, nodes: 0, steps: 0, functions: 0 };

/** Adds what earlier functions used to a lowering's measures (and says so). */
function plusSpent(ms: Measure[], spent: Spent): Measure[] {
  if (spent.functions === 0) return ms;
  const add: Record<string, number> = { bytes: spent.bytes, nodes: spent.nodes, steps: spent.steps };
  const key = (m: Measure): string => (m.quantity.startsWith('bytes') ? 'bytes' : m.quantity === 'nodes' ? 'nodes' : m.quantity.startsWith('steps') ? 'steps' : '');
  const also = ` (with the ${spent.functions} function${spent.functions === 1 ? '' : 's'} lowered before it)`;
  return ms.map((m) => (add[key(m)] ? { ...m, what: m.what + also, amount: m.amount + add[key(m)] } : m));
}

/** The shape of the ONNX lowering's output, as the cost model counts it (codegen/onnx/lower.ts). */
export interface OnnxShape {
  /**
   * Buckets of image query groups: groups, padded query rows and key slots per group, groups per
   * chunk, and whether some group is padded (its groups' key counts differ).
   */
  readonly buckets: readonly { readonly groups: number; readonly queryLen: number; readonly keyLen: number; readonly chunk: number; readonly padded: boolean }[];
  readonly tokens: number;
  /** Text query rows and the keys each sees (0 when there are none). */
  readonly textRows: number;
  readonly textKeys: number;
  /** Whether the function takes `text_valid` (per-slot text positions are then constants too). */
  readonly textValid: boolean;
  /** Image groups gather text keys; some group gathers only text keys. */
  readonly textSlots: boolean;
  readonly textOnly: boolean;
}

/**
 * Upper bounds on what the lowering emits for a shape: per chunk at most 24 nodes; per key slot
 * 8 bytes (index), + 4 (padding bias) where a bucket is padded, + 4 (text position, float32) where
 * text keys and text_valid are, + 4 (keep mask) where a group sees only text; per query row 8.
 * test/cost.test.ts checks them against the lowering's actual output.
 */
export const ONNX_NODES_PER_CHUNK = 24;
const ONNX_FIXED_NODES = 40;

export function onnxMeasures(s: OnnxShape, what = 'the ONNX lowering', spent: Spent = NOTHING_SPENT): Measure[] {
  let bytes = 8 * s.tokens + 4096, nodes = ONNX_FIXED_NODES, largest = s.textRows * s.textKeys;
  const text = s.textValid && s.textSlots ? 4 + (s.textOnly ? 4 : 0) : 0;
  for (const b of s.buckets) {
    const chunks = Math.ceil(b.groups / b.chunk);
    bytes += b.groups * (8 * b.queryLen + (8 + (b.padded ? 4 : 0) + text) * b.keyLen) + 64 * chunks;
    nodes += ONNX_NODES_PER_CHUNK * chunks;
    largest = Math.max(largest, Math.min(b.chunk, b.groups) * b.queryLen * b.keyLen);
  }
  if (s.textValid) bytes += 4 * s.textKeys;
  const hint = 'use larger groups, fewer keys per group or a smaller grid';
  return plusSpent([
    { what, quantity: 'bytes of constants (index tensors)', amount: bytes, limit: BUDGET.onnxBytes, hint },
    { what, quantity: 'nodes', amount: nodes, limit: BUDGET.onnxNodes, hint: 'use larger groups or a smaller grid' },
    { what, quantity: 'elements in its largest intermediate tensor per batch·head', amount: largest, limit: BUDGET.onnxIntermediate, hint: 'use fewer text tokens or a smaller grid' },
  ], spent);
}

/** Nodes codegen/onnx/lower_runtime.ts emits at most to evaluate a predicate (boolOf/intOf: `/` and `%` take 6, `!=` 2, the rest 1 or a shared constant). */
function predicateNodes(e: IntExpr | BoolExpr): number {
  switch (e.op) {
    case 'int': case 'bool': case 'var': return 1;
    case 'neg': case 'abs': case 'not': return 1 + predicateNodes(e.a);
    default: return (e.op === '/' || e.op === '%' ? 6 : e.op === '!=' ? 2 : 1) + predicateNodes(e.a) + predicateNodes(e.b);
  }
}

/**
 * An upper bound on the nodes codegen/onnx/lower_runtime.ts (lowerRuntime) emits, from the IR alone (test/onnx.runtime.test.ts
 * checks it against the output): sizes, query rows and the assembly, then per term its windows,
 * predicate and token slots, and per pair of terms the earlier term's ownership test (which
 * evaluates the earlier predicate at the later term's slots: quadratic in the terms).
 */
export function runtimeNodeBound(ir: PatternIR): number {
  const R = ir.dims.length, terms = ir.image.terms;
  const P = terms.map((t) => (t.kind === 'predicate' ? predicateNodes(t.expr) : 0));
  let n = 200 + 20 * R * R;
  terms.forEach((_, t) => {
    n += 40 + 20 * R + R * R + P[t];
    for (let j = 0; j < t; j++) n += 6 * R + 2 + P[j];
  });
  return n;
}

/** The run-time ONNX lowering's work before it is built: its nodes (its constants are a few kB at any size). */
export function onnxRuntimeWork(ir: PatternIR, spent: Spent = NOTHING_SPENT): Measure[] {
  const earlier = spent.functions ? ` (with the ${spent.functions} function${spent.functions === 1 ? '' : 's'} lowered before it)` : '';
  return [{ what: `the ONNX lowering for sizes taken at run time${earlier}`, quantity: 'nodes', amount: runtimeNodeBound(ir) + spent.nodes, limit: BUDGET.onnxNodes, hint: 'use fewer or simpler region terms (each term tests every earlier one)' }];
}

/**
 * The lowering before it runs: lower bounds from the IR alone (the inverse index, every image
 * token's query row, the keys of the largest box term and the text keys every image group
 * gathers, the text rows' scores), so hopeless sizes are refused in microseconds. The lowering
 * checks its exact shape again once planned (onnxMeasures), before it allocates.
 */
export function onnxWork(ir: PatternIR, opts: { textValid: boolean }, what = 'the ONNX lowering', spent: Spent = NOTHING_SPENT): Measure[] {
  const c = patternCost(ir), T = c.textCount;
  const imageText = ir.image.text ? T : 0;
  const valid = opts.textValid && ir.text !== null;
  const tq = ir.textQueries;
  const textKeys = ir.text && T > 0 && tq ? (tq.grid ? c.imageTokens : 0) + (tq.text ? T : 0) : 0;
  const textSlots = c.groups * imageText;
  const bytes = 8 * c.tokens // the inverse index
    + 8 * (c.keyTokens.lo + textSlots) // key indices
    + (valid ? 8 * textSlots : 0) // text positions of those slots
    + (imageText > 0 ? 8 * c.imageTokens : 0) // every image token is a query row once every group sees text
    + (valid && tq?.text ? 8 * textKeys : 0);
  const [b, , largest] = onnxMeasures({ buckets: [], tokens: 0, textRows: textKeys > 0 ? T : 0, textKeys, textValid: false, textSlots: false, textOnly: false }, what);
  return plusSpent([stepsMeasure(what, onnxSteps(ir)), { ...b, amount: bytes }, largest], spent);
}

/** Steps of the sparse lowering: its plan and its fill each enumerate every query group's keys. */
export const onnxSteps = (ir: PatternIR): number => 2 * patternCost(ir).sweepSteps;

/** `patch --dense-mask`: an N×N float bias constant and the N×N scores. */
export function denseOnnxWork(ir: PatternIR, spent: Spent = NOTHING_SPENT): Measure[] {
  const N = totalTokens(ir);
  const what = 'the dense-mask lowering';
  return plusSpent([
    { what, quantity: 'tokens (an N×N mask is built first)', amount: N, limit: BUDGET.denseMaskTokens, hint: 'use the sparse lowering (drop --dense-mask) or a smaller model' },
    { what, quantity: 'bytes of constants (the N×N mask)', amount: 4 * N * N + 4 * N, limit: BUDGET.onnxBytes, hint: 'use the sparse lowering (drop --dense-mask) or a smaller model' },
    { what, quantity: 'elements in its largest intermediate tensor per batch·head', amount: N * N, limit: BUDGET.onnxIntermediate, hint: 'use the sparse lowering (drop --dense-mask)' },
    stepsMeasure(what, N * N),
  ], spent);
}

/** `compile --target T` up front: the manifest's statistics plus the target's own work. */
export function compileWork(ir: PatternIR, target: string): Measure[] {
  // sizes taken at launch: no statistics (they need the sizes), and only the CUDA backend takes them
  if (hasRuntimeSizes(ir)) return [stepsMeasure(`compile --target ${target}`, 0)];
  const c = patternCost(ir);
  const what = `compile --target ${target}`;
  const stats = stepsMeasure(`${what} (with the manifest's statistics)`, c.statsSteps + (target === 'onnx' ? onnxSteps(ir) : 0));
  if (target !== 'onnx') return [stats];
  return [stats, ...onnxWork(ir, { textValid: ir.text !== null }, what).slice(1)];
}

/**
 * `verify`: the float64 reference on the CPU computes each visible pair's q·k and p·v (2 ·
 * head_dim multiply-adds) per batch·head, for every row or, with `sample`, for that many query
 * groups and text rows; `cpuRuns` backend runs on the CPU (onnxruntime's CPU EP) compute
 * every pair again. GPU runs are the device's business. Pairs come from the closed-form bound;
 * where that is over the budget, `exactPairs` (the statistics, when affordable) decides.
 */
export function verifyWork(
  ir: PatternIR,
  opts: { batch: number; heads: number; sample?: number; cpuRuns: number; gridFromFlag?: boolean; samplePairs?: (n: number) => number },
  exactPairs?: () => number,
): Measure[] {
  const c = patternCost(ir);
  const bh = opts.batch * opts.heads, D = ir.headDim;
  // the pairs of `--sample n`'s rows: exact when the caller can count them (a few groups), else
  // n query groups × the most keys a group can see, and n text rows × what a text row sees
  const sampled = (n: number): number => {
    if (opts.samplePairs) return opts.samplePairs(n);
    const groupTokens = ir.dims.reduce((k, d) => k * Math.min(d.group, d.size), 1);
    const textRows = ir.text && ir.textQueries ? Math.min(n, c.textCount) * ((ir.textQueries.grid ? c.imageTokens : 0) + (ir.textQueries.text ? c.textCount : 0)) : 0;
    return Math.min(n, c.groups) * groupTokens * maxKeyTokensPerGroup(ir) + textRows;
  };
  const macsOf = (pairs: number, sample = opts.sample): number =>
    2 * D * bh * ((sample === undefined ? pairs : Math.min(pairs, sampled(sample))) + opts.cpuRuns * pairs);
  let pairs = c.pairs.hi;
  let macs = macsOf(pairs);
  if (macs > BUDGET.verifyMacs && exactPairs && c.statsSteps <= BUDGET.steps) macs = macsOf((pairs = exactPairs()));
  // the --sample to suggest: the largest of 8, 4, 2, 1 that would fit, if any
  const n = opts.sample === undefined ? [8, 4, 2, 1].find((s) => macsOf(pairs, s) <= BUDGET.verifyMacs) : undefined;
  const sampleHint = n === undefined ? '' : `, or --sample ${n} to check ${n} query group${n > 1 ? 's' : ''}${ir.text ? ` and ${n} text row${n > 1 ? 's' : ''}` : ''} only`;
  const what = `verify (the float64 reference${opts.cpuRuns > 0 ? ' and the CPU run' : ''})`;
  return [
    { what: 'verify', quantity: 'elements per q/k/v tensor', amount: bh * c.tokens * D, limit: BUDGET.verifyElements, hint: 'use a smaller --grid, --batch or --heads' },
    // a grid fixed in the file cannot be made smaller from the command line: then --sample is the way
    { what, quantity: 'multiply-adds', amount: macs, limit: BUDGET.verifyMacs, hint: `use a smaller ${opts.gridFromFlag === false ? '' : '--grid, '}--batch or --heads${sampleHint}` },
  ];
}

/** The first measure over its limit, or null. */
export const firstOver = (ms: readonly Measure[]): Measure | null => ms.find((m) => !(m.amount <= m.limit)) ?? null;

/** Throws WorkRefused for the first measure over its limit. */
export function requireAll(ms: readonly Measure[]): void {
  const m = firstOver(ms);
  if (m) throw new WorkRefused(m);
}

/**
 * The pattern's attention for sizes given at run time (issue 18): one ONNX function that serves
 * every grid size (and text count) a `?` leaves open, so one model serves several resolutions.
 *
 *   y = ai.grat.<name>(q, k, v [, key_bias] [, text_valid] [, grid])     q, k, v, y: [B, H, N, D]
 *
 * The sizes come from the graph: `grid` (int64 [rank], every dim outermost first; a fixed dim's
 * entry must equal the pattern's) when two or more sizes are open, else from N (one open grid
 * size: (N - text) / the fixed dims; an open text count: N - grid tokens). Nothing is constant but
 * the pattern's structure: every index tensor of lower.ts (query rows, key slots, the inverse) is
 * computed in the graph from the sizes, by the closed form of compiler/keys.ts:
 *   query groups g (all of them, one batched chain) x their Q = prod(group) rows (rows past a
 *   ragged edge are padding) x key slots: per term, the window of key groups (offset ranges have
 *   a fixed width; `all` spans the axis) x Q tokens each, masked where a slot lies outside the
 *   grid, outside a clipped window, fails the predicate, or belongs to an earlier term (first-term
 *   ownership, as the kernels' cursor); then the valid text keys.
 * Predicates are evaluated per slot on int64 with the checker's semantics (floor / and %, a zero
 * divisor gives 0). Text queries attend their keys densely, as in lower.ts. A final ScatterElements
 * builds the inverse row index, and one Gather puts rows in the model's token order.
 *
 * What it costs instead of lower.ts's: no constants (the model is a few kB whatever the size), but
 * one chain over all groups padded to the widest window (no buckets by key count, no query chunks),
 * so it computes more and its intermediates are larger: G·Q·K scores per batch·head. Sizes that do
 * not add up (N ≠ grid tokens + text, a fixed dim given another size, k not as long as q) fail in
 * onnxruntime (a Reshape of the wrong element count), never silently.
 */
import { create } from '@bufbuild/protobuf';
import { FunctionProtoSchema, OperatorSetIdProtoSchema, StringStringEntryProtoSchema, type NodeProto } from 'onnx-buf';
import type { AxisRange, BoolExpr, IntExpr, PatternIR } from '../../compiler/ir.js';
import { specHashOf } from '../../compiler/plan.js';
import { NOTHING_SPENT, onnxRuntimeWork, requireAll, type Spent } from '../../compiler/cost.js';
import { DT, node, tensorF32, tensorI64, type AttrValue } from './tensor.js';
import { GRAT_DOMAIN, type LowerOptions, type Lowered } from './lower.js';

/** Which sizes are taken at run time (compiler/ir.ts RuntimeSizes without the maxima). */
export interface RuntimeSpec {
  readonly dims: readonly boolean[];
  readonly text: boolean;
}

/** Bump when the emitted body changes for the same pattern and options. */
export const RUNTIME_GENERATOR = 'onnx-rt/3';

const NEG = -1e30;

/** Whether the function takes a `grid` input (else every open size follows from N). */
export const needsGridInput = (rt: RuntimeSpec): boolean => {
  const open = rt.dims.filter((x) => x).length;
  return open >= 2 || (open === 1 && rt.text);
};

/** The name: `<pattern>_rt_<hash10>` over the pattern without its open sizes, the options and the generator. */
export function runtimeFunctionName(ir: PatternIR, rt: RuntimeSpec, opts: LowerOptions): string {
  const identity = {
    generator: RUNTIME_GENERATOR,
    dims: ir.dims.map((d, i) => ({ name: d.name, group: d.group, size: rt.dims[i] ? null : d.size })),
    order: ir.order,
    text: ir.text ? { place: ir.text.place, count: rt.text ? null : ir.text.count } : null,
    image: ir.image, textQueries: ir.textQueries, headDim: ir.headDim,
    options: { elemType: opts.elemType, opset: opts.opset, scale: opts.scale ?? ir.scale, keyBias: !!opts.keyBias, textValid: !!opts.textValid && !!ir.text },
  };
  return `${ir.name}_rt_${specHashOf(identity).slice(0, 10)}`;
}

type Sc = number | string; // an int64 scalar: folded in TypeScript, or a 0-d tensor of the graph

/**
 * Lowers `ir` with the sizes `rt` marks open taken from the graph. The IR's sizes of open dims
 * (and its text count when open) are not used; its terms must hold for every size (as the
 * checker's run-time IR guarantees: bounds and predicates proved over every size up to the maxima).
 * `maxBuckets` and `queryChunk` do not apply (one chain).
 */
export function lowerRuntime(ir: PatternIR, rt: RuntimeSpec, opts: LowerOptions, spent: Spent = NOTHING_SPENT): Lowered {
  // its constants are a few kB whatever the sizes; its nodes grow with the terms (pairwise ownership)
  requireAll(onnxRuntimeWork(ir, spent));
  const R = ir.dims.length, D = ir.headDim;
  if (rt.dims.length !== R) throw new Error(`runtime dims: ${rt.dims.length} flags for a ${R}-D grid`);
  const scale = opts.scale ?? ir.scale;
  const nodes: NodeProto[] = [];
  let uid = 0, bytes = 0;
  const fresh = (base: string): string => `${base}_${uid++}`;
  const op = (type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string => {
    const out = outName ?? fresh(type.toLowerCase());
    nodes.push(node(type, inputs, [out], attrs));
    return out;
  };
  const consts = new Map<string, string>();
  const constant = (key: string, make: (name: string) => ReturnType<typeof tensorF32>): string => {
    let name = consts.get(key);
    if (!name) {
      name = fresh('c');
      const t = make(name);
      nodes.push(node('Constant', [], [name], { value: t }));
      bytes += t.rawData.length;
      consts.set(key, name);
    }
    return name;
  };
  const i64 = (x: number): string => constant(`i${x}`, (n) => tensorI64(n, [], [x]));
  const vec = (xs: readonly number[]): string => constant(`v${xs.join(',')}`, (n) => tensorI64(n, [xs.length], xs));
  const f32 = (x: number): string => constant(`f${x}`, (n) => tensorF32(n, [], [x]));
  const sc = (x: Sc): string => (typeof x === 'number' ? i64(x) : x);
  const bin = (type: string, fold: (a: number, b: number) => number) => (a: Sc, b: Sc): Sc =>
    typeof a === 'number' && typeof b === 'number' ? fold(a, b) : op(type, [sc(a), sc(b)]);
  const add = bin('Add', (a, b) => a + b), sub = bin('Sub', (a, b) => a - b), mul = bin('Mul', (a, b) => a * b);
  const div = bin('Div', (a, b) => Math.trunc(a / b)), min = bin('Min', Math.min), max = bin('Max', Math.max);
  const prod = (xs: readonly Sc[]): Sc => xs.reduce<Sc>((p, x) => mul(p, x), 1);
  const unsq = (x: string, axes: readonly number[]): string => (axes.length ? op('Unsqueeze', [x, vec(axes)]) : x);
  /** A 1-D shape tensor from scalars. */
  const shapeOf = (xs: readonly Sc[]): string =>
    xs.every((x) => typeof x === 'number') ? vec(xs as number[]) : op('Concat', xs.map((x) => unsq(sc(x), [0])), { axis: 0 });
  /** 0 .. n-1 as a 1-D tensor. */
  const range = (n: Sc): string => (typeof n === 'number' ? vec(Array.from({ length: n }, (_, i) => i)) : op('Range', [i64(0), n, i64(1)]));
  const and = (a: string | null, b: string): string => (a ? op('And', [a, b]) : b);

  const lowp = opts.elemType !== DT.FLOAT;
  const textValid = !!opts.textValid && !!ir.text;
  const gridInput = needsGridInput(rt);
  const inputs = ['q', 'k', 'v', ...(opts.keyBias ? ['key_bias'] : []), ...(textValid ? ['text_valid'] : []), ...(gridInput ? ['grid'] : [])];
  const asF32 = (x: string): string => (lowp ? op('Cast', [x], { to: DT.FLOAT }) : x);
  // the scale multiplies q once, not the G·Q·K scores (as lower.ts: the WebGPU EP does not fuse it)
  const q = scale === 1 ? asF32('q') : op('Mul', [asF32('q'), f32(scale)]), k = asF32('k'), v = asF32('v');
  const kb = opts.keyBias ? asF32('key_bias') : null;

  // ---- sizes ----
  const N = op('Gather', [op('Shape', ['q']), i64(2)]); // 0-d
  const fixedText = ir.text && !rt.text ? ir.text.count : 0;
  const fixedProd = ir.dims.reduce((p, d, i) => (rt.dims[i] ? p : p * d.size), 1);
  const n: Sc[] = ir.dims.map((d, i) => {
    if (gridInput) {
      const given = op('Gather', ['grid', i64(i)]);
      if (rt.dims[i]) return given;
      // a fixed dim's entry must be its size: a Reshape of `given` elements to [size] fails otherwise
      return op('Size', [op('Reshape', [op('ConstantOfShape', [unsq(given, [0])]), vec([d.size])])]);
    }
    return rt.dims[i] ? div(sub(N, fixedText), fixedProd) : d.size;
  });
  const M = prod(n);
  const T: Sc = !ir.text ? 0 : rt.text ? sub(N, M) : ir.text.count;
  const before = ir.text?.place === 'before';
  const imageOff: Sc = before ? T : 0, textOff: Sc = before ? 0 : M;
  const g = ir.dims.map((d) => d.group);
  const G: Sc[] = n.map((x, i) => div(add(x, g[i] - 1), g[i]));
  // N must be grid + text (a grid input that does not add up, or an open size N does not divide),
  // and k as long as q (a patched attention whose lengths are symbolic): a Reshape of N (of k's
  // length) elements to [M + T] fails otherwise; every later use of N goes through both
  const mustBe = (len: string): string => op('Size', [op('Reshape', [op('ConstantOfShape', [unsq(len, [0])]), unsq(sc(add(M, T)), [0])])]);
  const Nchk = op('Max', [mustBe(N), mustBe(op('Gather', [op('Shape', ['k']), i64(2)]))]);

  // ---- query groups: flat index → coordinates, [G, 1, ..., 1] (rank + 1 dims) ----
  const Gt = prod(G);
  const gi = range(Gt);
  const qcFlat: string[] = [];
  for (let a = 0; a < R; a++) {
    const stride = prod(G.slice(a + 1));
    const x = stride === 1 ? gi : op('Div', [gi, sc(stride)]);
    qcFlat.push(a === 0 ? x : op('Mod', [x, sc(G[a])], { fmod: 0 }));
  }
  const qc = qcFlat.map((x) => unsq(x, Array.from({ length: R }, (_, i) => i + 1)));

  // offsets of a group's Q tokens along each axis, last axis fastest
  const Q = g.reduce((p, x) => p * x, 1);
  const local = g.map((_, a) => {
    const inner = g.slice(a + 1).reduce((p, x) => p * x, 1);
    return Array.from({ length: Q }, (_, i) => Math.floor(i / inner) % g[a]);
  });

  /**
   * Sequence index and validity of tokens: group coordinates `c[a]` (shape S + [1]) and local
   * offsets `off[a]` (a constant broadcasting to S + [Q]) → S + [Q]. compiler/keys.ts tokenIndex.
   */
  const tokens = (c: readonly string[], off: readonly string[]): { idx: string; valid: string } => {
    const p = c.map((x, a) => op('Add', [op('Mul', [x, i64(g[a])]), off[a]]));
    let valid: string | null = null;
    p.forEach((x, a) => { valid = and(valid, op('Less', [x, sc(n[a])])); });
    let idx: string;
    if (ir.order === 'raster') {
      idx = p.reduce<string | null>((acc, x, a) => {
        const stride = prod(n.slice(a + 1));
        const term = stride === 1 ? x : op('Mul', [x, sc(stride)]);
        return acc ? op('Add', [acc, term]) : term;
      }, null)!;
    } else {
      // grouped: the tokens of the groups before c (ragged-safe), then the offset inside c's group
      const len = c.map((x, a) => op('Min', [i64(g[a]), op('Sub', [sc(n[a]), op('Mul', [x, i64(g[a])])])]));
      let start: string | null = null;
      for (let i = 0; i < R; i++) {
        let t = op('Min', [op('Mul', [c[i], i64(g[i])]), sc(n[i])]);
        for (let j = 0; j < i; j++) t = op('Mul', [t, len[j]]);
        const after = prod(n.slice(i + 1));
        if (after !== 1) t = op('Mul', [t, sc(after)]);
        start = start ? op('Add', [start, t]) : t;
      }
      let lin: string | null = null;
      for (let a = 0; a < R; a++) lin = lin ? op('Add', [op('Mul', [lin, len[a]]), off[a]]) : off[a];
      idx = op('Add', [start!, lin!]);
    }
    if (imageOff !== 0) idx = op('Add', [idx, sc(imageOff)]);
    return { idx, valid: valid! };
  };

  // ---- query rows: [G, Q] ----
  const qrows = tokens(qcFlat.map((x) => unsq(x, [1])), local.map((l) => unsq(vec(l), [0])));
  const qidx = op('Where', [qrows.valid, qrows.idx, i64(0)]);

  // ---- key slots, term by term ----
  interface Window { readonly lo: string | null; readonly width: Sc; readonly kg: string; readonly inside: string | null }
  const axisShape = (a: number): number[] => Array.from({ length: R }, (_, i) => i).filter((i) => i !== a).map((i) => i + 1);
  const windowOf = (r: AxisRange, border: 'clip' | 'shift', a: number): Window | null => {
    // J: 0 .. width-1 along axis a + 1 of [G, W_0, ..., W_{R-1}]
    const along = (x: string): string => unsq(x, [0, ...axisShape(a)]);
    if (r.kind === 'all') return { lo: null, width: G[a], kg: along(range(G[a])), inside: null };
    if (r.lo > r.hi) return null;
    // bounded by the largest group count a launch may have (the IR's): a clipped delta past
    // ±(groups - 1) names no key group; a shifted window at least that wide is the whole axis
    const most = ir.dims[a].groups;
    if (border === 'shift' && r.hi - r.lo + 1 >= most) return windowOf({ kind: 'all' }, border, a);
    if (border === 'clip') {
      const lo = Math.max(r.lo, 1 - most), hi = Math.min(r.hi, most - 1);
      if (lo > hi) return null;
      r = { kind: 'offset', lo, hi };
    }
    const W = r.hi - r.lo + 1, J = along(range(W));
    if (border === 'shift') {
      const start = op('Max', [op('Min', [op('Max', [op('Add', [qc[a], i64(r.lo)]), i64(0)]), sc(sub(G[a], W))]), i64(0)]);
      const kg = op('Add', [start, J]);
      return { lo: start, width: W, kg, inside: op('Less', [kg, sc(G[a])]) };
    }
    const lo = op('Add', [qc[a], i64(r.lo)]), kg = op('Add', [lo, J]);
    return { lo, width: W, kg, inside: op('And', [op('GreaterOrEqual', [kg, i64(0)]), op('Less', [kg, sc(G[a])])]) };
  };

  // predicates per slot, on int64 (compiler/predicate.ts semantics)
  type Env = { q: readonly string[]; k: readonly string[] };
  const intOf = (e: IntExpr, env: Env): string => {
    switch (e.op) {
      case 'int': return i64(e.value);
      case 'var': return e.ref === 'q' ? env.q[e.axis] : e.ref === 'k' ? env.k[e.axis] : e.ref === 'n' ? sc(G[e.axis]) : op('Sub', [env.k[e.axis], env.q[e.axis]]);
      case 'neg': return op('Neg', [intOf(e.a, env)]);
      case 'abs': return op('Abs', [intOf(e.a, env)]);
    }
    const a = intOf(e.a, env), b = intOf(e.b, env);
    switch (e.op) {
      case '+': return op('Add', [a, b]);
      case '-': return op('Sub', [a, b]);
      case '*': return op('Mul', [a, b]);
      case 'min': return op('Min', [a, b]);
      case 'max': return op('Max', [a, b]);
    }
    // floor division and modulo; a zero divisor gives 0
    const zero = op('Equal', [b, i64(0)]), b1 = op('Where', [zero, i64(1), b]);
    const m = op('Mod', [a, b1], { fmod: 0 }); // integer Mod takes the divisor's sign: a floor modulo
    return op('Where', [zero, i64(0), e.op === '%' ? m : op('Div', [op('Sub', [a, m]), b1])]);
  };
  const CMP = { '==': 'Equal', '<': 'Less', '<=': 'LessOrEqual', '>': 'Greater', '>=': 'GreaterOrEqual' } as const;
  const boolOf = (e: BoolExpr, env: Env): string => {
    switch (e.op) {
      case 'bool': return op('Cast', [i64(e.value ? 1 : 0)], { to: DT.BOOL });
      case 'not': return op('Not', [boolOf(e.a, env)]);
      case '&&': return op('And', [boolOf(e.a, env), boolOf(e.b, env)]);
      case '||': return op('Or', [boolOf(e.a, env), boolOf(e.b, env)]);
      case '!=': return op('Not', [op('Equal', [intOf(e.a, env), intOf(e.b, env)])]);
      default: return op(CMP[e.op], [intOf(e.a, env), intOf(e.b, env)]);
    }
  };

  interface LoweredTerm { readonly windows: readonly Window[]; readonly expr: BoolExpr | null }
  const done: LoweredTerm[] = [];
  const kidxParts: string[] = [], kvalidParts: string[] = [];
  for (const t of ir.image.terms) {
    const ranges = t.kind === 'box' ? t.axes : t.bounds, border = t.kind === 'box' ? t.border : 'clip';
    const ws = ranges.map((r, a) => windowOf(r, border, a));
    if (ws.some((w) => w === null)) continue; // an empty window: the term sees nothing
    const windows = ws as Window[];
    const kg = windows.map((w) => w.kg);
    let valid: string | null = null;
    for (const w of windows) if (w.inside) valid = and(valid, w.inside);
    const expr = t.kind === 'predicate' ? t.expr : null;
    if (expr) valid = and(valid, boolOf(expr, { q: qc, k: kg }));
    // first-term ownership: a key group an earlier term holds is that term's
    for (const e of done) {
      let held: string | null = null;
      e.windows.forEach((w, a) => {
        if (w.lo === null) return; // `all`: every key group of the axis
        const d = op('Sub', [kg[a], w.lo]);
        held = and(held, op('And', [op('GreaterOrEqual', [d, i64(0)]), op('Less', [d, sc(w.width)])]));
      });
      if (e.expr) held = and(held, boolOf(e.expr, { q: qc, k: kg }));
      valid = held ? and(valid, op('Not', [held])) : op('Cast', [i64(0)], { to: DT.BOOL }); // an earlier term holding everything leaves nothing
    }
    done.push({ windows, expr });
    // slots [G, S] (S = prod of widths), then their Q tokens each: [G, S, Q] → [G, S·Q]
    const full = shapeOf([Gt, ...windows.map((w) => w.width)]);
    const S = prod(windows.map((w) => w.width));
    const flat = (x: string): string => op('Reshape', [op('Expand', [x, full]), shapeOf([Gt, S, 1])]);
    const slotValid = flat(valid ?? op('Cast', [i64(1)], { to: DT.BOOL }));
    const kt = tokens(kg.map(flat), local.map((l) => unsq(vec(l), [0, 1])));
    const two = shapeOf([Gt, mul(S, Q)]);
    kidxParts.push(op('Reshape', [kt.idx, two]));
    kvalidParts.push(op('Reshape', [op('And', [kt.valid, slotValid]), two]));
  }
  const imageSlots = kidxParts.length;
  // the valid text keys (text positions: -1 for image slots, j for text key j)
  const hasTextKeys = !!ir.text && ir.image.text;
  let kpos: string | null = null;
  if (hasTextKeys) {
    const tj = unsq(range(T), [0]); // [1, T]
    const gT = shapeOf([Gt, T]);
    kidxParts.push(op('Expand', [op('Add', [tj, sc(textOff)]), gT]));
    kvalidParts.push(op('Expand', [op('Cast', [i64(1)], { to: DT.BOOL }), gT]));
    const imgPos = kidxParts.slice(0, imageSlots).map((x) => op('Expand', [i64(-1), op('Shape', [x])]));
    kpos = op('Concat', [...imgPos, op('Expand', [tj, gT])], { axis: 1 });
  }
  const cat1 = (xs: string[]): string => (xs.length === 1 ? xs[0] : op('Concat', xs, { axis: 1 }));
  const valid = textValid ? op('Max', ['text_valid', i64(0)]) : null; // a scalar, [1] or [batch]
  const validAs = (rank: number): string => op('Reshape', [valid!, vec([-1, ...Array(rank - 1).fill(1)])]);

  const parts: string[] = [];
  if (kidxParts.length > 0) {
    const kvalid = cat1(kvalidParts);
    const kidx = op('Where', [kvalid, cat1(kidxParts), i64(0)]);
    let vis = unsq(kvalid, [0, 1, 3]); // [1, 1, G, 1, K]
    if (valid && kpos) vis = op('And', [vis, op('Less', [unsq(kpos, [0, 1, 3]), validAs(5)])]); // [B|1, 1, G, 1, K]
    const Qg = op('Gather', [q, qidx], { axis: 2 }); // [B, H, G, Q, D]
    const Kg = op('Gather', [k, kidx], { axis: 2 }); // [B, H, G, K, D]
    const Vg = op('Gather', [v, kidx], { axis: 2 });
    let S = op('MatMul', [Qg, op('Transpose', [Kg], { perm: [0, 1, 2, 4, 3] })]);
    S = op('Add', [S, op('Where', [vis, f32(0), f32(NEG)])]);
    if (kb) S = op('Add', [S, op('Transpose', [op('Gather', [kb, kidx], { axis: 3 })], { perm: [0, 1, 3, 2, 4] })]);
    // a row that sees no key outputs 0 (its softmax over NEG alone would be uniform)
    const P = op('Mul', [op('Softmax', [S], { axis: -1 }), op('Cast', [vis], { to: DT.FLOAT })]);
    parts.push(op('Reshape', [op('MatMul', [P, Vg]), vec([0, 0, -1, D])]));
  } else {
    parts.push(op('Reshape', [op('Mul', [op('Gather', [q, qidx], { axis: 2 }), f32(0)]), vec([0, 0, -1, D])]));
  }

  // ---- text queries: every text row sees the same keys, densely (lower.ts) ----
  const tq = ir.textQueries;
  if (ir.text && tq) {
    const slice = (x: string, start: Sc, len: Sc, axis: number): string =>
      op('Slice', [x, unsq(sc(start), [0]), unsq(sc(add(start, len)), [0]), vec([axis])]);
    const Qt = slice(q, textOff, T, 2);
    if (!tq.grid && !tq.text) {
      parts.push(op('Mul', [Qt, f32(0)]));
    } else {
      const sel: [Sc, Sc] | null = tq.grid && tq.text ? null : tq.grid ? [imageOff, M] : [textOff, T];
      const kSel = sel ? slice(k, sel[0], sel[1], 2) : k, vSel = sel ? slice(v, sel[0], sel[1], 2) : v;
      let S = op('MatMul', [Qt, op('Transpose', [kSel], { perm: [0, 1, 3, 2] })]); // [B, H, T, L]
      let keep: string | null = null;
      if (valid && tq.text) {
        const pos = sel ? range(T) : op('Sub', [range(Nchk), sc(textOff)]); // text position of each key
        let visible = op('Less', [pos, validAs(4)]);
        if (!sel) visible = op('Or', [visible, op('Or', [op('Less', [pos, i64(0)]), op('GreaterOrEqual', [pos, sc(T)])])]);
        S = op('Add', [S, op('Where', [visible, f32(0), f32(NEG)])]);
        if (!tq.grid) keep = op('Cast', [visible], { to: DT.FLOAT }); // rows that see only text see nothing at length 0
      }
      if (kb) S = op('Add', [S, sel ? slice(kb, sel[0], sel[1], 3) : kb]);
      let P = op('Softmax', [S], { axis: -1 });
      if (keep) P = op('Mul', [P, keep]);
      parts.push(op('MatMul', [P, vSel]));
    }
  }

  // ---- back to the model's token order: row r of the concatenation holds token target[r] ----
  const targets = [op('Reshape', [op('Where', [qrows.valid, qrows.idx, Nchk]), vec([-1])])]; // padding rows → N (dropped)
  if (ir.text && tq) targets.push(op('Add', [range(T), sc(textOff)]));
  const target = targets.length === 1 ? targets[0] : op('Concat', targets, { axis: 0 });
  const zeros = op('ConstantOfShape', [unsq(op('Add', [Nchk, i64(1)]), [0])], { value: tensorI64('zero', [1], [0]) });
  const rowOf = op('ScatterElements', [zeros, target, range(op('Size', [target]))], { axis: 0 });
  const inverse = op('Slice', [rowOf, vec([0]), unsq(Nchk, [0]), vec([0])]);
  const cat = parts.length === 1 ? parts[0] : op('Concat', parts, { axis: 2 });
  const y = op('Gather', [cat, inverse], { axis: 2 }, lowp ? undefined : 'y');
  if (lowp) op('Cast', [y], { to: opts.elemType }, 'y');

  const name = runtimeFunctionName(ir, rt, opts);
  const size = (i: number): string => (rt.dims[i] ? '?' : String(ir.dims[i].size));
  const fn = create(FunctionProtoSchema, {
    name, domain: GRAT_DOMAIN, input: inputs, output: ['y'], node: nodes,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opts.opset) })],
    docString: `gratc: structured sparse attention '${ir.name}' over ${ir.dims.map((d, i) => `${d.name}=${size(i)}`).join(' ')} `
      + `(groups ${g.join('x')}; sizes marked ? come from ${gridInput ? 'the grid input' : 'the sequence length'})`
      + `${ir.text ? `, ${rt.text ? '?' : ir.text.count} text tokens ${ir.text.place}` : ''}; q,k,v,y: [batch, heads, tokens, ${D}]; scale ${scale}`,
    metadataProps: Object.entries({ pattern: ir.name, runtime_dims: rt.dims.map((x) => (x ? 1 : 0)).join(','), runtime_text: String(rt.text), head_dim: String(D), scale: String(scale) })
      .map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return { fn, domain: GRAT_DOMAIN, name, inputs, buckets: [], computedPairs: 0, spent: { bytes, nodes: nodes.length, steps: 0, functions: 1 } };
}

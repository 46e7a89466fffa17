/**
 * Finds the attentions of a graph, in four forms:
 *
 *  - `matmul-softmax`: MatMul(Q, Kᵀ) → [Mul|Div by a constant]* → [Add mask] → Softmax → MatMul(·, V),
 *    as PyTorch's TorchScript (opset 17) and dynamo (18+) exporters write attention, with the scale
 *    after the MatMul, folded into Q/K before it (pre-scaled or sqrt-scaled both), or both;
 *  - `onnx-attention`: the opset-23 `Attention` op (4-D, or 3-D with q_num_heads);
 *  - `ms-multihead`: onnxruntime's `com.microsoft.MultiHeadAttention` (3-D q, k, v);
 *  - `ms-attention`: onnxruntime's `com.microsoft.Attention` (packed QKV weights).
 *
 * Each match says what it found (heads, head_dim, sequence length, effective scale) and either a
 * reason it cannot be patched or a `rewrite` that builds the replacement nodes around a call of
 * the sparse function, which always takes q, k, v as [B, H, N, D]. A sequence length that is not
 * static (seq null; queries and keys both symbolic) is patched with sizes taken at run time: the
 * function checks then that q and k have the same length and that it is the pattern's.
 */
import type { NodeProto } from 'onnx-buf';
import type { GraphView } from './shapes.js';
import { DT, attrFloat, attrInt, getAttr, node } from '../../codegen/onnx/tensor.js';

export type AttentionForm = 'matmul-softmax' | 'onnx-attention' | 'ms-multihead' | 'ms-attention';

export interface RewriteContext {
  /** A graph-unique tensor name. */
  fresh(base: string): string;
  /** An int64 constant (becomes an initializer); returns its name. */
  i64(base: string, values: readonly number[]): string;
  /** Nodes calling the sparse function: q, k, v [B,H,N,D], optional key bias [b,h,1,N], into `out`. */
  call(q: string, k: string, v: string, keyBias: string | null, out: string): NodeProto[];
}

export interface FoundAttention {
  readonly form: AttentionForm;
  /** Names of the nodes the match covers (what the table shows), in graph order. */
  readonly names: readonly string[];
  /** The nodes a patch removes. */
  readonly remove: readonly NodeProto[];
  readonly heads: number | null;
  readonly headDim: number | null;
  readonly seq: number | null;
  /** The softmax scale the model applies to q·k (pre-scaling of Q/K included), when known. */
  readonly scale: number | null;
  /** The part of the scale the replacement function must apply (the rest stays upstream). */
  readonly fnScale: number;
  readonly elem: number;
  /** The model's additive mask (a per-key bias the function combines), for display. */
  readonly mask: string | null;
  /** Why this attention cannot be patched; null when it can. */
  readonly problem: string | null;
  readonly rewrite: ((ctx: RewriteContext) => NodeProto[]) | null;
}

const isDefault = (n: NodeProto): boolean => n.domain === '' || n.domain === 'ai.onnx';
const fmtShape = (s: readonly (number | null)[] | null): string => (s ? `[${s.map((d) => d ?? '?').join(', ')}]` : '[?]');

/** A Mul/Div of `x` by a scalar constant: the factor it applies and the other input. */
function scalarScale(g: GraphView, n: NodeProto | undefined): { factor: number; other: string } | null {
  if (!n || !isDefault(n) || (n.opType !== 'Mul' && n.opType !== 'Div')) return null;
  for (const side of [1, 0]) {
    const c = g.scalar(n.input[side]);
    if (c === undefined || !Number.isFinite(c) || c === 0) continue;
    if (n.opType === 'Div' && side === 0) continue; // c / x is not a scale
    return { factor: n.opType === 'Mul' ? c : 1 / c, other: n.input[1 - side] };
  }
  return null;
}

/**
 * How an additive mask combines: ignored when it is a constant 0, a per-key bias when it is the
 * same for every query (reshaped to [b, h, 1, L]), else a reason it cannot be combined.
 */
function maskPlan(g: GraphView, mask: string, L: number | null): { kind: 'none' } | { kind: 'key'; dims: number[] } | { kind: 'bad'; why: string } {
  const value = g.value(mask);
  if (value && value.every((x) => x === 0)) return { kind: 'none' };
  const s = g.shape(mask);
  if (g.elem(mask) === DT.BOOL) return { kind: 'bad', why: 'a boolean attention mask cannot be combined (only additive per-key masks)' };
  if (!s || s.some((d) => d === null)) return { kind: 'bad', why: `the attention mask's shape ${fmtShape(s)} is not static` };
  if (s.length > 4) return { kind: 'bad', why: `the attention mask has rank ${s.length}` };
  const d = [1, 1, 1, 1, ...(s as number[])].slice(-4);
  if (d[2] !== 1) return { kind: 'bad', why: `the attention mask ${fmtShape(s)} differs per query; only per-key masks ([.., 1, ${L ?? 'N'}]) can be combined with a pattern` };
  if (L !== null && d[3] !== L && d[3] !== 1) return { kind: 'bad', why: `the attention mask ${fmtShape(s)} does not match ${L} keys` };
  if (d[3] === 1) return { kind: 'bad', why: 'the attention mask is the same for every key (not a key mask)' };
  return { kind: 'key', dims: d };
}

function maskInput(ctx: RewriteContext, out: NodeProto[], mask: string, dims: number[]): string {
  const r = ctx.fresh('grat_key_bias');
  out.push(node('Reshape', [mask, ctx.i64('grat_key_bias_shape', dims)], [r]));
  return r;
}

/** [B, N, H·D] → [B, H, N, D]. */
function splitHeads(ctx: RewriteContext, out: NodeProto[], x: string, H: number, D: number): string {
  const r = ctx.fresh(`${x}_heads`), t = ctx.fresh(`${x}_bhnd`);
  out.push(node('Reshape', [x, ctx.i64('grat_split_heads', [0, 0, H, D])], [r]));
  out.push(node('Transpose', [r], [t], { perm: [0, 2, 1, 3] }));
  return t;
}

/** [B, H, N, D] → [B, N, H·D] into `y`. */
function mergeHeads(ctx: RewriteContext, out: NodeProto[], x: string, H: number, D: number, y: string): void {
  const t = ctx.fresh(`${y}_bnhd`);
  out.push(node('Transpose', [x], [t], { perm: [0, 2, 1, 3] }));
  out.push(node('Reshape', [t, ctx.i64('grat_merge_heads', [0, 0, H * D])], [y]));
}

function matchSoftmax(g: GraphView, sm: NodeProto): FoundAttention | null {
  const x = sm.input[0];
  const xs = g.shape(x);
  const axis = attrInt(sm, 'axis', g.opset >= 13 ? -1 : 1);
  if (xs ? (axis < 0 ? axis + xs.length : axis) !== xs.length - 1 : axis !== -1) return null;
  const chain: NodeProto[] = [sm];
  let cur = g.producerOf(x);
  let mask: string | null = null;
  let post = 1;
  // [Add mask]: the side that leads to a MatMul is the scores
  const leadsToMatMul = (name: string): boolean => {
    let p = g.producerOf(name);
    for (let i = 0; i < 4 && p; i++) {
      if (p.opType === 'MatMul') return true;
      const s = scalarScale(g, p);
      if (!s) return false;
      p = g.producerOf(s.other);
    }
    return false;
  };
  if (cur && isDefault(cur) && cur.opType === 'Add') {
    const side = leadsToMatMul(cur.input[0]) ? 0 : leadsToMatMul(cur.input[1]) ? 1 : -1;
    if (side < 0) return null;
    mask = cur.input[1 - side];
    chain.push(cur);
    cur = g.producerOf(cur.input[side]);
  }
  for (let s = scalarScale(g, cur); s && cur; s = scalarScale(g, cur)) {
    post *= s.factor;
    chain.push(cur);
    cur = g.producerOf(s.other);
  }
  if (!cur || !isDefault(cur) || cur.opType !== 'MatMul') return null;
  const mm1 = cur;
  chain.push(mm1);
  const cons = g.consumers.get(sm.output[0]) ?? [];
  const mm2 = cons.find((c) => isDefault(c) && c.opType === 'MatMul' && c.input[0] === sm.output[0]);
  if (!mm2) return null;
  chain.push(mm2);
  chain.sort((a, b) => g.producer.get(a.output[0])!.index - g.producer.get(b.output[0])!.index);

  const [A, Bt] = mm1.input, V = mm2.input[1], Y = mm2.output[0];
  const sA = g.shape(A), sB = g.shape(Bt), sV = g.shape(V);
  const rank = sA?.length ?? 0;
  const heads = rank === 4 ? sA![1] : null, D = sA ? sA[rank - 1] : null, N = sA ? sA[rank - 2] : null;
  const L = sB ? sB[sB.length - 1] : null;
  const pre = (t: string): number => scalarScale(g, g.producerOf(t))?.factor ?? 1;
  // sqrt-scaled both (TorchScript's SDPA): Mul(Q, √s) and Mul(Kᵀ, √s), possibly via a Transpose
  const kPre = (() => { const p = g.producerOf(Bt); return scalarScale(g, p)?.factor ?? (p?.opType === 'Transpose' ? pre(p.input[0]) : 1); })();
  const scale = pre(A) * kPre * post;
  const names = chain.map((n) => n.name || `(${n.opType})`);
  const base = { form: 'matmul-softmax' as const, names, remove: chain, heads, headDim: D, seq: N, scale, fnScale: post, elem: g.elem(A) || g.elem(Y), mask };

  let problem: string | null = null;
  for (const n of chain.slice(0, -1)) {
    if (g.uses(n.output[0]) !== 1) { problem = `'${n.output[0]}' (inside the attention) is also used elsewhere`; break; }
  }
  if (!sA || !sB || !sV) problem ??= `shapes unknown (Q ${fmtShape(sA)}, Kᵀ ${fmtShape(sB)}, V ${fmtShape(sV)})`;
  else if (rank !== 3 && rank !== 4) problem ??= `Q has rank ${rank} (expected [B, H, N, D] or [B·H, N, D])`;
  else if (sB.length !== rank || sV.length !== rank) problem ??= 'Q, Kᵀ and V have different ranks';
  else if (D === null) problem ??= `head_dim is not static (Q ${fmtShape(sA)})`;
  else if (N !== L) problem ??= N === null || L === null ? `one of the query and key lengths is not static (Q ${fmtShape(sA)}, Kᵀ ${fmtShape(sB)})` : `cross-attention (${N} queries, ${L} keys)`;
  else if (sV[rank - 1] !== D) problem ??= `V's head_dim ${sV[rank - 1]} differs from Q's ${D}`;
  else if (rank === 4 && (sB[1] !== heads || sV[1] !== heads)) problem ??= 'K/V have a different number of heads than Q (grouped-query attention)';
  const mp = mask ? maskPlan(g, mask, L) : { kind: 'none' as const };
  if (mp.kind === 'bad') problem ??= mp.why;
  if (problem) return { ...base, problem, rewrite: null };

  return {
    ...base, problem: null,
    rewrite: (ctx) => {
      const out: NodeProto[] = [];
      const kb = mp.kind === 'key' ? maskInput(ctx, out, mask!, mp.dims) : null;
      if (rank === 4) {
        const k = ctx.fresh(`${Bt}_k`);
        out.push(node('Transpose', [Bt], [k], { perm: [0, 1, 3, 2] }));
        out.push(...ctx.call(A, k, V, kb, Y));
        return out;
      }
      // [B·H, N, D]: one head per batch entry
      const four = (t: string, dims: number[]): string => {
        const r = ctx.fresh(`${t}_4d`);
        out.push(node('Reshape', [t, ctx.i64('grat_4d', dims)], [r]));
        return r;
      };
      const kt = ctx.fresh(`${Bt}_k`);
      out.push(node('Transpose', [Bt], [kt], { perm: [0, 2, 1] }));
      const y4 = ctx.fresh(`${Y}_4d`);
      const n = N ?? -1; // a symbolic length: whatever the tensor has
      out.push(...ctx.call(four(A, [0, 1, n, D!]), four(kt, [0, 1, n, D!]), four(V, [0, 1, n, D!]), kb, y4));
      out.push(node('Reshape', [y4, ctx.i64('grat_3d', [0, n, D!])], [Y]));
      return out;
    },
  };
}

function matchOnnxAttention(g: GraphView, n: NodeProto): FoundAttention {
  const [Q, K, V, mask, pastK, pastV, nonpad] = n.input;
  const sQ = g.shape(Q), sK = g.shape(K);
  const rank = sQ?.length ?? 0;
  const qh = attrInt(n, 'q_num_heads', 0), kvh = attrInt(n, 'kv_num_heads', 0);
  const heads = rank === 4 ? sQ![1] : qh || null;
  const D = rank === 4 ? sQ![3] : sQ && heads && sQ[2] !== null ? sQ[2] / heads : null;
  const N = rank === 4 ? sQ![2] : sQ ? sQ[1] : null;
  const L = rank === 4 ? (sK?.[2] ?? null) : (sK?.[1] ?? null);
  const scale = getAttr(n, 'scale') ? attrFloat(n, 'scale', 1) : D ? 1 / Math.sqrt(D) : null;
  const base = {
    form: 'onnx-attention' as const, names: [n.name || '(Attention)'], remove: [n], heads, headDim: D, seq: N, scale,
    fnScale: scale ?? 1, elem: g.elem(Q), mask: mask || null,
  };
  let problem: string | null = null;
  if (attrInt(n, 'is_causal', 0)) problem = 'causal attention (is_causal=1)';
  else if (attrFloat(n, 'softcap', 0) !== 0) problem = 'softcap is set';
  else if (pastK || pastV) problem = 'it takes a KV cache (past_key/past_value)';
  else if (nonpad) problem = 'it takes nonpad_kv_seqlen';
  else if (n.output.slice(1).some((o) => o && g.uses(o) > 0)) problem = 'its present_key/present_value/qk outputs are used';
  else if (!sQ || (rank !== 3 && rank !== 4)) problem = `Q's shape ${fmtShape(sQ)} is unknown or not 3-D/4-D`;
  else if (D === null || heads === null || !Number.isInteger(D)) problem = `heads or head_dim is not static (Q ${fmtShape(sQ)})`;
  else if (L !== N) problem = N === null || L === null ? `one of the query and key lengths is not static (Q ${fmtShape(sQ)}, K ${fmtShape(sK)})` : `cross-attention (${N} queries, ${L} keys)`;
  else if ((rank === 4 ? sK?.[1] : kvh || qh) !== heads) problem = 'K/V have a different number of heads than Q (grouped-query attention)';
  const mp = mask ? maskPlan(g, mask, L) : { kind: 'none' as const };
  if (mp.kind === 'bad') problem ??= mp.why;
  if (problem) return { ...base, problem, rewrite: null };
  return {
    ...base, problem: null,
    rewrite: (ctx) => {
      const out: NodeProto[] = [];
      const kb = mp.kind === 'key' ? maskInput(ctx, out, mask, mp.dims) : null;
      if (rank === 4) { out.push(...ctx.call(Q, K, V, kb, n.output[0])); return out; }
      const y = ctx.fresh(`${n.output[0]}_bhnd`);
      out.push(...ctx.call(splitHeads(ctx, out, Q, heads!, D!), splitHeads(ctx, out, K, heads!, D!), splitHeads(ctx, out, V, heads!, D!), kb, y));
      mergeHeads(ctx, out, y, heads!, D!, n.output[0]);
      return out;
    },
  };
}

function matchMsMultiHead(g: GraphView, n: NodeProto): FoundAttention {
  const [Q, K, V, bias, kpm, attnBias, pastK, pastV] = n.input;
  const sQ = g.shape(Q), sK = K ? g.shape(K) : null;
  const H = attrInt(n, 'num_heads', 0);
  const D = sQ?.length === 3 && sQ[2] !== null && H ? sQ[2] / H : null;
  const N = sQ?.length === 3 ? sQ[1] : null;
  const scale = getAttr(n, 'scale') && attrFloat(n, 'scale', 0) !== 0 ? attrFloat(n, 'scale', 1) : D ? 1 / Math.sqrt(D) : null;
  const base = {
    form: 'ms-multihead' as const, names: [n.name || '(MultiHeadAttention)'], remove: [n], heads: H || null, headDim: D, seq: N, scale,
    fnScale: scale ?? 1, elem: g.elem(Q), mask: kpm || attnBias || null,
  };
  let problem: string | null = null;
  if (attrInt(n, 'unidirectional', 0)) problem = 'causal attention (unidirectional=1)';
  else if (!K || !V) problem = 'packed QKV input (key/value absent)';
  else if (bias) problem = 'it takes a QKV bias input';
  else if (kpm || attnBias) problem = 'it takes key_padding_mask/attention_bias, which cannot be combined yet';
  else if (pastK || pastV || n.input.length > 8) problem = 'it takes a KV cache';
  else if (n.output.slice(1).some((o) => o && g.uses(o) > 0)) problem = 'its present_key/present_value outputs are used';
  else if (!sQ || sQ.length !== 3 || !sK || sK.length !== 3) problem = `query/key are not 3-D [B, N, H·D] (query ${fmtShape(sQ)}, key ${fmtShape(sK)})`;
  else if (D === null || !Number.isInteger(D)) problem = `head_dim is not static (query ${fmtShape(sQ)}, num_heads ${H})`;
  else if (sK[1] !== N) problem = N === null || sK[1] === null ? `one of the query and key lengths is not static (query ${fmtShape(sQ)}, key ${fmtShape(sK)})` : `cross-attention (${N} queries, ${sK[1]} keys)`;
  if (problem) return { ...base, problem, rewrite: null };
  return {
    ...base, problem: null,
    rewrite: (ctx) => {
      const out: NodeProto[] = [];
      const y = ctx.fresh(`${n.output[0]}_bhnd`);
      out.push(...ctx.call(splitHeads(ctx, out, Q, H, D!), splitHeads(ctx, out, K, H, D!), splitHeads(ctx, out, V, H, D!), null, y));
      mergeHeads(ctx, out, y, H, D!, n.output[0]);
      return out;
    },
  };
}

function matchMsAttention(g: GraphView, n: NodeProto): FoundAttention {
  const [X, W, bias, maskIndex, past, attnBias] = n.input;
  const sX = g.shape(X), sW = g.shape(W);
  const H = attrInt(n, 'num_heads', 0);
  const hidden = getAttr(n, 'qkv_hidden_sizes')?.ints.map(Number) ?? null;
  const C = sW && sW[1] !== null ? sW[1] / 3 : null;
  const D = C && H ? C / H : null;
  const N = sX?.length === 3 ? sX[1] : null;
  const scale = getAttr(n, 'scale') && attrFloat(n, 'scale', 0) !== 0 ? attrFloat(n, 'scale', 1) : D ? 1 / Math.sqrt(D) : null;
  const base = {
    form: 'ms-attention' as const, names: [n.name || '(Attention)'], remove: [n], heads: H || null, headDim: D, seq: N, scale,
    fnScale: scale ?? 1, elem: g.elem(X), mask: maskIndex || attnBias || null,
  };
  let problem: string | null = null;
  if (attrInt(n, 'unidirectional', 0)) problem = 'causal attention (unidirectional=1)';
  else if (attrInt(n, 'do_rotary', 0)) problem = 'rotary embedding inside the op (do_rotary=1)';
  else if (maskIndex || attnBias) problem = 'it takes mask_index/attention_bias, which cannot be combined yet';
  else if (past || n.input.length > 6) problem = 'it takes a KV cache';
  else if (n.output.slice(1).some((o) => o && g.uses(o) > 0)) problem = 'its present output is used';
  else if (hidden && !(hidden[0] === hidden[1] && hidden[1] === hidden[2])) problem = `unequal qkv_hidden_sizes ${hidden.join(',')}`;
  else if (!sX || sX.length !== 3 || D === null || !Number.isInteger(D)) problem = `input ${fmtShape(sX)} / weights ${fmtShape(sW)} are not [B, N, C] / static [C, 3·H·D]`;
  if (problem) return { ...base, problem, rewrite: null };
  return {
    ...base, problem: null,
    rewrite: (ctx) => {
      const out: NodeProto[] = [];
      let qkv = ctx.fresh(`${n.output[0]}_qkv`);
      out.push(node('MatMul', [X, W], [qkv]));
      if (bias) { const b = ctx.fresh(`${n.output[0]}_qkv_bias`); out.push(node('Add', [qkv, bias], [b])); qkv = b; }
      const part = (i: number): string => {
        const p = ctx.fresh(`${n.output[0]}_${'qkv'[i]}`);
        out.push(node('Slice', [qkv, ctx.i64('grat_s', [i * C!]), ctx.i64('grat_e', [(i + 1) * C!]), ctx.i64('grat_axis2', [2])], [p]));
        return splitHeads(ctx, out, p, H, D!);
      };
      const y = ctx.fresh(`${n.output[0]}_bhnd`);
      out.push(...ctx.call(part(0), part(1), part(2), null, y));
      mergeHeads(ctx, out, y, H, D!, n.output[0]);
      return out;
    },
  };
}

/** Every attention of the main graph, in graph order. */
export function findAttentions(g: GraphView): FoundAttention[] {
  const found: FoundAttention[] = [];
  for (const n of g.graph.node) {
    if (isDefault(n) && n.opType === 'Softmax') {
      const m = matchSoftmax(g, n);
      if (m) found.push(m);
    } else if (isDefault(n) && n.opType === 'Attention') found.push(matchOnnxAttention(g, n));
    else if (n.domain === 'com.microsoft' && n.opType === 'MultiHeadAttention') found.push(matchMsMultiHead(g, n));
    else if (n.domain === 'com.microsoft' && n.opType === 'Attention') found.push(matchMsAttention(g, n));
  }
  return found;
}

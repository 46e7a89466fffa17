/**
 * Lowers a pattern to standard ONNX ops inside one model-local FunctionProto (domain `ai.grat`),
 * so a patched graph stays readable and a runtime with a native kernel can take the function over.
 *
 *   y = ai.grat.<name>(q, k, v [, key_bias] [, text_valid])      q, k, v, y: [B, H, N, D]
 *
 * Image query groups are batched in buckets of equal (padded) size, and each bucket is cut into
 * chunks of at most `queryChunk` query rows (whole groups). Per chunk:
 *   Gather each group's query tokens and key/value tokens with constant index tensors
 *   → batched MatMul → + bias (padded slots, padded text) → Softmax → MatMul → flatten.
 * Text queries attend their keys densely. One final Gather with the inverse index puts every
 * row back in the model's token order (a gather, not a scatter: every token is one row).
 *
 * Index tensors come from `compiler/keys.ts` (the closed form the reference uses), so this
 * file decides only the batching. Semantics: see compiler/reference.ts.
 */
import { create } from '@bufbuild/protobuf';
import { FunctionProtoSchema, OperatorSetIdProtoSchema, StringStringEntryProtoSchema, type FunctionProto, type NodeProto } from 'onnx-buf';
import type { PatternIR } from '../../compiler/ir.js';
import { groupCount, imageOffset, imageTokens, textOffset, totalTokens } from '../../compiler/ir.js';
import { KeyGroupEnumerator, queryRuns, runsOfGroups, textKeyRun, type Run } from '../../compiler/keys.js';
import { artefactIdentity, kernelPlan, specHashOf, type Generator } from '../../compiler/plan.js';
import { groupSizes } from '../../compiler/reference.js';
import { denseOnnxWork, NOTHING_SPENT, onnxMeasures, onnxSteps, onnxWork, requireAll, type OnnxShape, type Spent } from '../../compiler/cost.js';
import { DT, node, tensorF32, tensorI64, type AttrValue } from './tensor.js';
import { MinHeap } from '../../compiler/heap.js';

export const GRAT_DOMAIN = 'ai.grat';

/** Added to the scores of slots nobody may see: finite, so a row with no visible key stays finite. */
const NEG = -1e30;

export interface LowerOptions {
  /** Element type of q, k, v and y (fp16/bf16 are computed in fp32 inside the function). */
  readonly elemType: number;
  /** Multiplies q kᵀ (the model's own scale; the pattern's `scale` by default). */
  readonly scale?: number;
  /** Adds a 4th input `key_bias` [b|1, h|1, 1, N]: an additive per-key bias (a key-padding mask). */
  readonly keyBias?: boolean;
  /**
   * Adds an input `text_valid` (int64: a scalar, [1] or [batch], per-sample lengths): sample b's
   * text keys at positions >= its length are padding (clamped to [0, text count] as everywhere).
   */
  readonly textValid?: boolean;
  /** Version of the default ONNX domain the function imports (the model's). */
  readonly opset: number;
  /** Most buckets of image query groups (each is one batched MatMul chain); default 6. */
  readonly maxBuckets?: number;
  /**
   * Most query rows per batched op (whole groups, at least one group); default: the pattern's
   * `schedule onnx query_chunk=N` hint, else DEFAULT_QUERY_CHUNK.
   */
  readonly queryChunk?: number;
}

/**
 * Query rows per batched op by default. A bucket is cut into chunks of whole groups, each its own
 * Gather → MatMul → Softmax → MatMul chain, so that a chunk's gathered keys/values and scores
 * (per batch·head: rows × keys floats) stay in the L2 cache between the ops instead of going
 * through memory; see bench/onnx/NOTES.md for the measurements that chose 128.
 */
export const DEFAULT_QUERY_CHUNK = 128;

/** Most buckets of image query groups by default (LowerOptions.maxBuckets). */
export const DEFAULT_MAX_BUCKETS = 6;

export interface Bucket {
  readonly groups: number;
  readonly queryLen: number; // padded query rows per group
  readonly keyLen: number; // padded key slots per group
}

export interface Lowered {
  readonly fn: FunctionProto;
  readonly domain: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly buckets: readonly Bucket[];
  /** Score entries computed (per batch·head): Σ groups·queryLen·keyLen + text rows; padding included. */
  readonly computedPairs: number;
  /** What it used of the cost model's budgets (compiler/cost.ts), to add up over a model's functions. */
  readonly spent: Spent;
  /** The shape the sparse lowering was checked with before emitting (compiler/cost.ts onnxMeasures). */
  readonly shape?: OnnxShape;
}

/**
 * Groups of one bucket, in emission order: by key length, then by group index (the order the
 * buckets were merged in). `first` indexes `Plan.order`.
 */
interface PlannedBucket { readonly first: number; readonly groups: number; readonly queryLen: number; readonly keyLen: number; readonly padded: boolean }

/**
 * What the lowering will emit, from per-group lengths only (no token lists): every image query
 * group with a key, its query and key lengths, bucketed. Linear in the groups and the key-group
 * visits, so its cost is known before anything big is allocated.
 */
interface Plan {
  readonly qLen: Int32Array; // per group: query tokens
  readonly kLen: Int32Array; // per group: key slots (image keys, then text keys)
  readonly imageKeys: Int32Array; // per group: image key tokens (text slots start here)
  readonly order: Int32Array; // groups with a key, bucket by bucket
  readonly buckets: readonly PlannedBucket[];
}

/**
 * Merges adjacent runs of distinct key lengths (sorted) into at most `max` buckets, each time
 * merging the adjacent pair that adds the least padding (ties: the leftmost). A heap of pair
 * costs makes this O(L log L) for L distinct lengths; stale heap entries are skipped.
 * `count[i]`, `maxQ[i]`, `len[i]`: groups, their longest query and their key length, per length.
 * Returns the index of the first length of each bucket, in order.
 */
export function mergeBuckets(count: readonly number[], maxQ: readonly number[], len: readonly number[], max: number): number[] {
  const L = len.length;
  const c = count.slice(), q = maxQ.slice(), k = len.slice();
  const next = Array.from({ length: L }, (_, i) => (i + 1 < L ? i + 1 : -1));
  const prev = Array.from({ length: L }, (_, i) => i - 1);
  const alive = new Array<boolean>(L).fill(true), version = new Array<number>(L).fill(0);
  const cost = (n: number, qq: number, kk: number): number => n * qq * kk;
  // heap of [added padding, left bucket, its version, right bucket, its version]
  type Entry = [number, number, number, number, number];
  const heap = new MinHeap<Entry>((a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]));
  const push = (e: Entry): void => heap.push(e);
  const pop = (): Entry => heap.pop()!;
  const pair = (i: number): void => {
    const j = next[i];
    if (j < 0) return;
    const add = cost(c[i] + c[j], Math.max(q[i], q[j]), Math.max(k[i], k[j])) - cost(c[i], q[i], k[i]) - cost(c[j], q[j], k[j]);
    push([add, i, version[i], j, version[j]]);
  };
  for (let i = 0; i < L; i++) pair(i);
  for (let buckets = L; buckets > max;) {
    const [, i, vi, j, vj] = pop();
    if (!alive[i] || !alive[j] || version[i] !== vi || version[j] !== vj || next[i] !== j) continue;
    c[i] += c[j]; q[i] = Math.max(q[i], q[j]); k[i] = Math.max(k[i], k[j]);
    alive[j] = false; version[i]++;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    buckets--;
    if (prev[i] >= 0) pair(prev[i]);
    pair(i);
  }
  const firsts: number[] = [];
  for (let i = 0; i >= 0 && i < L; i = next[i]) firsts.push(i);
  return firsts;
}

/** Per-group lengths and buckets; every count is exact, nothing per token is built. */
function planGroups(ir: PatternIR, keys: KeyGroupEnumerator, textKeys: number, maxBuckets: number): Plan {
  const G = groupCount(ir), sizes = groupSizes(ir);
  const kLen = new Int32Array(G), imageKeys = new Int32Array(G);
  let withKeys = 0;
  for (let g = 0; g < G; g++) {
    const kg = keys.keyGroups(g);
    let n = 0;
    for (let i = 0; i < kg.length; i++) n += sizes[kg[i]];
    imageKeys[g] = n;
    kLen[g] = n + textKeys;
    if (kLen[g] > 0) withKeys++;
  }
  // distinct key lengths, ascending, with their group counts and longest query
  const byLen = new Map<number, { count: number; maxQ: number }>();
  for (let g = 0; g < G; g++) {
    if (kLen[g] === 0) continue;
    const e = byLen.get(kLen[g]);
    if (e) { e.count++; e.maxQ = Math.max(e.maxQ, sizes[g]); } else byLen.set(kLen[g], { count: 1, maxQ: sizes[g] });
  }
  const lens = [...byLen.keys()].sort((a, b) => a - b);
  const firsts = mergeBuckets(lens.map((l) => byLen.get(l)!.count), lens.map((l) => byLen.get(l)!.maxQ), lens, maxBuckets);
  // groups ordered by key length, then index (a stable counting sort over the length ranks)
  const rank = new Map(lens.map((l, i) => [l, i]));
  const start = new Int32Array(lens.length + 1);
  for (let g = 0; g < G; g++) if (kLen[g] > 0) start[rank.get(kLen[g])! + 1]++;
  for (let i = 0; i < lens.length; i++) start[i + 1] += start[i];
  const order = new Int32Array(withKeys), at = start.slice(0, lens.length);
  for (let g = 0; g < G; g++) if (kLen[g] > 0) order[at[rank.get(kLen[g])!]++] = g;
  const buckets: PlannedBucket[] = firsts.map((f, b) => {
    const end = b + 1 < firsts.length ? firsts[b + 1] : lens.length;
    let queryLen = 0;
    for (let i = f; i < end; i++) queryLen = Math.max(queryLen, byLen.get(lens[i])!.maxQ);
    return { first: start[f], groups: start[end] - start[f], queryLen, keyLen: lens[end - 1], padded: end - f > 1 };
  });
  return { qLen: sizes, kLen, imageKeys, order, buckets };
}

/** Writes a run's tokens into `out` from `at`; returns the next position. */
function writeRuns(runs: readonly Run[], out: Int32Array, at: number): number {
  for (const r of runs) for (let t = r.start; t < r.start + r.length; t++) out[at++] = t;
  return at;
}

/** Bump when the emitted body changes for the same plan and options, so a function name always identifies one body. */
export const GENERATOR: Generator = 'onnx/7'; // 6: the scale on q once; 7: text_valid compared in float32 (no int64 node for the WebGPU EP to leave on the CPU)

/**
 * The function's name: `<pattern>_<hash10>` over the canonical plan (compiler/plan.ts, as the
 * kernels' names), the options with their defaults filled in, and the generator. The text's
 * formatting and the other targets' schedules never change it.
 */
export function functionName(ir: PatternIR, opts: LowerOptions): string {
  const options = {
    elemType: opts.elemType,
    opset: opts.opset,
    scale: opts.scale ?? ir.scale,
    keyBias: !!opts.keyBias,
    textValid: !!opts.textValid,
    maxBuckets: opts.maxBuckets ?? DEFAULT_MAX_BUCKETS,
    queryChunk: opts.queryChunk ?? Number(ir.schedule.onnx?.query_chunk ?? DEFAULT_QUERY_CHUNK),
  } satisfies Record<keyof LowerOptions, unknown>;
  return `${ir.name}_${specHashOf(artefactIdentity(GENERATOR, kernelPlan(ir), { options })).slice(0, 10)}`;
}

/**
 * The sparse lowering. `spent`: what functions lowered before into the same model used; with it,
 * the budgets bound the model's functions together.
 */
export function lowerPattern(ir: PatternIR, opts: LowerOptions, spent: Spent = NOTHING_SPENT): Lowered {
  // what cannot fit is refused before anything is enumerated or allocated (compiler/cost.ts)
  requireAll(onnxWork(ir, { textValid: !!opts.textValid }, undefined, spent));
  const N = totalTokens(ir), M = imageTokens(ir), D = ir.headDim, T = ir.text?.count ?? 0;
  const scale = opts.scale ?? ir.scale;
  const nodes: NodeProto[] = [];
  let uid = 0;
  const fresh = (base: string): string => `${base}_${uid++}`;
  const op = (type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string => {
    const out = outName ?? fresh(type.toLowerCase());
    nodes.push(node(type, inputs, [out], attrs));
    return out;
  };
  let bytes = 0;
  const constant = (name: string, t: ReturnType<typeof tensorF32>): string => {
    nodes.push(node('Constant', [], [name], { value: t }));
    bytes += t.rawData.length;
    return name;
  };
  const i64 = (name: string, dims: number[], data: ArrayLike<number>): string => constant(name, tensorI64(name, dims, data));
  const f32 = (name: string, dims: number[], data: ArrayLike<number>): string => constant(name, tensorF32(name, dims, Float32Array.from(data)));

  const lowp = opts.elemType !== DT.FLOAT;
  const inputs = ['q', 'k', 'v', ...(opts.keyBias ? ['key_bias'] : []), ...(opts.textValid && ir.text ? ['text_valid'] : [])];
  const asF32 = (x: string): string => (lowp ? op('Cast', [x], { to: DT.FLOAT }) : x);
  const q0 = asF32('q'), k = asF32('k'), v = asF32('v');
  const kb = opts.keyBias ? asF32('key_bias') : null;
  const valid = opts.textValid && ir.text ? 'text_valid' : null;
  // text_valid at least 0 (a negative length would hide the image slots, whose position is -1)
  // and as [b|1, 1, ...], so it broadcasts over a score tensor of `rank` dims (a scalar and [1]
  // become all ones): per-sample lengths mask per sample. Made once, where used; named, not
  // numbered, so every other node keeps the name it had before text_valid could be [batch].
  const validAs = new Map<number, string>();
  let nonneg: string | null = null;
  // Compared in float32 (exact for any text count below 2^24): onnxruntime's WebGPU EP has no
  // int64 Max/Less, so int64 ones would run on the CPU EP, a host round trip inside the graph.
  const validOf = (rank: number): string => {
    nonneg ??= op('Max', [op('Cast', [valid!], { to: DT.FLOAT }, 'text_valid_f32'), f32('valid_zero', [], [0])], {}, 'text_valid_nonneg');
    let v = validAs.get(rank);
    if (!v) validAs.set(rank, v = op('Reshape', [nonneg, i64(`valid_shape${rank}`, [rank], [-1, ...Array(rank - 1).fill(1)])], {}, `text_valid${rank}d`));
    return v;
  };
  // the scale multiplies q once (one N·D pass), not each chunk's scores: the CPU EP fuses a
  // scalar Mul into the scores' MatMul for free, but the WebGPU EP does not, where it was a
  // score-sized pass per chunk (as many bytes as the Softmax); CPU time measured unchanged
  // (bench/onnx/NOTES.md "WebGPU EP")
  const q = scale === 1 ? q0 : op('Mul', [q0, f32('scale', [], [scale])]);
  const neg = f32('neg', [], [NEG]);

  // ---- plan: per-group lengths and buckets, then the exact size check before any big allocation ----
  const keys = new KeyGroupEnumerator(ir);
  const text = ir.image.text ? textKeyRun(ir, T) : null;
  const plan = planGroups(ir, keys, text?.length ?? 0, opts.maxBuckets ?? DEFAULT_MAX_BUCKETS);
  const queryChunk = opts.queryChunk ?? Number(ir.schedule.onnx?.query_chunk ?? DEFAULT_QUERY_CHUNK);
  const chunkOf = (Qb: number): number => Math.max(1, Math.floor(queryChunk / Qb));
  const tq = ir.textQueries;
  const textRows = ir.text && T > 0 && tq ? T : 0;
  const textKeys = textRows > 0 ? (tq!.grid ? M : 0) + (tq!.text ? T : 0) : 0;
  const shape: OnnxShape = {
    buckets: plan.buckets.map((b) => ({ groups: b.groups, queryLen: b.queryLen, keyLen: b.keyLen, chunk: chunkOf(b.queryLen), padded: b.padded })),
    tokens: N, textRows, textKeys, textValid: valid !== null,
    textSlots: text !== null, textOnly: text !== null && plan.order.some((g) => plan.imageKeys[g] === 0),
  };
  requireAll(onnxMeasures(shape, undefined, spent));

  const parts: string[] = []; // [B,H,rows,D] pieces, concatenated in order
  const rowOf = new Int32Array(N).fill(-1); // token -> row of the concatenation
  let rows = 0;
  let computed = 0;
  const bucketInfo: Bucket[] = [];
  const tOff = textOffset(ir);

  plan.buckets.forEach((pb, b) => {
    const Gb = pb.groups, Qb = pb.queryLen, Kb = pb.keyLen;
    const chunk = chunkOf(Qb);
    bucketInfo.push({ groups: Gb, queryLen: Qb, keyLen: Kb });
    computed += Gb * Qb * Kb;
    // chunks of at most `chunk` groups: every intermediate of a chunk stays in cache
    for (let c0 = 0, c = 0; c0 < Gb; c0 += chunk, c++) {
      const n = Math.min(chunk, Gb - c0), tag = `${b}_${c}`;
      // this chunk's index tensors, filled from each group's runs (the key groups are enumerated again)
      const qidx = new Int32Array(n * Qb), kidx = new Int32Array(n * Kb);
      const cb = new Float32Array(n * Kb), ct = new Int32Array(n * Kb).fill(-1);
      let textOnly = false;
      for (let i = 0; i < n; i++) {
        const g = plan.order[pb.first + c0 + i];
        const q0 = i * Qb, qEnd = writeRuns(queryRuns(ir, g), qidx, q0);
        // padded rows repeat a real row; never read back
        for (let j = qEnd; j < q0 + Qb; j++) qidx[j] = qidx[qEnd - 1];
        for (let j = q0; j < qEnd; j++) rowOf[qidx[j]] = rows + (c0 + i) * Qb + (j - q0);
        const k0 = i * Kb, imgEnd = writeRuns(runsOfGroups(ir, keys.keyGroups(g)), kidx, k0);
        const kEnd = text ? writeRuns([text], kidx, imgEnd) : imgEnd;
        for (let j = imgEnd; j < kEnd; j++) ct[j] = kidx[j] - tOff;
        cb.fill(NEG, kEnd, k0 + Kb);
        if (plan.imageKeys[g] === 0) textOnly = true;
      }
      const Qg = op('Gather', [q, i64(`qidx${tag}`, [n, Qb], qidx)], { axis: 2 }); // [B,H,n,Qb,D]
      const ki = i64(`kidx${tag}`, [n, Kb], kidx);
      const Kg = op('Gather', [k, ki], { axis: 2 }); // [B,H,n,Kb,D]
      const Vg = op('Gather', [v, ki], { axis: 2 });
      // onnxruntime's CPU EP fuses this Transpose into the MatMul (FusedMatMul); the WebGPU EP copies it
      let S = op('MatMul', [Qg, op('Transpose', [Kg], { perm: [0, 1, 2, 4, 3] })]); // [B,H,n,Qb,Kb]
      let biasName: string | null = cb.some((x) => x !== 0) ? f32(`kbias${tag}`, [n, 1, Kb], cb) : null;
      let keep: string | null = null;
      if (valid && ct.some((x) => x >= 0)) {
        const visible = op('Less', [f32(`ktext${tag}`, [n, 1, Kb], ct), validOf(5)]); // [B|1,1,n,1,Kb]
        biasName = op('Where', [visible, biasName ?? f32(`zero${tag}`, [], [0]), neg]);
        // a group whose only keys are text keys sees nothing when valid = 0: its rows must be 0
        if (textOnly) keep = op('Where', [visible, f32(`kreal${tag}`, [n, 1, Kb], cb.map((x) => (x === 0 ? 1 : 0))), f32(`kzero${tag}`, [], [0])]);
      }
      if (biasName) S = op('Add', [S, biasName]);
      if (kb) S = op('Add', [S, op('Transpose', [op('Gather', [kb, ki], { axis: 3 })], { perm: [0, 1, 3, 2, 4] })]);
      let P = op('Softmax', [S], { axis: -1 });
      if (keep) P = op('Mul', [P, keep]);
      const O = op('MatMul', [P, Vg]); // [B,H,n,Qb,D]
      parts.push(op('Reshape', [O, i64(`oshape${tag}`, [4], [0, 0, -1, D])]));
    }
    rows += Gb * Qb;
  });

  // ---- text queries: every text row sees the same keys, densely ----
  if (ir.text && T > 0 && tq) {
    const iOff = imageOffset(ir);
    const slice = (x: string, start: number, len: number, axis: number): string =>
      op('Slice', [x, i64(fresh('s'), [1], [start]), i64(fresh('e'), [1], [start + len]), i64(fresh('a'), [1], [axis])]);
    // keys in memory order: all N tokens, or only the grid, or only the text
    const sel: [number, number] | null = tq.grid && tq.text ? null : tq.grid ? [iOff, M] : [tOff, T];
    const kSel = sel ? slice(k, sel[0], sel[1], 2) : k, vSel = sel ? slice(v, sel[0], sel[1], 2) : v;
    const L = sel ? sel[1] : N;
    computed += T * L;
    const Qt = slice(q, tOff, T, 2);
    // one chain for all text rows: they are few, and they multiply long key rows (large GEMMs);
    // cutting them into query chunks measured no faster (bench/onnx/NOTES.md)
    let S = op('MatMul', [Qt, op('Transpose', [kSel], { perm: [0, 1, 3, 2] })]); // [B,H,T,L]
    let keep: string | null = null;
    if (valid && tq.text) {
      const tpos = new Int32Array(L).fill(-1);
      for (let j = 0; j < L; j++) { const t = (sel ? sel[0] : 0) + j; if (t >= tOff && t < tOff + T) tpos[j] = t - tOff; }
      const visible = op('Less', [f32('ttext', [L], tpos), validOf(4)]); // [B|1,1,1,L]
      S = op('Add', [S, op('Where', [visible, f32('tzero', [], [0]), neg])]);
      // text rows that see only text keys see nothing when valid = 0: their rows must be 0
      if (!tq.grid) keep = op('Where', [visible, f32('tone', [], [1]), f32('tzero_', [], [0])]);
    }
    if (kb) S = op('Add', [S, sel ? slice(kb, sel[0], sel[1], 3) : kb]);
    let P = op('Softmax', [S], { axis: -1 });
    if (keep) P = op('Mul', [P, keep]);
    parts.push(op('MatMul', [P, vSel]));
    for (let j = 0; j < T; j++) rowOf[tOff + j] = rows + j;
    rows += T;
  }

  // ---- rows that see nothing (image groups without keys, text rows without a text region): one zero row ----
  if (rowOf.some((r) => r < 0)) {
    parts.push(op('Mul', [op('Slice', [q, i64('z_s', [1], [0]), i64('z_e', [1], [1]), i64('z_a', [1], [2])]), f32('zeroes', [], [0])]));
    for (let t = 0; t < N; t++) if (rowOf[t] < 0) rowOf[t] = rows;
    rows += 1;
  }

  const cat = parts.length === 1 ? parts[0] : op('Concat', parts, { axis: 2 });
  const y = op('Gather', [cat, i64('inverse', [N], rowOf)], { axis: 2 }, lowp ? undefined : 'y');
  if (lowp) op('Cast', [y], { to: opts.elemType }, 'y');

  const name = functionName(ir, opts);
  const fn = create(FunctionProtoSchema, {
    name, domain: GRAT_DOMAIN, input: inputs, output: ['y'], node: nodes,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opts.opset) })],
    docString: `gratc: structured sparse attention '${ir.name}' over ${ir.dims.map((d) => `${d.name}=${d.size}`).join(' ')} `
      + `(groups ${ir.dims.map((d) => d.group).join('x')})${ir.text ? `, ${T} text tokens ${ir.text.place}` : ''}; `
      + `q,k,v,y: [batch, heads, ${N}, ${D}]; scale ${scale}`,
    metadataProps: Object.entries({ pattern: ir.name, tokens: String(N), head_dim: String(D), scale: String(scale) })
      .map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return { fn, domain: GRAT_DOMAIN, name, inputs, buckets: bucketInfo, computedPairs: computed, spent: { bytes, nodes: nodes.length, steps: onnxSteps(ir), functions: 1 }, shape };
}

/**
 * The dense-masked equivalent of `lowerPattern` (same inputs and output): softmax(scale·q kᵀ +
 * M) v with M the N×N mask of `compiler/reference.ts` (0 visible, NEG hidden) and rows that see
 * no key zeroed. O(N²): the reference a patched model is checked against, never the fast path.
 * The text validity is fixed at the full count (no text_valid input).
 */
export function lowerDense(ir: PatternIR, opts: LowerOptions, denseMask: (ir: PatternIR) => Uint8Array, spent: Spent = NOTHING_SPENT): Lowered {
  requireAll(denseOnnxWork(ir, spent));
  const N = totalTokens(ir);
  const scale = opts.scale ?? ir.scale;
  const mask = denseMask(ir);
  const bias = new Float32Array(N * N), keep = new Float32Array(N);
  for (let r = 0; r < N; r++) {
    let any = 0;
    for (let c = 0; c < N; c++) { if (mask[r * N + c]) any = 1; else bias[r * N + c] = NEG; }
    keep[r] = any;
  }
  const lowp = opts.elemType !== DT.FLOAT;
  const nodes: NodeProto[] = [];
  const inputs = ['q', 'k', 'v', ...(opts.keyBias ? ['key_bias'] : [])];
  const c = (name: string, t: ReturnType<typeof tensorF32>): string => { nodes.push(node('Constant', [], [name], { value: t })); return name; };
  const op = (type: string, ins: string[], out: string, attrs: Record<string, AttrValue> = {}): string => { nodes.push(node(type, ins, [out], attrs)); return out; };
  const cast = (x: string): string => (lowp ? op('Cast', [x], `${x}_f32`, { to: DT.FLOAT }) : x);
  const q = op('Mul', [cast('q'), c('scale', tensorF32('scale', [], [scale]))], 'qs');
  let S = op('MatMul', [q, op('Transpose', [cast('k')], 'kt', { perm: [0, 1, 3, 2] })], 's');
  S = op('Add', [S, c('mask', tensorF32('mask', [N, N], bias))], 'sm');
  if (opts.keyBias) S = op('Add', [S, cast('key_bias')], 'skb');
  const P = op('Mul', [op('Softmax', [S], 'p', { axis: -1 }), c('keep', tensorF32('keep', [N, 1], keep))], 'pk');
  op('MatMul', [P, cast('v')], lowp ? 'y32' : 'y');
  if (lowp) op('Cast', ['y32'], 'y', { to: opts.elemType });
  const name = `${functionName(ir, opts)}_dense`;
  const fn = create(FunctionProtoSchema, {
    name, domain: GRAT_DOMAIN, input: inputs, output: ['y'], node: nodes,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opts.opset) })],
    docString: `gratc: dense-masked reference of '${ir.name}' (N=${N})`,
  });
  return { fn, domain: GRAT_DOMAIN, name, inputs, buckets: [], computedPairs: N * N, spent: { bytes: 4 * N * N + 4 * N + 8, nodes: nodes.length, steps: N * N, functions: 1 } };
}

/**
 * `gratc patch`: finds every attention of a model (match.ts) and replaces it with a call of the
 * pattern's sparse attention, lowered to a model-local function in the `ai.grat` domain
 * (codegen/onnx/lower.ts). Everything else stays as it was: initializers, names, metadata,
 * opset imports (ai.grat is added), external data. The input file is never modified.
 */
import { create } from '@bufbuild/protobuf';
import { OperatorSetIdProtoSchema, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { checkSource } from '../../compiler/index.js';
import type { PatternIR } from '../../compiler/ir.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { imageTokens, totalTokens } from '../../compiler/ir.js';
import { denseMask } from '../../compiler/reference.js';
import { SCHEDULE_KEYS } from '../../codegen/targets.js';
import { functionName, GRAT_DOMAIN, lowerDense, lowerPattern, type Lowered } from '../../codegen/onnx/lower.js';
import { lowerRuntime, needsGridInput, runtimeFunctionName, type RuntimeSpec } from '../../codegen/onnx/lower_runtime.js';
import { NOTHING_SPENT, type Spent } from '../../compiler/cost.js';
import { terminalSafe } from '../../dsl/render.js';
import { loadModel, OnnxError, saveModel, type SaveOptions, type SaveResult } from './model.js';
import { findAttentions, type AttentionForm } from './match.js';
import { GraphView } from './shapes.js';
import { DT, FLOAT_TYPES, dtypeName, node, tensorI64, valueInfo } from '../../codegen/onnx/tensor.js';

/** A pattern as source text (sizes bound per attention) or as a checked IR. */
export type PatternSpec =
  | { readonly source: string; readonly name?: string; readonly grid?: readonly number[]; readonly text?: number }
  | { readonly ir: PatternIR };

export interface PatchOptions {
  /** `sparse` (default): the pattern's sparse lowering; `dense-mask`: the O(N²) masked reference. */
  readonly lowering?: 'sparse' | 'dense-mask';
  /** Patch only attentions whose first node name is listed. */
  readonly only?: readonly string[];
}

export interface PatchRow {
  readonly nodes: readonly string[];
  readonly form: AttentionForm;
  readonly heads: number | null;
  readonly headDim: number | null;
  readonly seq: number | null;
  readonly scale: number | null;
  /** The attention's element type as a pattern names it (fp32, fp16, bf16, fp64), when known. */
  readonly dtype: string | null;
  readonly mask: string | null;
  readonly patched: boolean;
  /** Why not, or how (the function called). */
  readonly note: string;
}

export interface PatchResult {
  readonly model: ModelProto;
  readonly rows: readonly PatchRow[];
  readonly patched: number;
  /** Functions added, by name. */
  readonly functions: readonly { name: string; lowered: Lowered; ir: PatternIR }[];
}

/** A pattern problem the CLI shows as diagnostics (exit 1). */
export class PatternError extends OnnxError {
  constructor(message: string, readonly diagnostics: readonly Diagnostic[]) {
    super(message);
  }
}

const UNBOUND_TEXT = 'E0302';

/**
 * The pattern's IR for an attention over `seq` tokens, or a reason it does not fit. A `text ?`
 * left unbound takes seq − grid tokens (the text tokens are wherever the pattern places them).
 */
export function resolvePattern(spec: PatternSpec, seq: number, headDim: number): { ir: PatternIR } | { why: string } {
  let ir: PatternIR;
  if ('ir' in spec) ir = spec.ir;
  else {
    const opts = { grid: spec.grid, text: spec.text, defaultName: spec.name, schedules: SCHEDULE_KEYS };
    let r = checkSource(spec.source, opts);
    const errs = r.diagnostics.filter((d) => d.severity === 'error');
    if (!r.ir && errs.length > 0 && errs.every((d) => d.code === UNBOUND_TEXT)) {
      const probe = checkSource(spec.source, { ...opts, text: 0 });
      if (probe.ir) {
        const T = seq - imageTokens(probe.ir);
        if (T < 0) return { why: `sequence length ${seq} is shorter than the grid's ${imageTokens(probe.ir)} tokens` };
        r = checkSource(spec.source, { ...opts, text: T });
      }
    }
    if (!r.ir) {
      const first = r.diagnostics.find((d) => d.severity === 'error');
      throw new PatternError(`the pattern has errors: ${first?.code ?? ''} ${first?.message ?? ''}`.trim(), r.diagnostics);
    }
    ir = r.ir;
  }
  const N = totalTokens(ir), M = imageTokens(ir), T = ir.text?.count ?? 0;
  if (N !== seq) {
    const grid = ir.dims.map((d) => d.size).join('x');
    return { why: `sequence length ${seq} ≠ grid ${grid} (${M}) + text ${T} = ${N}` };
  }
  // the model's head_dim and scale win: the patch changes which keys are seen, not the math
  return { ir: { ...ir, headDim } };
}

/**
 * The pattern for an attention whose sequence length is not static: its `?` sizes that nothing
 * binds are taken at run time (codegen/onnx/lower_runtime.ts), bound ones are compiled in.
 */
export function resolveRuntime(spec: PatternSpec, headDim: number): { ir: PatternIR; rt: RuntimeSpec } {
  let ir: PatternIR;
  if ('ir' in spec) ir = spec.ir;
  else {
    const r = checkSource(spec.source, { grid: spec.grid, text: spec.text, defaultName: spec.name, schedules: SCHEDULE_KEYS, runtimeSizes: true });
    if (!r.ir) {
      const first = r.diagnostics.find((d) => d.severity === 'error');
      throw new PatternError(`the pattern has errors: ${first?.code ?? ''} ${first?.message ?? ''}`.trim(), r.diagnostics);
    }
    ir = r.ir;
  }
  const rt = ir.runtime ?? { dims: ir.dims.map(() => false), text: false };
  return { ir: { ...ir, headDim }, rt: { dims: [...rt.dims], text: rt.text } };
}

const fmtScale = (s: number | null): string => (s === null ? '?' : Number(s.toPrecision(6)).toString());

/** Patches a model in memory; `input` is never changed (the result shares its unchanged parts). */
export function patchModel(input: ModelProto, spec: PatternSpec, opts: PatchOptions = {}): PatchResult {
  // shallow copies of what changes: existing nodes and tensors are shared, never modified
  const graph = { ...input.graph!, node: [...input.graph!.node], initializer: [...input.graph!.initializer], valueInfo: [...input.graph!.valueInfo] };
  const model: ModelProto = { ...input, graph, functions: [...input.functions], opsetImport: [...input.opsetImport] };
  const opsetEntry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  const opset = Number(opsetEntry?.version ?? 0);
  const view = new GraphView(graph, opset);
  const found = findAttentions(view);
  const rows: PatchRow[] = [];
  const functions = new Map<string, { name: string; lowered: Lowered; ir: PatternIR }>();
  const replaced = new Map<NodeProto, NodeProto[]>(); // last removed node -> replacement
  const removed = new Set<NodeProto>();
  const removedTensors = new Set<string>();
  const taken = new Set<string>([...graph.node.flatMap((n) => [...n.input, ...n.output]), ...graph.initializer.map((t) => t.name), ...graph.input.map((i) => i.name)]);
  const fresh = (base: string): string => {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_');
    let name = clean, i = 1;
    while (taken.has(name)) name = `${clean}_${i++}`;
    taken.add(name);
    return name;
  };
  const newInits: TensorProto[] = [];
  const constCache = new Map<string, string>();
  const i64 = (base: string, values: readonly number[]): string => {
    const key = `${base}|${values.join(',')}`;
    const hit = constCache.get(key);
    if (hit) return hit;
    const name = fresh(base);
    newInits.push(tensorI64(name, [values.length], values));
    constCache.set(key, name);
    return name;
  };

  const resolved = new Map<string, ReturnType<typeof resolvePattern>>(); // by sequence length and head_dim
  let spent: Spent = NOTHING_SPENT;
  // the sizes of attentions patched with sizes taken at run time, when they do not follow from
  // the sequence length: one int64 [rank] graph input, added once
  let gridInput: string | null = null;
  const gridFor = (rank: number): string => {
    if (!gridInput) {
      gridInput = taken.has('grid') ? fresh('grat_grid') : (taken.add('grid'), 'grid');
      graph.input = [...graph.input, valueInfo(gridInput, DT.INT64, [rank])]; // a copy: the input model is never changed
    }
    return gridInput;
  };
  for (const f of found) {
    const row = { nodes: f.names, form: f.form, heads: f.heads, headDim: f.headDim, seq: f.seq, scale: f.scale, dtype: FLOAT_TYPES.get(f.elem) ?? null, mask: f.mask };
    const skip = (note: string): void => { rows.push({ ...row, patched: false, note }); };
    if (opts.only && !opts.only.includes(f.names[0])) { skip('not selected'); continue; }
    if (f.problem || !f.rewrite) { skip(f.problem ?? 'not patchable'); continue; }
    if (opset < 13) { skip(`model opset ${opset} < 13`); continue; }
    if (!FLOAT_TYPES.has(f.elem)) { skip(`element type ${dtypeName(f.elem)} is not a float type`); continue; }
    if (f.seq === null) {
      // a symbolic sequence length: one function for every size the pattern leaves open
      if (opts.lowering === 'dense-mask') { skip('the sequence length is not static (the dense-mask lowering needs it)'); continue; }
      const { ir, rt } = resolveRuntime(spec, f.headDim!);
      const o = { elemType: f.elem, scale: f.fnScale, keyBias: false, opset };
      let entry: { name: string; lowered: Lowered; ir: PatternIR } | undefined;
      const ctx = {
        fresh, i64,
        call: (q: string, k: string, v: string, keyBias: string | null, out: string): NodeProto[] => {
          const oo = { ...o, keyBias: keyBias !== null };
          const name = runtimeFunctionName(ir, rt, oo);
          entry = functions.get(name);
          if (!entry) {
            const lowered = lowerRuntime(ir, rt, oo, spent);
            entry = { name: lowered.name, lowered, ir };
            functions.set(lowered.name, entry);
            spent = { bytes: spent.bytes + lowered.spent.bytes, nodes: spent.nodes + lowered.spent.nodes, steps: spent.steps, functions: spent.functions + 1 };
          }
          const args = [q, k, v, ...(keyBias ? [keyBias] : []), ...(needsGridInput(rt) ? [gridFor(ir.dims.length)] : [])];
          return [node(entry.name, args, [out], {}, { name: fresh(`grat_${f.names[0]}`), domain: GRAT_DOMAIN })];
        },
      };
      const nodes = f.rewrite(ctx);
      const last = f.remove.reduce((a, b) => (view.producer.get(b.output[0])!.index > view.producer.get(a.output[0])!.index ? b : a));
      for (const n of f.remove) { removed.add(n); for (const out of n.output) removedTensors.add(out); }
      replaced.set(last, nodes);
      const from = needsGridInput(rt) ? `the graph input '${gridInput}'` : 'the sequence length';
      rows.push({ ...row, patched: true, note: `${GRAT_DOMAIN}::${entry!.name} (sizes at run time, from ${from})` });
      continue;
    }
    const resKey = `${f.seq}|${f.headDim}`;
    const res = resolved.get(resKey) ?? resolvePattern(spec, f.seq!, f.headDim!);
    resolved.set(resKey, res);
    if ('why' in res) { skip(res.why); continue; }
    const lowerOpts = { elemType: f.elem, scale: f.fnScale, keyBias: f.mask !== null && !!f.rewrite, opset };
    let entry: { name: string; lowered: Lowered; ir: PatternIR } | undefined;
    const ctx = {
      fresh, i64,
      call: (q: string, k: string, v: string, keyBias: string | null, out: string): NodeProto[] => {
        const o = { ...lowerOpts, keyBias: keyBias !== null };
        // one function per distinct lowering, however many attentions call it; all of them
        // together stay inside the cost model's budgets (compiler/cost.ts)
        const dense = opts.lowering === 'dense-mask';
        const name = dense ? `${functionName(res.ir, o)}_dense` : functionName(res.ir, o);
        entry = functions.get(name);
        if (!entry) {
          const lowered = dense ? lowerDense(res.ir, o, (x) => denseMask(x), spent) : lowerPattern(res.ir, o, spent);
          entry = { name: lowered.name, lowered, ir: res.ir };
          functions.set(lowered.name, entry);
          spent = { bytes: spent.bytes + lowered.spent.bytes, nodes: spent.nodes + lowered.spent.nodes, steps: spent.steps + lowered.spent.steps, functions: spent.functions + 1 };
        }
        return [node(entry.name, keyBias ? [q, k, v, keyBias] : [q, k, v], [out], {}, { name: fresh(`grat_${f.names[0]}`), domain: GRAT_DOMAIN })];
      },
    };
    const nodes = f.rewrite(ctx);
    const last = f.remove.reduce((a, b) => (view.producer.get(b.output[0])!.index > view.producer.get(a.output[0])!.index ? b : a));
    for (const n of f.remove) { removed.add(n); for (const o of n.output) removedTensors.add(o); }
    replaced.set(last, nodes);
    const b = entry!.lowered.buckets;
    rows.push({ ...row, patched: true, note: `${GRAT_DOMAIN}::${entry!.name}${b.length ? ` (${b.length} bucket${b.length > 1 ? 's' : ''})` : ''}` });
  }

  const patched = rows.filter((r) => r.patched).length;
  const clash = input.functions.find((f) => f.domain === GRAT_DOMAIN && functions.has(f.name));
  if (patched > 0 && clash) {
    throw new OnnxError(`the model already defines a function ${GRAT_DOMAIN}::${clash.name} (patched before?); refusing to add a second one of that name`);
  }
  if (patched > 0) {
    // keep graph order: each replacement goes where the attention's last node was
    const out: NodeProto[] = [];
    for (const n of graph.node) {
      const rep = replaced.get(n);
      if (rep) out.push(...rep);
      else if (!removed.has(n)) out.push(n);
    }
    graph.node = out;
    // the replacement recomputes the attention's outputs under the same names; inner tensors are gone
    const keepOut = new Set(out.flatMap((n) => n.output));
    graph.valueInfo = graph.valueInfo.filter((v) => !removedTensors.has(v.name) || keepOut.has(v.name));
    graph.initializer.push(...newInits);
    model.functions.push(...[...functions.values()].map((f) => f.lowered.fn));
    if (!model.opsetImport.some((o) => o.domain === GRAT_DOMAIN)) {
      model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: GRAT_DOMAIN, version: 1n }));
    }
    if (model.irVersion < 8n) model.irVersion = 8n; // model-local functions need IR version 8
  }
  return { model, rows, patched, functions: [...functions.values()] };
}

export interface PatchFileResult extends PatchResult {
  readonly saved: SaveResult | null;
}

/**
 * Patches a model file into `outPath` (atomically; nothing is written when no attention was
 * patched and `allowNone` is false). External data is copied into `<out>.data` when the output
 * goes to another folder; no file the input consists of is ever written (model.ts saveModel).
 */
export async function patchFile(inPath: string, outPath: string, spec: PatternSpec, opts: PatchOptions & SaveOptions & { allowNone?: boolean; inputShownAs?: string } = {}): Promise<PatchFileResult> {
  const loaded = await loadModel(inPath, opts.inputShownAs);
  const result = patchModel(loaded.model, spec, opts);
  if (result.patched === 0 && !opts.allowNone) return { ...result, saved: null };
  const saved = await saveModel(result.model, outPath, { ...opts, source: loaded });
  return { ...result, saved };
}

/** The table `gratc patch` prints. */
export function formatRows(rows: readonly PatchRow[]): string {
  const head = ['#', 'nodes', 'form', 'heads', 'head_dim', 'seq', 'scale', 'patched'];
  const body = rows.map((r, i) => {
    // node names come from the model: control characters and bidi controls are shown escaped
    const nodes = terminalSafe(r.nodes.length > 2 ? `${r.nodes[0]} … ${r.nodes[r.nodes.length - 1]} (${r.nodes.length})` : r.nodes.join(', '));
    return [String(i), nodes, r.form, String(r.heads ?? '?'), String(r.headDim ?? '?'), String(r.seq ?? '?'), fmtScale(r.scale), `${r.patched ? 'yes' : 'no'}: ${terminalSafe(r.note)}`];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

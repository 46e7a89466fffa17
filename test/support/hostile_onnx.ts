/**
 * Hostile ONNX models for `gratc patch` / `gratc run`, built from one small real export
 * (test/fixtures/onnx/ts17_fused_sdpa.onnx: x[1,72,32] → qkv → one MatMul–Softmax–MatMul
 * attention over 72 tokens = 8x8 grid + 8 text, head_dim 16 → y). Each case is a set of files to
 * put in a folder (the model plus any external data) and what `gratc patch` must do with it:
 * `error` (exit 1, one line matching `message`, nothing written) or `ok` (exit 0, the patched model
 * written). Nothing here runs anything; test/reliability.onnx.test.ts does.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  FunctionProtoSchema, GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, StringStringEntryProtoSchema,
  type ModelProto, type NodeProto, type TensorProto,
} from 'onnx-buf';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModel } from '../../runtime/onnx/model.js';
import { DT, node, valueInfo } from '../../runtime/onnx/tensor.js';

export const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'onnx', 'ts17_fused_sdpa.onnx');
/** The pattern every case is patched with: fits the fixture (8x8 grid + 8 text = 72 tokens). */
export const PATTERN = 'pattern p\ngrid h=8 w=8\ngroup h=4 w=4\ntext ? before\nimage attends neighbors(0) + text\nhead_dim 16\ndtype fp32\n';

/** A file of a case: bytes, or a sparse file of this many bytes (holes cost no disk). */
export type CaseFile = Uint8Array | { readonly sparse: number };

export interface HostileCase {
  readonly name: string;
  /** File name → contents; `model` names the one passed to gratc. */
  readonly files: Readonly<Record<string, CaseFile>>;
  readonly model: string;
  readonly expect: 'error' | 'ok';
  /** For `error`: what the one line must say. */
  readonly message?: RegExp;
}

export const fixtureBytes = (): Uint8Array => new Uint8Array(readFileSync(FIXTURE));
export const fixtureModel = (): ModelProto => parseModel(fixtureBytes(), FIXTURE);
const bin = (m: ModelProto): Uint8Array => toBinary(ModelProtoSchema, m);

/** A copy of the model with its graph's node list (and optionally initializers) replaced. */
function withGraph(m: ModelProto, edit: { node?: NodeProto[]; initializer?: TensorProto[] }): ModelProto {
  return { ...m, graph: { ...m.graph!, ...edit } };
}

const ext = (entries: Record<string, string>): ReturnType<typeof create<typeof StringStringEntryProtoSchema>>[] =>
  Object.entries(entries).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));

/** The model with initializer `name` moved to external data at `location` (payload dropped). */
function externalized(m: ModelProto, name: string, entries: Record<string, string>, dims?: bigint[]): ModelProto {
  return withGraph(m, {
    initializer: m.graph!.initializer.map((t) => (t.name !== name ? t : {
      ...t, ...(dims ? { dims } : {}), rawData: new Uint8Array(0), floatData: [], dataLocation: 1, externalData: ext(entries),
    })),
  });
}

const opsets = (m: ModelProto, list: [string, bigint][]): ModelProto => ({ ...m, opsetImport: list.map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version })) });

/** Every hostile case (see HostileCase). */
export function hostileCases(): HostileCase[] {
  const good = fixtureBytes();
  const m = fixtureModel();
  const nodes = m.graph!.node;
  const idx = (n: string): number => nodes.findIndex((x) => x.name === n);
  const replaceNode = (i: number, n: NodeProto): NodeProto[] => nodes.map((x, j) => (j === i ? n : x));
  const one = (name: string, model: ModelProto | Uint8Array, expect: 'error' | 'ok', message?: RegExp, extra: Record<string, CaseFile> = {}): HostileCase =>
    ({ name, files: { 'm.onnx': model instanceof Uint8Array ? model : bin(model), ...extra }, model: 'm.onnx', expect, ...(message ? { message } : {}) });
  const w = m.graph!.initializer.find((t) => t.name === 'onnx::MatMul_61')!; // 32x96 float: 12288 bytes
  const wBytes = w.rawData;
  const cases: HostileCase[] = [
    // ---- not a model ----
    one('empty file', new Uint8Array(0), 'error', /not a valid ONNX model/),
    one('text file', new TextEncoder().encode('this is not a model\n'), 'error', /not a valid ONNX model/),
    one('truncated in half', good.subarray(0, good.length >> 1), 'error', /not a valid ONNX model/),
    one('truncated by one byte', good.subarray(0, good.length - 1), 'error', /not a valid ONNX model/),
    // a field claiming a 2^62-byte length: must not allocate it
    one('length-bomb varint', Uint8Array.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x00]), 'error', /not a valid ONNX model/),
    one('no graph', { ...m, graph: undefined }, 'error', /no graph/),
    one('IR version 0', { ...m, irVersion: 0n }, 'error', /IR version/),
    // ---- opsets ----
    one('no default opset', opsets(m, [['com.microsoft', 1n]]), 'error', /imports no default ONNX opset/),
    one('opset 0', opsets(m, [['', 0n]]), 'error', /opset 0, which gratc does not know/),
    one('negative opset', opsets(m, [['', -5n]]), 'error', /opset -5, which gratc does not know/),
    one('future opset 99', opsets(m, [['', 99n]]), 'error', /opset 99, which gratc does not know/),
    one('opset 2^63-1', opsets(m, [['', 9223372036854775807n]]), 'error', /which gratc does not know/),
    one('old opset 11 (too old to patch)', opsets(m, [['', 11n]]), 'error', /could be patched|opset 11/),
    one('two default opsets that disagree', opsets(m, [['', 17n], ['ai.onnx', 99n]]), 'error', /opset/),
    // ---- graph structure ----
    one('cycle through the attention', withGraph(m, { node: replaceNode(idx('/MatMul'), node('MatMul', ['/Mul_output_0', '/MatMul_1_output_0'], ['/MatMul_output_0'], {}, { name: '/MatMul' })) }), 'error', /cycle|could be patched|no attention/),
    one('self-loop on Softmax', withGraph(m, { node: replaceNode(idx('/Softmax'), node('Softmax', ['/Softmax_output_0'], ['/Softmax_output_0'], { axis: -1 }, { name: '/Softmax' })) }), 'error', /cycle|could be patched|no attention/),
    one('two nodes write the same tensor', withGraph(m, { node: [...nodes.slice(0, idx('/Softmax') + 1), node('Identity', ['/MatMul_output_0'], ['/Softmax_output_0'], {}, { name: 'dup' }), ...nodes.slice(idx('/Softmax') + 1)] }), 'error', /written by more than one node|could be patched|twice/),
    one('dangling input', withGraph(m, { node: replaceNode(idx('/Softmax'), node('Softmax', ['nowhere'], ['/Softmax_output_0'], { axis: -1 }, { name: '/Softmax' })) }), 'error', /nowhere|no attention|could be patched|undefined/),
    // ---- external data ----
    one('external data missing', externalized(m, w.name, { location: 'w.bin', offset: '0', length: String(wBytes.length) }), 'error', /external data file 'w.bin' of tensor .* is missing/),
    one('external data too short', externalized(m, w.name, { location: 'w.bin', offset: '0', length: String(wBytes.length) }), 'error', /too short/, { 'w.bin': wBytes.subarray(0, 100) }),
    one('external data offset past the end', externalized(m, w.name, { location: 'w.bin', offset: '1000000', length: String(wBytes.length) }), 'error', /too short/, { 'w.bin': wBytes }),
    one('external data outside the folder (..)', externalized(m, w.name, { location: '../w.bin', offset: '0', length: String(wBytes.length) }), 'error', /outside the model's folder/),
    one('external data at an absolute path', externalized(m, w.name, { location: '/etc/passwd', offset: '0', length: '10' }), 'error', /outside the model's folder/),
    one('external data without a location', externalized(m, w.name, { offset: '0', length: String(wBytes.length) }), 'error', /names no location/),
    one('external data length not a number', externalized(m, w.name, { location: 'w.bin', offset: '0', length: 'lots' }), 'error', /length|offset/, { 'w.bin': wBytes }),
    one('external data negative offset', externalized(m, w.name, { location: 'w.bin', offset: '-4096', length: String(wBytes.length) }), 'error', /offset/, { 'w.bin': wBytes }),
    one('external data length smaller than the tensor', externalized(m, w.name, { location: 'w.bin', offset: '0', length: '16' }), 'error', /declares 16 bytes of external data, but its type and shape need 12288/, { 'w.bin': wBytes }),
    one('external data location is the model itself', externalized(m, w.name, { location: 'm.onnx', offset: '0', length: '16' }), 'error', /external data|model itself|length/),
    // ---- names that collide with ours, hostile names ----
    one('ai.grat already imported at version 7', opsets(m, [['', 17n], ['ai.grat', 7n]]), 'ok'),
    one('tensors named like our new ones', withGraph(m, {
      node: [...nodes, node('Identity', ['x'], ['grat_/MatMul'], {}, { name: 'grat_/MatMul' }), node('Identity', ['x'], ['grat_/MatMul_1'], {}, { name: 'x2' })],
    }), 'ok'),
    one('hostile node names (newline, ANSI escape, quotes, */, """, ${, backtick)', withGraph(m, {
      node: nodes.map((n) => (n.name === '/MatMul' || n.name === '/Softmax' ? { ...n, name: `${n.name}\n\u001b[2J\u001b[31m"'*/"""\${x}\`rm -rf\`` } : n)),
    }), 'ok'),
    // ---- big ----
    // an initializer declared as 3 GiB of external data in a sparse file: only the declared size is
    // big (the tensor's dims say 32x96, so onnxruntime would refuse it; gratc must not read it)
    one('a >2 GB external data file (sparse)', externalized(m, w.name, { location: 'big.bin', offset: String(3 * 2 ** 30), length: String(wBytes.length) }), 'ok', undefined, { 'big.bin': { sparse: 3 * 2 ** 30 + 4 * 2 ** 20 } }),
  ];
  return cases;
}

/**
 * The fixture with a decoy ai.grat function already named `ours` (the name gratc gives the
 * pattern's function; the caller computes it by patching in memory) whose body is just Identity.
 * Patching must replace or refuse it, never call it.
 */
export function decoyCase(ours: string): HostileCase {
  const m = fixtureModel();
  const decoy = create(FunctionProtoSchema, {
    name: ours, domain: 'ai.grat', input: ['q', 'k', 'v'], output: ['y'],
    node: [node('Identity', ['q'], ['y'])],
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
  });
  return { name: 'a decoy ai.grat function with our function\'s name', files: { 'm.onnx': bin({ ...m, functions: [decoy] }) }, model: 'm.onnx', expect: 'ok' };
}

/**
 * A few hundred bytes that declare one attention over `seq` tokens: q, kᵀ, v graph inputs of
 * static shape → MatMul → Softmax → MatMul. Patching it with PATTERN (8x8 grid + `text ? before`)
 * binds the text to seq − 64 tokens, so a hostile seq asks the lowering for any amount of work.
 * `copies` attentions read the same inputs (outputs y0, y1, ...).
 */
export function attentionModel(seq: number, headDim = 16, copies = 1): Uint8Array {
  const f = DT.FLOAT;
  const graph = create(GraphProtoSchema, {
    name: 'attention',
    node: Array.from({ length: copies }, (_, i) => [
      node('MatMul', ['q', 'kt'], [`s${i}`], {}, { name: `scores${i}` }),
      node('Softmax', [`s${i}`], [`p${i}`], { axis: -1 }, { name: `softmax${i}` }),
      node('MatMul', [`p${i}`, 'v'], [`y${i}`], {}, { name: `mix${i}` }),
    ]).flat(),
    input: [valueInfo('q', f, [1, 1, seq, headDim]), valueInfo('kt', f, [1, 1, headDim, seq]), valueInfo('v', f, [1, 1, seq, headDim])],
    output: Array.from({ length: copies }, (_, i) => valueInfo(`y${i}`, f, [1, 1, seq, headDim])),
  });
  return bin(create(ModelProtoSchema, { irVersion: 8n, graph, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })] }));
}

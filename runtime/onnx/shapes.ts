/**
 * A small static view of a graph for the pattern matcher: producers, consumers, element types,
 * shapes and the values of small constants. Shapes come from the graph's value_info where the
 * exporter wrote it (the dynamo exporter does), else from a forward pass over the ops that sit
 * on attention paths (TorchScript exports carry none, and compute the SDPA scale from Shape).
 * Unknown ops just leave their outputs unknown; nothing here is trusted beyond matching.
 */
import type { GraphProto, NodeProto, ValueInfoProto } from 'onnx-buf';
import { DT, attrInt, attrInts, getAttr, tensorValues } from '../../codegen/onnx/tensor.js';

/** A dimension: a number when static, null when symbolic or unknown. */
export type Dim = number | null;

export interface TensorInfo {
  shape: Dim[] | null;
  elem: number; // 0 = unknown
  /** Values of small constants (≤ 64 elements), flattened. */
  value?: number[];
}

const MAX_CONST = 64;

function fromValueInfo(v: ValueInfoProto): TensorInfo | null {
  if (v.type?.value.case !== 'tensorType') return null;
  const tt = v.type.value.value;
  const shape = tt.shape ? tt.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : null)) : null;
  return { shape, elem: tt.elemType };
}

const size = (s: Dim[] | null): number | null => (s && s.every((d) => d !== null) ? (s as number[]).reduce((a, b) => a * b, 1) : null);

function broadcast(a: Dim[] | null, b: Dim[] | null): Dim[] | null {
  if (!a || !b) return null;
  const n = Math.max(a.length, b.length), out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x === y ? x : x ?? y);
  }
  return out;
}

const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

export class GraphView {
  readonly producer = new Map<string, { node: NodeProto; index: number }>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly info = new Map<string, TensorInfo>();
  readonly graphOutputs: Set<string>;
  readonly initializers: Set<string>;

  constructor(readonly graph: GraphProto, readonly opset: number) {
    graph.node.forEach((n, index) => {
      for (const o of n.output) if (o) this.producer.set(o, { node: n, index });
      for (const i of n.input) if (i) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
    });
    this.graphOutputs = new Set(graph.output.map((o) => o.name));
    this.initializers = new Set(graph.initializer.map((t) => t.name));
    for (const v of [...graph.input, ...graph.valueInfo, ...graph.output]) {
      const i = fromValueInfo(v);
      if (i) this.info.set(v.name, i);
    }
    for (const t of graph.initializer) {
      const n = t.dims.reduce((a, d) => a * Number(d), 1);
      this.info.set(t.name, { shape: t.dims.map(Number), elem: t.dataType, value: n <= MAX_CONST ? tensorValues(t) ?? undefined : undefined });
    }
    for (const n of graph.node) this.infer(n);
  }

  shape(name: string): Dim[] | null { return this.info.get(name)?.shape ?? null; }
  value(name: string): number[] | undefined { return this.info.get(name)?.value; }
  elem(name: string): number { return this.info.get(name)?.elem ?? 0; }
  /** The single scalar value of a constant, if it is one. */
  scalar(name: string): number | undefined {
    const v = this.value(name);
    return v && v.length === 1 ? v[0] : undefined;
  }
  uses(name: string): number { return (this.consumers.get(name)?.length ?? 0) + (this.graphOutputs.has(name) ? 1 : 0); }
  producerOf(name: string): NodeProto | undefined { return this.producer.get(name)?.node; }

  private set(name: string, i: TensorInfo): void {
    if (!name) return;
    const old = this.info.get(name);
    // value_info from the exporter wins for shapes; our values fill in constants
    if (old?.shape && !i.value) return;
    this.info.set(name, { shape: old?.shape ?? i.shape, elem: old?.elem || i.elem, value: i.value ?? old?.value });
  }

  private infer(n: NodeProto): void {
    const I = n.input.map((x) => (x ? this.info.get(x) : undefined));
    const s0 = I[0]?.shape ?? null, e0 = I[0]?.elem ?? 0, v = I.map((x) => x?.value);
    const out = n.output[0];
    const same = (value?: number[]): void => this.set(out, { shape: s0, elem: e0, value });
    const unary = (f: (x: number) => number): void => same(v[0]?.map(f));
    switch (n.domain === '' || n.domain === 'ai.onnx' ? n.opType : '') {
      case 'Constant': {
        const a = n.attribute[0];
        if (!a) return;
        if (a.t) {
          const t = a.t, cnt = t.dims.reduce((x, d) => x * Number(d), 1);
          this.set(out, { shape: t.dims.map(Number), elem: t.dataType, value: cnt <= MAX_CONST ? tensorValues(t) ?? undefined : undefined });
        } else if (a.name === 'value_float') this.set(out, { shape: [], elem: DT.FLOAT, value: [a.f] });
        else if (a.name === 'value_int') this.set(out, { shape: [], elem: DT.INT64, value: [Number(a.i)] });
        else if (a.name === 'value_ints') this.set(out, { shape: [a.ints.length], elem: DT.INT64, value: a.ints.map(Number) });
        else if (a.name === 'value_floats') this.set(out, { shape: [a.floats.length], elem: DT.FLOAT, value: a.floats });
        return;
      }
      case 'Identity': case 'Dropout': case 'Relu': case 'Erf': case 'Gelu': case 'Sigmoid': case 'Tanh': case 'Exp': case 'Softmax':
      case 'LayerNormalization': case 'Abs': case 'Not': case 'SimplifiedLayerNormalization': case 'RMSNormalization': case 'Log':
        return same(n.opType === 'Identity' ? v[0] : undefined);
      case 'Sqrt': return unary(Math.sqrt);
      case 'Neg': return unary((x) => -x);
      case 'Reciprocal': return unary((x) => 1 / x);
      case 'Cast': {
        const to = attrInt(n, 'to', 0);
        const isInt = [DT.INT64, DT.INT32, DT.INT8, DT.INT16, DT.UINT8].includes(to);
        return this.set(out, { shape: s0, elem: to, value: v[0]?.map((x) => (isInt ? Math.trunc(x) : x)) });
      }
      case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Equal': case 'Less': case 'Greater': case 'And': case 'Or': {
        const shape = broadcast(s0, I[1]?.shape ?? null);
        const f = { Add: (a: number, b: number) => a + b, Sub: (a: number, b: number) => a - b, Mul: (a: number, b: number) => a * b,
          Div: (a: number, b: number) => (e0 === DT.INT64 || e0 === DT.INT32 ? Math.trunc(a / b) : a / b), Pow: (a: number, b: number) => a ** b } as Record<string, (a: number, b: number) => number>;
        let value: number[] | undefined;
        const a = v[0], b = v[1];
        if (f[n.opType] && a && b && (a.length === b.length || a.length === 1 || b.length === 1)) {
          const len = Math.max(a.length, b.length);
          value = Array.from({ length: len }, (_, i) => f[n.opType](a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]));
        }
        const elem = ['Equal', 'Less', 'Greater', 'And', 'Or'].includes(n.opType) ? DT.BOOL : e0;
        return this.set(out, { shape, elem, value });
      }
      case 'Where': return this.set(out, { shape: broadcast(broadcast(s0, I[1]?.shape ?? null), I[2]?.shape ?? null), elem: I[1]?.elem ?? 0 });
      case 'MatMul': {
        const a = s0, b = I[1]?.shape ?? null;
        if (!a || !b || a.length < 2 || b.length < 2) return this.set(out, { shape: null, elem: e0 });
        const batch = broadcast(a.slice(0, -2), b.slice(0, -2));
        return this.set(out, { shape: batch ? [...batch, a[a.length - 2], b[b.length - 1]] : null, elem: e0 });
      }
      case 'Gemm': {
        const a = s0, b = I[1]?.shape ?? null;
        if (!a || !b) return;
        const ta = attrInt(n, 'transA', 0), tb = attrInt(n, 'transB', 0);
        return this.set(out, { shape: [ta ? a[1] : a[0], tb ? b[0] : b[1]], elem: e0 });
      }
      case 'Transpose': {
        if (!s0) return this.set(out, { shape: null, elem: e0 });
        const perm = attrInts(n, 'perm') ?? s0.map((_, i) => s0.length - 1 - i);
        return this.set(out, { shape: perm.map((p) => s0[p]), elem: e0 });
      }
      case 'Reshape': {
        const target = v[1];
        if (!target) return this.set(out, { shape: null, elem: e0 });
        const allowzero = attrInt(n, 'allowzero', 0);
        const shape: Dim[] = target.map((d, i) => (d === 0 && !allowzero ? (s0?.[i] ?? null) : d === -1 ? null : d));
        const total = size(s0);
        const known = shape.filter((d, i) => target[i] !== -1 && d !== null) as number[];
        const neg = target.indexOf(-1);
        if (neg >= 0 && total !== null && known.length === target.length - 1) shape[neg] = total / known.reduce((a, b) => a * b, 1);
        return this.set(out, { shape, elem: e0, value: v[0] });
      }
      case 'Shape': {
        if (!s0) return this.set(out, { shape: null, elem: DT.INT64 });
        const r = s0.length;
        const start = normAxis(attrInt(n, 'start', 0), r), end = getAttr(n, 'end') ? normAxis(attrInt(n, 'end', r), r) : r;
        const dims = s0.slice(Math.max(0, start), Math.min(r, end));
        return this.set(out, { shape: [dims.length], elem: DT.INT64, value: dims.every((d) => d !== null) ? (dims as number[]) : undefined });
      }
      case 'Size': return this.set(out, { shape: [], elem: DT.INT64, value: size(s0) !== null ? [size(s0)!] : undefined });
      case 'Slice': {
        if (!s0) return this.set(out, { shape: null, elem: e0 });
        const starts = this.opset >= 10 ? v[1] : attrInts(n, 'starts'), ends = this.opset >= 10 ? v[2] : attrInts(n, 'ends');
        const axes = (this.opset >= 10 ? v[3] : attrInts(n, 'axes')) ?? starts?.map((_, i) => i), steps = (this.opset >= 10 ? v[4] : null) ?? starts?.map(() => 1);
        if (!starts || !ends || !axes || !steps) return this.set(out, { shape: null, elem: e0 });
        const shape = s0.slice();
        const ranges: [number, number, number][] = s0.map((d) => [0, d ?? 0, 1]);
        axes.forEach((ax, i) => {
          const a = normAxis(ax, s0.length), d = s0[a];
          if (d === null) { shape[a] = null; return; }
          const clamp = (x: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, x));
          const st = steps[i];
          let s = starts[i] < 0 ? starts[i] + d : starts[i], e = ends[i] < 0 ? ends[i] + d : ends[i];
          s = st > 0 ? clamp(s, 0, d) : clamp(s, -1, d - 1); e = st > 0 ? clamp(e, 0, d) : clamp(e, -1, d - 1);
          shape[a] = Math.max(0, Math.ceil((e - s) / st));
          ranges[a] = [s, e, st];
        });
        let value: number[] | undefined;
        if (v[0] && s0.length === 1) {
          const [s, e, st] = ranges[0];
          value = [];
          for (let i = s; st > 0 ? i < e : i > e; i += st) value.push(v[0][i]);
        }
        return this.set(out, { shape, elem: e0, value });
      }
      case 'Gather': {
        const idx = I[1]?.shape ?? null;
        if (!s0 || !idx) return this.set(out, { shape: null, elem: e0 });
        const ax = normAxis(attrInt(n, 'axis', 0), s0.length);
        let value: number[] | undefined;
        if (v[0] && v[1] && s0.length === 1) value = v[1].map((i) => v[0]![i < 0 ? i + v[0]!.length : i]);
        return this.set(out, { shape: [...s0.slice(0, ax), ...idx, ...s0.slice(ax + 1)], elem: e0, value });
      }
      case 'Concat': {
        const shapes = I.map((x) => x?.shape ?? null);
        if (shapes.some((s) => !s)) return this.set(out, { shape: null, elem: e0 });
        const ax = normAxis(attrInt(n, 'axis', 0), shapes[0]!.length);
        const shape = shapes[0]!.slice();
        shape[ax] = shapes.reduce<number | null>((acc, s) => (acc === null || s![ax] === null ? null : acc + (s![ax] as number)), 0);
        const value = v.every((x) => x) && shape.length === 1 ? v.flatMap((x) => x!) : undefined;
        return this.set(out, { shape, elem: e0, value });
      }
      case 'Unsqueeze': case 'Squeeze': {
        const axes = this.opset >= 13 ? v[1] : attrInts(n, 'axes');
        if (!s0) return this.set(out, { shape: null, elem: e0 });
        let shape: Dim[];
        if (n.opType === 'Unsqueeze') {
          if (!axes) return this.set(out, { shape: null, elem: e0 });
          const r = s0.length + axes.length, ax = new Set(axes.map((a) => normAxis(a, r)));
          shape = [];
          let j = 0;
          for (let i = 0; i < r; i++) shape.push(ax.has(i) ? 1 : s0[j++]);
        } else {
          const ax = axes ? new Set(axes.map((a) => normAxis(a, s0.length))) : null;
          shape = s0.filter((d, i) => (ax ? !ax.has(i) : d !== 1));
        }
        return this.set(out, { shape, elem: e0, value: v[0] });
      }
      case 'Split': {
        if (!s0) return;
        const ax = normAxis(attrInt(n, 'axis', 0), s0.length);
        const parts = (this.opset >= 13 ? v[1] : attrInts(n, 'split')) ?? null;
        const d = s0[ax];
        n.output.forEach((o, i) => {
          const shape = s0.slice();
          shape[ax] = parts ? parts[i] : d === null ? null : d / n.output.length;
          this.set(o, { shape, elem: e0 });
        });
        return;
      }
      default:
        for (const o of n.output) if (o && !this.info.has(o)) this.info.set(o, { shape: null, elem: 0 });
    }
  }
}

/**
 * TensorProto helpers: element types, building constant tensors and reading small ones back.
 * Only what the patcher and the lowering need; big initializers are never decoded.
 */
import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema, AttributeProto_AttributeType, NodeProtoSchema, TensorProtoSchema, TensorProto_DataType,
  TensorShapeProtoSchema, TensorShapeProto_DimensionSchema, TypeProtoSchema, TypeProto_TensorSchema, ValueInfoProtoSchema,
  type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from 'onnx-buf';

export const DT = TensorProto_DataType;

/** Element types the lowering computes in (anything else is refused by the patcher). */
export const FLOAT_TYPES: ReadonlyMap<number, string> = new Map([
  [DT.FLOAT, 'fp32'], [DT.FLOAT16, 'fp16'], [DT.BFLOAT16, 'bf16'], [DT.DOUBLE, 'fp64'],
]);

export const dtypeName = (t: number): string => TensorProto_DataType[t]?.toLowerCase() ?? `type ${t}`;

export function tensorF32(name: string, dims: readonly number[], data: Float32Array | readonly number[]): TensorProto {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return create(TensorProtoSchema, {
    name, dataType: DT.FLOAT, dims: dims.map(BigInt),
    rawData: new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength) as ArrayBuffer),
  });
}

export function tensorI64(name: string, dims: readonly number[], data: ArrayLike<number>): TensorProto {
  const arr = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) arr[i] = BigInt(data[i]);
  return create(TensorProtoSchema, { name, dataType: DT.INT64, dims: dims.map(BigInt), rawData: new Uint8Array(arr.buffer) });
}

/** A float constant in the given element type (fp32 / fp16 / bf16 / fp64), from fp32 values. */
export function tensorFloat(name: string, elemType: number, dims: readonly number[], data: ArrayLike<number>): TensorProto {
  if (elemType === DT.FLOAT) return tensorF32(name, dims, Float32Array.from(data));
  if (elemType === DT.DOUBLE) {
    const a = Float64Array.from(data);
    return create(TensorProtoSchema, { name, dataType: elemType, dims: dims.map(BigInt), rawData: new Uint8Array(a.buffer) });
  }
  const bits = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) bits[i] = elemType === DT.FLOAT16 ? toHalf(data[i]) : toBf16(data[i]);
  return create(TensorProtoSchema, { name, dataType: elemType, dims: dims.map(BigInt), rawData: new Uint8Array(bits.buffer) });
}

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);

function toBf16(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0; // NaN
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff; // round to nearest even
}

function toHalf(x: number): number {
  f32[0] = x;
  const u = u32[0], sign = (u >>> 16) & 0x8000, exp = (u >>> 23) & 0xff, man = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = (man | 0x800000) >> (1 - e);
    return sign | ((m + 0xfff + ((m >> 13) & 1)) >> 13);
  }
  const h = sign | (e << 10) | (man >> 13);
  const rest = man & 0x1fff;
  return rest > 0x1000 || (rest === 0x1000 && (h & 1)) ? h + 1 : h;
}

/** Reads a small numeric tensor (int or float) as numbers; null for types it does not decode or external data. */
export function tensorValues(t: TensorProto): number[] | null {
  if (t.dataLocation === 1) return null;
  const n = t.dims.reduce((a, d) => a * Number(d), 1);
  const raw = t.rawData;
  if (raw.length > 0) {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    switch (t.dataType) {
      case DT.FLOAT: return Array.from(new Float32Array(buf));
      case DT.DOUBLE: return Array.from(new Float64Array(buf));
      case DT.INT64: return Array.from(new BigInt64Array(buf), Number);
      case DT.INT32: return Array.from(new Int32Array(buf));
      case DT.INT8: return Array.from(new Int8Array(buf));
      case DT.UINT8: case DT.BOOL: return Array.from(new Uint8Array(buf));
      case DT.FLOAT16: return Array.from(new Uint16Array(buf), fromHalf);
      case DT.BFLOAT16: return Array.from(new Uint16Array(buf), (b) => { u32[0] = b << 16; return f32[0]; });
      default: return null;
    }
  }
  switch (t.dataType) {
    case DT.FLOAT: return t.floatData.slice(0, n);
    case DT.DOUBLE: return t.doubleData.slice(0, n);
    case DT.INT64: return t.int64Data.slice(0, n).map(Number);
    case DT.INT32: case DT.INT8: case DT.UINT8: case DT.BOOL: case DT.INT16: case DT.UINT16: return t.int32Data.slice(0, n);
    case DT.FLOAT16: return t.int32Data.slice(0, n).map(fromHalf);
    case DT.BFLOAT16: return t.int32Data.slice(0, n).map((b) => { u32[0] = b << 16; return f32[0]; });
    default: return null;
  }
}

function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// ---- nodes and attributes ----

export type AttrValue = number | bigint | string | number[] | bigint[] | TensorProto | { floats: number[] };

const AT = AttributeProto_AttributeType;

export function attr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'bigint') return create(AttributeProtoSchema, { name, type: AT.INT, i: v });
  if (typeof v === 'number') {
    return Number.isInteger(v) ? create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(v) }) : create(AttributeProtoSchema, { name, type: AT.FLOAT, f: v });
  }
  if (typeof v === 'string') return create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return create(AttributeProtoSchema, { name, type: AT.INTS, ints: (v as (number | bigint)[]).map((x) => BigInt(x)) });
  if ('floats' in v) return create(AttributeProtoSchema, { name, type: AT.FLOATS, floats: v.floats });
  return create(AttributeProtoSchema, { name, type: AT.TENSOR, t: v });
}

/** A float attribute (`attr` would store an integral number as INT). */
export const attrF = (name: string, f: number): AttributeProto => create(AttributeProtoSchema, { name, type: AT.FLOAT, f });

export function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, extra: { name?: string; domain?: string } = {}): NodeProto {
  return create(NodeProtoSchema, {
    opType, input: inputs, output: outputs, name: extra.name ?? '', domain: extra.domain ?? '',
    attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
  });
}

export function getAttr(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute.find((a) => a.name === name);
}

export const attrInt = (n: NodeProto, name: string, dflt: number): number => {
  const a = getAttr(n, name);
  return a ? Number(a.i) : dflt;
};

export const attrFloat = (n: NodeProto, name: string, dflt: number): number => {
  const a = getAttr(n, name);
  return a ? (a.type === AT.INT ? Number(a.i) : a.f) : dflt;
};

export const attrInts = (n: NodeProto, name: string): number[] | null => {
  const a = getAttr(n, name);
  return a ? a.ints.map(Number) : null;
};

// ---- value infos ----

/** A tensor ValueInfo; a string dim is symbolic (`batch`), a number static. */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[] | null): ValueInfoProto {
  const shape = dims === null ? undefined : create(TensorShapeProtoSchema, {
    dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, {
      value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
    })),
  });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType, shape }) } }),
  });
}

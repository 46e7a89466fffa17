/**
 * NumPy .npy files (format 1.0–3.0, C order, little-endian) for `gratc run`'s inputs and outputs.
 * Only the element types onnxruntime takes; anything else is a one-line error.
 */
import { OnnxError } from './model.js';

export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool' | 'float16';

export interface NdArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;
}

const DESCR: Record<NpyDtype, string> = {
  float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', int8: '|i1', uint8: '|u1', bool: '|b1', float16: '<f2',
};
const BY_DESCR = new Map(Object.entries(DESCR).map(([k, v]) => [v, k as NpyDtype]));
const CTOR = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array,
} as const;

export function parseNpy(buf: Uint8Array, shownAs: string): NdArray {
  const bad = (why: string): OnnxError => new OnnxError(`'${shownAs}' is not a usable .npy file: ${why}`);
  if (buf.length < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY') throw bad('no NUMPY magic');
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + hlen > buf.length) throw bad('truncated header');
  const header = new TextDecoder().decode(buf.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad('unreadable header');
  if (fortran === 'True') throw bad('Fortran order is not supported');
  const dtype = BY_DESCR.get(descr.replace('=', '<'));
  if (!dtype) throw bad(`element type ${descr} is not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad('bad shape');
  const count = shape.reduce((a, b) => a * b, 1);
  const Ctor = CTOR[dtype];
  const bytes = count * Ctor.BYTES_PER_ELEMENT, off = start + hlen;
  if (off + bytes > buf.length) throw bad(`truncated data (${buf.length - off} of ${bytes} bytes)`);
  const copy = new Uint8Array(bytes); // an aligned copy (a Node Buffer's slice would share its pool)
  copy.set(buf.subarray(off, off + bytes));
  return { dtype, shape, data: new Ctor(copy.buffer, 0, count) };
}

export function toNpy(a: NdArray): Uint8Array {
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${DESCR[a.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + a.data.byteLength);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), 10 + header.length);
  return out;
}

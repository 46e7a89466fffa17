/**
 * NumPy .npy files (format 1.0–3.0, C order, little-endian) for `gratc run`'s inputs and outputs.
 * Only the element types onnxruntime takes; anything else is a one-line error. The header is
 * read strictly (see parseHeader): what gratc accepts, numpy reads the same way.
 */
import { OnnxError } from './model.js';

export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool' | 'float16';

export interface NdArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;
}

/** Largest .npy file `gratc run` reads. */
export const MAX_NPY_BYTES = 2 ** 31;
/** numpy's own default limit on a header's length (`max_header_size`). */
const MAX_HEADER = 10_000;

const DESCR: Record<NpyDtype, string> = {
  float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', int8: '|i1', uint8: '|u1', bool: '|b1', float16: '<f2',
};
const BY_DESCR = new Map(Object.entries(DESCR).map(([k, v]) => [v, k as NpyDtype]));
const CTOR = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array,
} as const;

interface Header { readonly descr: string; readonly fortran: boolean; readonly shape: number[] }

/**
 * The header: a Python dict literal as numpy writes it, e.g. `{'descr': '<f4', 'fortran_order':
 * False, 'shape': (2, 3), }`, then spaces and a newline. Exactly the keys descr, fortran_order
 * and shape, each once (numpy takes the last of duplicates; gratc used to take the first);
 * values: a quoted string without escapes, True or False, a tuple of decimal integers. numpy
 * evaluates any Python literal there (hex, `+2`, comments); gratc refuses what it does not write.
 * Returns the header, or why not.
 */
export function parseHeader(text: string): Header | string {
  let i = 0;
  const ws = (): void => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const peek = (): string => { ws(); return text[i] ?? ''; };
  const take = (c: string): boolean => { if (peek() !== c) return false; i++; return true; };
  const fail = (what: string): never => { throw new Error(`${what} at header offset ${i}`); };
  const str = (): string => {
    const q = peek();
    if (q !== "'" && q !== '"') fail('expected a quoted string');
    const j = text.indexOf(q, i + 1);
    if (j < 0) fail('unterminated string');
    const v = text.slice(i + 1, j);
    if (/[\\\n\r]/.test(v)) fail('a string with an escape or line break');
    i = j + 1;
    return v;
  };
  const int = (): number => {
    ws();
    const m = /^(?:0|[1-9]\d{0,15})(?![\w.])/.exec(text.slice(i));
    if (!m) fail('expected a non-negative decimal integer');
    i += m![0].length;
    return Number(m![0]);
  };
  const value: Record<string, () => unknown> = {
    descr: str,
    fortran_order: () => {
      ws();
      const m = /^(True|False)(?!\w)/.exec(text.slice(i));
      if (!m) fail('expected True or False');
      i += m![0].length;
      return m![1] === 'True';
    },
    shape: () => {
      if (!take('(')) fail("expected '(' (a tuple)");
      const dims: number[] = [];
      let comma = false;
      while (!take(')')) {
        if (dims.length > 0 && !comma) fail("expected ',' or ')'");
        dims.push(int());
        comma = take(',');
      }
      if (dims.length === 1 && !comma) fail('(n) is a number, not a tuple: write (n,)');
      return dims;
    },
  };
  try {
    const d = new Map<string, unknown>();
    if (!take('{')) fail("expected '{'");
    while (!take('}')) {
      const key = str();
      if (!(key in value)) fail(`unknown key '${key}'`);
      if (d.has(key)) fail(`key '${key}' given twice`);
      if (!take(':')) fail("expected ':'");
      d.set(key, value[key]());
      if (!take(',') && peek() !== '}') fail("expected ',' or '}'");
    }
    ws();
    if (i < text.length) fail('text after the dict');
    for (const k of Object.keys(value)) if (!d.has(k)) fail(`no '${k}'`);
    return { descr: d.get('descr') as string, fortran: d.get('fortran_order') as boolean, shape: d.get('shape') as number[] };
  } catch (e) {
    return (e as Error).message;
  }
}

export function parseNpy(buf: Uint8Array, shownAs: string): NdArray {
  const bad = (why: string): OnnxError => new OnnxError(`'${shownAs}' is not a usable .npy file: ${why}`);
  if (buf.length < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY') throw bad('no NUMPY magic');
  const major = buf[6], minor = buf[7];
  if (![1, 2, 3].includes(major) || minor !== 0) throw bad(`format version ${major}.${minor} (numpy writes 1.0, 2.0 and 3.0)`);
  const start = major === 1 ? 10 : 12;
  if (buf.length < start) throw bad('truncated header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (hlen > MAX_HEADER) throw bad(`a ${hlen}-byte header (numpy reads at most ${MAX_HEADER})`);
  if (start + hlen > buf.length) throw bad('truncated header');
  // 1.0 and 2.0 headers are latin-1, 3.0 UTF-8; every accepted header is ASCII
  const h = parseHeader(new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(start, start + hlen)));
  if (typeof h === 'string') throw bad(`unreadable header (${h})`);
  if (h.fortran) throw bad('Fortran order is not supported');
  const dtype = BY_DESCR.get(h.descr.replace(/^=/, '<'));
  if (!dtype) throw bad(`element type ${h.descr} is not supported`);
  const count = h.shape.reduce((a, b) => a * b, 1);
  const Ctor = CTOR[dtype];
  const bytes = count * Ctor.BYTES_PER_ELEMENT, off = start + hlen;
  if (!Number.isSafeInteger(bytes) || off + bytes > buf.length) throw bad(`truncated data (${buf.length - off} bytes for shape (${h.shape.join(', ')}))`);
  const copy = new Uint8Array(bytes); // an aligned copy (a Node Buffer's slice would share its pool)
  copy.set(buf.subarray(off, off + bytes));
  return { dtype, shape: h.shape, data: new Ctor(copy.buffer, 0, count) };
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

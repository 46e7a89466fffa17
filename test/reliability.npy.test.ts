/**
 * `.npy` inputs (runtime/onnx/npy.ts) and `gratc run`'s summary of what comes out.
 *
 *  - headers numpy refuses are refused (duplicate keys — numpy takes the last, gratc took the
 *    first —, `72e0`, version bytes 9 and 1.1, a 10-byte 2.0 file, which was an internal error);
 *  - a property against numpy itself (when python3 with numpy is installed): random headers from
 *    a grammar of what numpy writes, mutated; whatever gratc accepts, numpy loads with the same
 *    dtype, shape and values;
 *  - the summary of outputs holding NaN (was "min Infinity max -Infinity").
 */
import { create, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { ModelProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxError } from '../runtime/onnx/model.js';
import { parseNpy, toNpy } from '../runtime/onnx/npy.js';
import { DT, node, valueInfo } from '../runtime/onnx/tensor.js';
import { gratcIn } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'gratc-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterAll(() => console.log(`reliability figures (.npy): ${JSON.stringify(COUNTS)}`));

export const COUNTS = { headers: 0, againstNumpy: 0, acceptedAndMatched: 0 };

/** A .npy file: magic, version, header padded as numpy pads it (to 64 bytes), data. */
function npy(header: string, opts: { major?: number; minor?: number; data?: Uint8Array } = {}): Uint8Array {
  const major = opts.major ?? 1, minor = opts.minor ?? 0;
  const pre = major === 1 ? 10 : 12;
  const h = header + ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(pre + h.length + (opts.data?.length ?? 0));
  out.set([0x93, ...Buffer.from('NUMPY'), major, minor]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(Buffer.from(h, 'latin1'), pre);
  if (opts.data) out.set(opts.data, pre + h.length);
  return out;
}

const F4x2 = new Uint8Array(Float32Array.of(1.5, -2).buffer);
const parses = (b: Uint8Array): string => {
  COUNTS.headers++;
  try {
    const a = parseNpy(b, 'x.npy');
    return `${a.dtype} (${a.shape.join(',')})`;
  } catch (e) {
    if (!(e instanceof OnnxError)) throw e; // anything else is an internal error
    return `refused: ${e.message}`;
  }
};

describe('.npy headers', () => {
  it('refuses what numpy refuses, and what it would read differently', () => {
    const refused: [string, Uint8Array][] = [
      ['duplicate keys (numpy takes the last: float64)', npy("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", { data: F4x2 })],
      ['72e0 (a float)', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (72e0,), }", { data: F4x2 })],
      ['version byte 9', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", { major: 9, data: F4x2 })],
      ['version 1.1', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", { minor: 1, data: F4x2 })],
      ['(2) is not a tuple', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", { data: F4x2 })],
      ['a list shape', npy("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", { data: F4x2 })],
      ['fortran_order 0', npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", { data: F4x2 })],
      ['an extra key', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", { data: F4x2 })],
      ['a missing key', npy("{'descr': '<f4', 'shape': (2,), }", { data: F4x2 })],
      ['a negative dimension', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", { data: F4x2 })],
      ['02 (a syntax error in Python)', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (02,), }", { data: F4x2 })],
      ['two commas', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,,2), }", { data: F4x2 })],
      ['1_0 (numpy: 10 elements, 8 bytes of data)', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1_0,), }", { data: F4x2 })],
      ['True as a dimension', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }", { data: F4x2 })],
      ['not a dict', npy("['descr', '<f4']", { data: F4x2 })],
      ['a header over numpy\'s 10,000 bytes', npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }${' '.repeat(10_100)}`, { data: F4x2 })],
      ['big-endian', npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", { data: F4x2 })],
      ['a shape whose size overflows', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (9999999999999999, 9999999999999999), }", { data: F4x2 })],
      ['truncated data', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", { data: F4x2 })],
      ['a 10-byte 2.0 file (was an internal error)', Uint8Array.from([0x93, ...Buffer.from('NUMPY'), 2, 0, 0, 0])],
      ['an 11-byte 3.0 file', Uint8Array.from([0x93, ...Buffer.from('NUMPY'), 3, 0, 0, 0, 0])],
    ];
    for (const [name, b] of refused) expect(parses(b), name).toMatch(/^refused: 'x\.npy' is not a usable \.npy file: /);
  });

  it('reads what numpy writes, in every version and layout', () => {
    const ok: [string, Uint8Array, string][] = [
      ['gratc\'s own', toNpy({ dtype: 'float32', shape: [2], data: Float32Array.of(1.5, -2) }), 'float32 (2)'],
      ['version 2.0', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", { major: 2, data: F4x2 }), 'float32 (2)'],
      ['version 3.0', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", { major: 3, data: F4x2 }), 'float32 (1,2)'],
      ['no spaces, no trailing comma', npy("{'descr':'<f4','fortran_order':False,'shape':(2,)}", { data: F4x2 }), 'float32 (2)'],
      ['double quotes, keys in another order', npy('{"shape": (2,), "fortran_order": False, "descr": "<f4"}', { data: F4x2 }), 'float32 (2)'],
      ['a 0-d array', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", { data: F4x2 }), 'float32 ()'],
      ['a trailing comma in the shape', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2,), }", { data: F4x2 }), 'float32 (1,2)'],
      ['spaces inside the shape', npy("{'descr': '<f4', 'fortran_order': False, 'shape': ( 2 , ) }", { data: F4x2 }), 'float32 (2)'],
    ];
    for (const [name, b, want] of ok) expect(parses(b), name).toBe(want);
  });

  it('`gratc run` with a 10-byte 2.0 .npy: one line, exit 1 (was an internal error)', async () => {
    writeFileSync(join(dir, 'short.npy'), Uint8Array.from([0x93, ...Buffer.from('NUMPY'), 2, 0, 0, 0]));
    writeFileSync(join(dir, 'id.onnx'), identityModel());
    const r = await gratcIn(['run', 'id.onnx', '--input', 'x=short.npy'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("gratc: error: 'short.npy' is not a usable .npy file: truncated header\n");
  });

  it('whatever gratc accepts, numpy loads the same way (property, random and mutated headers)', () => {
    const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      // CI's machine image has numpy (pyenv's python3): there a missing numpy is a failure, not a skip
      if (process.env.CI) throw new Error('python3 with numpy not found: the numpy cross-check cannot run in CI');
      console.warn('python3 with numpy not found: the numpy cross-check did not run');
      return;
    }
    // a header numpy would write, each part sometimes mutated into what numpy may or may not read
    const often = <T>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ arbitrary: usual, weight: 6 }, { arbitrary: odd, weight: 1 });
    const int = often(fc.nat({ max: 3 }).map(String), fc.constantFrom('02', '1_0', '0x2', '+1', '-1', '1e0', '1.0', 'True', ' 2 ', '00'));
    const shape = fc.array(int, { maxLength: 3 }).chain((d) => often(
      fc.constant(`(${d.join(', ')}${d.length === 1 ? ',' : ''})`),
      fc.constantFrom(`(${d.join(',')},)`, `(${d.join(', ')})`, `[${d.join(', ')}]`, `(${d.join(',,')})`),
    ));
    const descr = often(fc.constantFrom("'<f4'", "'<f8'", "'<i8'", "'<i4'", "'|i1'", "'|u1'", "'|b1'", "'<f2'"), fc.constantFrom("'=f4'", "'>f4'", "'f4'", '"<i4"', "'<' 'f4'", "u'<f4'", "'<c8'", "'<f4"));
    const bool = often(fc.constant('False'), fc.constantFrom('True', '0', 'false', 'None'));
    const key = (k: string) => often(fc.constantFrom(`'${k}'`, `"${k}"`), fc.constantFrom(`'${k} '`, `'${k.toUpperCase()}'`, k));
    const end = often(fc.constantFrom(', }', '}'), fc.constantFrom(',}', ', } # c', ',, }', ', }}', ', } x'));
    const order = often(fc.constant<number[]>([0, 1, 2]), fc.shuffledSubarray([0, 1, 2], { minLength: 2, maxLength: 3 }));
    const header = fc.tuple(key('descr'), descr, key('fortran_order'), bool, key('shape'), shape, end, order, often(fc.constant(false), fc.constant(true)))
      .map(([kd, d, kf, f, ks, s, e, o, dup]) => {
        const items = [`${kd}: ${d}`, `${kf}: ${f}`, `${ks}: ${s}`];
        const picked = o.map((i) => items[i]);
        if (dup) picked.push(items[o[0]]);
        return `{${picked.join(', ')}${e}`;
      });
    const data = often(fc.uint8Array({ minLength: 256, maxLength: 256 }), fc.uint8Array({ maxLength: 40 }));
    const cases = fc.sample(fc.tuple(header, fc.constantFrom(1, 2, 3), data), 400);
    const files = cases.map(([h, major, data], i) => {
      const p = join(dir, `h${i}.npy`);
      writeFileSync(p, npy(h, { major, data }));
      return p;
    });
    const py = `
import json, sys, numpy as np
out = []
for p in sys.argv[1:]:
    try:
        a = np.load(p, allow_pickle=False)
        out.append({"dtype": str(a.dtype), "shape": list(a.shape), "bytes": a.tobytes().hex() if a.dtype.byteorder in "<|=" else None})
    except Exception as e:
        out.append({"error": type(e).__name__})
print(json.dumps(out))`;
    const r = spawnSync('python3', ['-c', py, ...files], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    expect(r.status, r.stderr).toBe(0);
    const numpy = JSON.parse(r.stdout) as ({ dtype: string; shape: number[]; bytes: string | null } | { error: string })[];
    const NP: Record<string, string> = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool', float16: 'float16' };
    let accepted = 0;
    cases.forEach(([h], i) => {
      COUNTS.againstNumpy++;
      const b = npy(h, { major: cases[i][1], data: cases[i][2] });
      let a;
      try { a = parseNpy(b, 'x.npy'); } catch (e) { expect(e, h).toBeInstanceOf(OnnxError); return; }
      accepted++;
      const n = numpy[i];
      expect('error' in n ? n.error : 'loaded', `numpy on ${JSON.stringify(h)}`).toBe('loaded');
      if ('error' in n) return;
      expect(n.dtype, h).toBe(NP[a.dtype]);
      expect(n.shape, h).toEqual([...a.shape]);
      expect(n.bytes, h).toBe(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).toString('hex'));
    });
    COUNTS.acceptedAndMatched = accepted;
    expect(accepted, "some random headers are valid").toBeGreaterThan(10);
  });
});

/** x[n] → Identity → y. */
function identityModel(): Uint8Array {
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, {
    irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
    graph: { name: 'g', node: [node('Identity', ['x'], ['y'])], input: [valueInfo('x', DT.FLOAT, ['n'])], output: [valueInfo('y', DT.FLOAT, ['n'])] },
  }));
}

describe('gratc run: the summary of outputs with NaN', () => {
  it('min, max and mean over the values that are not NaN, and the NaN count (was "min Infinity max -Infinity")', async () => {
    writeFileSync(join(dir, 'id.onnx'), identityModel());
    writeFileSync(join(dir, 'some.npy'), toNpy({ dtype: 'float32', shape: [4], data: Float32Array.of(1, NaN, -3, 2) }));
    writeFileSync(join(dir, 'all.npy'), toNpy({ dtype: 'float32', shape: [2], data: Float32Array.of(NaN, NaN) }));
    const some = await gratcIn(['run', 'id.onnx', '--input', 'x=some.npy'], dir);
    expect(some.code, some.stderr).toBe(0);
    expect(some.stdout.split('\n')[0]).toBe('y: float32[4] min -3.0000 max 2.0000 mean 0.0000 (1 NaN)');
    const all = await gratcIn(['run', 'id.onnx', '--input', 'x=all.npy'], dir);
    expect(all.stdout.split('\n')[0]).toBe('y: float32[2] min - max - mean - (2 NaN)');
    const j = JSON.parse((await gratcIn(['run', 'id.onnx', '--input', 'x=all.npy', '--json'], dir)).stdout);
    expect(j.outputs[0]).toMatchObject({ min: null, max: null, mean: null, nan: 2 });
    const none = JSON.parse((await gratcIn(['run', 'id.onnx', '--input', 'x=some.npy', '--json'], dir)).stdout);
    expect(none.outputs[0]).toMatchObject({ min: -3, max: 2, mean: 0, nan: 1 });
  });
});

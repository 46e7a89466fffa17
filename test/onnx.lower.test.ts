/**
 * The ONNX lowering (codegen/onnx) against the float64 reference (compiler/reference.ts):
 * standalone models emitted by the `onnx` backend, run with onnxruntime's CPU provider.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { checkSource } from '../compiler/index.js';
import type { PatternIR } from '../compiler/ir.js';
import { totalTokens } from '../compiler/ir.js';
import { referenceAttention } from '../compiler/reference.js';
import { backendFor } from '../codegen/all.js';
import '../codegen/onnx/index.js';
import { GRAT_DOMAIN, lowerDense, lowerPattern } from '../codegen/onnx/lower.js';
import { denseMask } from '../compiler/reference.js';
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import { DT, node, valueInfo } from '../runtime/onnx/tensor.js';

function pattern(body: string): PatternIR {
  const r = checkSource(`pattern t\n${body}\nhead_dim 8\ndtype fp32\n`);
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.ir;
}

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return (s / 2147483648) * 4 - 2; });
}

async function check(ir: PatternIR, valid?: number): Promise<number> {
  const out = backendFor('onnx')!.emit(ir);
  expect(out.diagnostics).toEqual([]);
  const bytes = out.files[0].contents as Uint8Array;
  const B = 2, H = 2, N = totalTokens(ir), D = ir.headDim;
  const [q, k, v] = [1, 2, 3].map((s) => rand(B * H * N * D, s));
  const session = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, ort.Tensor> = {
    q: new ort.Tensor('float32', q, [B, H, N, D]), k: new ort.Tensor('float32', k, [B, H, N, D]), v: new ort.Tensor('float32', v, [B, H, N, D]),
  };
  if (ir.text) feeds.text_valid = new ort.Tensor('int64', BigInt64Array.from([BigInt(valid ?? ir.text.count)]), []);
  const y = (await session.run(feeds)).y.data as Float32Array;
  await session.release();
  const ref = referenceAttention(ir, q, k, v, { batch: B, heads: H, layout: 'bhnd', valid });
  let max = 0;
  for (let i = 0; i < y.length; i++) max = Math.max(max, Math.abs(y[i] - ref[i]));
  return max;
}

const CASES: [string, string, number?][] = [
  ['GRAT-B, text before', 'grid h=8 w=8\ngroup h=4 w=4\ntext 6 before\nimage attends neighbors(1) + text'],
  ['GRAT-B, padded text', 'grid h=8 w=8\ngroup h=4 w=4\ntext 6 before\nimage attends neighbors(1) + text', 2],
  ['no valid text', 'grid h=6 w=6\ngroup h=2 w=3\ntext 4 after\nimage attends neighbors(0) + text\ntext attends text', 0],
  ['crisscross, ragged grid, text after, text sees grid', 'grid h=10 w=7\ngroup h=4 w=4\ntext 5 after\nimage attends crisscross\ntext attends grid'],
  ['grouped order', 'grid h=8 w=12\ngroup h=4 w=4\norder grouped\ntext 3 before\nimage attends neighbors(h=0, w=1) + text'],
  ['3-D grid, shift border', 'grid t=3 h=6 w=6\ngroup t=1 h=3 w=3\nborder shift\nimage attends neighbors(1)'],
  ['predicate with empty groups', 'grid h=6 w=9\ngroup h=2 w=3\ntext 3 before\nimage attends where(dh == 1)\ntext attends text', 0],
  ['no text', 'grid h=16 w=16\ngroup h=4 w=4\nimage attends neighbors(1)'],
  ['full attention', 'grid h=6 w=6\ngroup h=3 w=3\ntext 4 before\nimage attends all'],
  // query_chunk cuts buckets into several Gather → MatMul chains
  ['chunks of one group, padded text', 'grid h=8 w=8\ngroup h=4 w=4\ntext 6 before\nimage attends neighbors(1) + text\ntext attends all\nschedule onnx query_chunk=4', 2],
  ['chunks of two groups, ragged grid', 'grid h=10 w=7\ngroup h=2 w=2\ntext 5 after\nimage attends crisscross + text\ntext attends grid\nschedule onnx query_chunk=9', 3],
  ['chunks, text-only groups, no valid text', 'grid h=6 w=9\ngroup h=2 w=3\ntext 3 before\nimage attends where(dh == 1) + text\ntext attends text\nschedule onnx query_chunk=12', 0],
];

describe('onnx backend vs the float64 reference', () => {
  for (const [name, body, valid] of CASES) {
    it(name, async () => {
      expect(await check(pattern(body), valid)).toBeLessThan(1e-5);
    });
  }

  it('cuts buckets into chunks of query_chunk rows (whole groups)', () => {
    const count = (body: string): number => {
      const m = fromBinary(ModelProtoSchema, backendFor('onnx')!.emit(pattern(body)).files[0].contents as Uint8Array);
      return m.functions[0].node.filter((n) => n.opType === 'Softmax').length;
    };
    const body = 'grid h=16 w=16\ngroup h=4 w=4\nimage attends neighbors(1)'; // 16 groups of 16 rows, 3 buckets (4, 8, 4 groups)
    expect(count(body)).toBe(3); // default 128 rows: one chunk per bucket
    expect(count(`${body}\nschedule onnx query_chunk=32`)).toBe(2 + 4 + 2);
    expect(count(`${body}\nschedule onnx query_chunk=1`)).toBe(16); // at least one group
    expect(count(`${body}\nschedule onnx query_chunk=65536`)).toBe(3);
  });

  it('chunks with a key bias match the dense-masked lowering', async () => {
    const ir = pattern('grid h=8 w=8\ngroup h=4 w=4\ntext 6 before\nimage attends neighbors(1) + text\ntext attends all');
    const B = 2, H = 2, N = totalTokens(ir), D = ir.headDim;
    const run = async (dense: boolean): Promise<Float32Array> => {
      const o = { elemType: DT.FLOAT, keyBias: true, opset: 17, queryChunk: 16 };
      const l = dense ? lowerDense(ir, o, (x) => denseMask(x)) : lowerPattern(ir, o);
      const dims = [B, H, N, D];
      const graph = create(GraphProtoSchema, {
        name: 'g', node: [node(l.name, l.inputs.slice(), ['y'], {}, { name: 'a', domain: GRAT_DOMAIN })],
        input: [...['q', 'k', 'v'].map((x) => valueInfo(x, DT.FLOAT, dims)), valueInfo('key_bias', DT.FLOAT, [B, 1, 1, N])],
        output: [valueInfo('y', DT.FLOAT, dims)],
      });
      const model = create(ModelProtoSchema, {
        irVersion: 8n, graph, functions: [l.fn],
        opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n }), create(OperatorSetIdProtoSchema, { domain: GRAT_DOMAIN, version: 1n })],
      });
      const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, model));
      const [q, k, v] = [1, 2, 3].map((s) => rand(B * H * N * D, s));
      const kb = Float32Array.from(rand(B * N, 4), (x, i) => (i % 7 === 3 ? -1e9 : x));
      const y = (await session.run({
        q: new ort.Tensor('float32', q, dims), k: new ort.Tensor('float32', k, dims), v: new ort.Tensor('float32', v, dims),
        key_bias: new ort.Tensor('float32', kb, [B, 1, 1, N]),
      })).y.data as Float32Array;
      await session.release();
      return y;
    };
    const [a, b] = [await run(false), await run(true)];
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    expect(max).toBeLessThan(1e-5);
  });

  // per-sample text lengths (CFG-style batch: one sample with no valid text): the reference per sample
  const PER_SAMPLE: [string, string][] = [
    ['GRAT-B', 'grid h=8 w=8\ngroup h=4 w=4\ntext 6 before\nimage attends neighbors(1) + text\ntext attends all'],
    ['text-only groups, text sees text', 'grid h=6 w=9\ngroup h=2 w=3\ntext 3 before\nimage attends where(dh == 1) + text\ntext attends text\nschedule onnx query_chunk=12'],
    ['ragged, text after, text sees grid', 'grid h=10 w=7\ngroup h=4 w=4\ntext 5 after\nimage attends crisscross + text\ntext attends grid'],
  ];
  for (const [name, body] of PER_SAMPLE) {
    it(`text_valid per sample [batch] (${name}): one length 0, one past the count, against the reference of each sample`, async () => {
      const ir = pattern(body);
      const bytes = backendFor('onnx')!.emit(ir).files[0].contents as Uint8Array;
      const T = ir.text!.count, H = 2, N = totalTokens(ir), D = ir.headDim;
      const session = await ort.InferenceSession.create(bytes);
      try {
        for (const lens of [[T - 1, 0], [0, T + 4, 2], [7], [-3, 1]]) {
          const B = lens.length, per = H * N * D;
          const [q, k, v] = [5, 6, 7].map((s) => rand(B * per, s + B));
          const y = (await session.run({
            q: new ort.Tensor('float32', q, [B, H, N, D]), k: new ort.Tensor('float32', k, [B, H, N, D]), v: new ort.Tensor('float32', v, [B, H, N, D]),
            text_valid: new ort.Tensor('int64', BigInt64Array.from(lens.map(BigInt)), [B]),
          })).y.data as Float32Array;
          let max = 0;
          lens.forEach((valid, b) => { // (the reference clamps to [0, count] too)
            const part = (x: Float32Array): Float32Array => x.subarray(b * per, (b + 1) * per);
            const ref = referenceAttention(ir, part(q), part(k), part(v), { batch: 1, heads: H, layout: 'bhnd', valid });
            for (let i = 0; i < per; i++) max = Math.max(max, Math.abs(y[b * per + i] - ref[i]));
          });
          expect(max, `lengths ${lens.join(',')}`).toBeLessThan(1e-5);
        }
        // a scalar still works (models emitted before took only a scalar)
        const q = rand(H * N * D, 9);
        const y = (await session.run({
          q: new ort.Tensor('float32', q, [1, H, N, D]), k: new ort.Tensor('float32', q, [1, H, N, D]), v: new ort.Tensor('float32', q, [1, H, N, D]),
          text_valid: new ort.Tensor('int64', BigInt64Array.of(2n), []),
        })).y.data as Float32Array;
        const ref = referenceAttention(ir, q, q, q, { batch: 1, heads: H, layout: 'bhnd', valid: 2 });
        expect(y.reduce((m, x, i) => Math.max(m, Math.abs(x - ref[i])), 0)).toBeLessThan(1e-5);
      } finally {
        await session.release();
      }
    });
  }

  it('emits one ai.grat function the graph calls, with a deterministic name', () => {
    const ir = pattern(CASES[0][1]);
    const a = backendFor('onnx')!.emit(ir), b = backendFor('onnx')!.emit(ir);
    expect(Buffer.from(a.files[0].contents as Uint8Array).equals(Buffer.from(b.files[0].contents as Uint8Array))).toBe(true);
    const m = fromBinary(ModelProtoSchema, a.files[0].contents as Uint8Array);
    expect(m.functions).toHaveLength(1);
    expect(m.functions[0].domain).toBe(GRAT_DOMAIN);
    expect(m.graph!.node).toHaveLength(1);
    expect(m.graph!.node[0]).toMatchObject({ domain: GRAT_DOMAIN, opType: m.functions[0].name });
    expect(m.opsetImport.map((o) => o.domain)).toContain(GRAT_DOMAIN);
    expect(a.info.buckets).toBeDefined();
  });
});

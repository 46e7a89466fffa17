/**
 * Patching real exported graphs (test/fixtures/onnx, made by export_fixtures.py with PyTorch
 * 2.11's TorchScript and dynamo exporters and the onnx helper): every attention form is found,
 * onnxruntime reproduces PyTorch, the patched model matches the same model with the pattern's
 * dense mask (float64 reference mask from compiler/reference.ts) within 1e-4, and a full-attention
 * pattern reproduces the original outputs.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, OperatorSetIdProtoSchema, GraphProtoSchema, type ModelProto } from 'onnx-buf';
import { loadModel, saveModel, OnnxError } from '../runtime/onnx/model.js';
import { parseNpy, toNpy, type NdArray } from '../runtime/onnx/npy.js';
import { patchFile, patchModel, type PatternSpec } from '../runtime/onnx/patch.js';
import { maxAbsDiff, runModel } from '../runtime/onnx/run.js';
import { DT, node, tensorF32, valueInfo } from '../runtime/onnx/tensor.js';
import { GRAT_DOMAIN } from '../codegen/onnx/lower.js';

const F = join(import.meta.dirname, 'fixtures/onnx');
const npy = (n: string): NdArray => parseNpy(readFileSync(join(F, n)), n);
const tmp = mkdtempSync(join(tmpdir(), 'gratc-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const spec = (image: string, text = 'text ? before'): PatternSpec => ({
  source: `pattern t\ngrid h=8 w=8\ngroup h=4 w=4\n${text}\nimage attends ${image}\nhead_dim 16\ndtype fp32\n`,
});
const SPARSE = spec('neighbors(0) + text');
const FULL = spec('all');

function rand(shape: number[], seed: number): NdArray {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return (s / 2147483648) * 2 - 1; }) };
}

function inputsFor(m: ModelProto): Record<string, NdArray> {
  const out: Record<string, NdArray> = {};
  for (const i of m.graph!.input) {
    if (i.name === 'mask') { out.mask = npy('kpm.npy'); continue; }
    if (existsSync(join(F, `${i.name}.npy`))) { out[i.name] = npy(`${i.name}.npy`); continue; }
    const dims = i.type!.value.case === 'tensorType' ? i.type!.value.value.shape!.dim.map((d) => Number(d.value.value)) : [];
    out[i.name] = rand(dims, i.name.charCodeAt(0));
  }
  return out;
}

const run = async (m: ModelProto, inputs: Record<string, NdArray>): Promise<NdArray> => (await runModel(toBinary(ModelProtoSchema, m), inputs)).y;

// [fixture, expected form, number of attentions, exporter]
const FIXTURES: [string, string, number][] = [
  ['ts17_split_mul', 'matmul-softmax', 1],
  ['ts17_fused_sdpa', 'matmul-softmax', 1],
  ['ts17_fused_sdpa_kpm', 'matmul-softmax', 1],
  ['dyn18_split_div', 'matmul-softmax', 1],
  ['dyn18_split_preq', 'matmul-softmax', 1],
  ['dyn18_fused_sdpa', 'matmul-softmax', 1],
  ['dyn20_joint', 'matmul-softmax', 2],
  ['dyn23_fused_sdpa', 'onnx-attention', 1],
  ['helper_attention23_4d', 'onnx-attention', 1],
  ['helper_attention23_3d', 'onnx-attention', 1],
  ['helper_ms_mha', 'ms-multihead', 1],
  ['helper_ms_attention', 'ms-attention', 1],
];

describe('patching exported models', () => {
  for (const [name, form, count] of FIXTURES) {
    it(`${name}: ${form}`, async () => {
      const { model } = await loadModel(join(F, `${name}.onnx`));
      const inputs = inputsFor(model);
      const original = await run(model, inputs);
      if (existsSync(join(F, `y_${name}.npy`))) expect(maxAbsDiff(original, npy(`y_${name}.npy`))).toBeLessThan(1e-4); // onnxruntime = PyTorch

      const sparse = patchModel(model, SPARSE);
      expect(sparse.rows.map((r) => [r.form, r.heads, r.headDim, r.seq, r.patched])).toEqual(Array(count).fill([form, 2, 16, 72, true]));
      expect(sparse.rows[0].scale).toBeCloseTo(name === 'helper_attention23_3d' ? 0.2 : 0.25, 6);
      const dense = patchModel(model, SPARSE, { lowering: 'dense-mask' });
      const ySparse = await run(sparse.model, inputs);
      expect(maxAbsDiff(ySparse, await run(dense.model, inputs))).toBeLessThan(1e-4);
      expect(maxAbsDiff(ySparse, original)).toBeGreaterThan(1e-3); // the pattern changes the output

      const full = patchModel(model, FULL);
      expect(full.patched).toBe(count);
      expect(maxAbsDiff(await run(full.model, inputs), original)).toBeLessThan(1e-4);
    });
  }

  it('keeps everything else: initializers, opsets, metadata; adds one ai.grat function', async () => {
    const { model } = await loadModel(join(F, 'dyn20_joint.onnx'));
    const r = patchModel(model, SPARSE);
    expect(r.functions).toHaveLength(1); // both layers share one function
    expect(r.model.functions.map((f) => f.domain)).toEqual([GRAT_DOMAIN]);
    const names = new Set(r.model.graph!.initializer.map((t) => t.name));
    for (const t of model.graph!.initializer) expect(names.has(t.name)).toBe(true);
    expect(r.model.opsetImport.map((o) => `${o.domain}:${o.version}`)).toEqual([...model.opsetImport.map((o) => `${o.domain}:${o.version}`), `${GRAT_DOMAIN}:1`]);
    expect(r.model.graph!.input).toEqual(model.graph!.input);
    expect(r.model.graph!.output).toEqual(model.graph!.output);
    expect(r.model.producerName).toBe(model.producerName);
    // the input ModelProto is untouched
    expect(toBinary(ModelProtoSchema, model)).toEqual(new Uint8Array(readFileSync(join(F, 'dyn20_joint.onnx'))));
  });

  it('refuses clearly: sequence length that does not match grid + text', async () => {
    const { model } = await loadModel(join(F, 'ts17_split_mul.onnx'));
    const r = patchModel(model, spec('neighbors(1)', 'text 4 before'));
    expect(r.patched).toBe(0);
    expect(r.rows[0].note).toBe('sequence length 72 ≠ grid 8x8 (64) + text 4 = 68');
  });

  it('refuses clearly: a mask that differs per query', () => {
    const N = 72, D = 16;
    const graph = create(GraphProtoSchema, {
      name: 'g',
      node: [
        node('Transpose', ['k'], ['kt'], { perm: [0, 1, 3, 2] }),
        node('MatMul', ['q', 'kt'], ['s'], {}, { name: 'qk' }),
        node('Add', ['s', 'causal'], ['sm'], {}, { name: 'mask_add' }),
        node('Softmax', ['sm'], ['p'], { axis: -1 }, { name: 'softmax' }),
        node('MatMul', ['p', 'v'], ['y'], {}, { name: 'pv' }),
      ],
      initializer: [tensorF32('causal', [N, N], Float32Array.from({ length: N * N }, (_, i) => (i % N > Math.floor(i / N) ? -1e9 : 0)))],
      input: ['q', 'k', 'v'].map((n) => valueInfo(n, DT.FLOAT, [1, 2, N, D])),
      output: [valueInfo('y', DT.FLOAT, [1, 2, N, D])],
    });
    const model = create(ModelProtoSchema, { irVersion: 8n, graph, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })] });
    const r = patchModel(model, SPARSE);
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0].patched).toBe(false);
    expect(r.rows[0].note).toMatch(/differs per query/);
  });

  it('patches a file atomically, never touches the input, copies external data into OUT.data', async () => {
    const dir = join(tmp, 'ext'), out = join(tmp, 'ext-out');
    mkdirSync(dir); mkdirSync(out);
    const { model } = await loadModel(join(F, 'dyn18_split_div.onnx'));
    // the same model with its initializers in external data (as models over 2 GB are)
    const saved = await saveModel(model, join(dir, 'm.onnx'), { externalThreshold: 0 });
    expect(saved.externalFiles).toEqual([join(dir, 'm.onnx.data')]);
    const before = createHash('sha256').update(readFileSync(join(dir, 'm.onnx'))).digest('hex');
    const r = await patchFile(join(dir, 'm.onnx'), join(out, 'p.onnx'), SPARSE);
    expect(r.patched).toBe(1);
    expect(createHash('sha256').update(readFileSync(join(dir, 'm.onnx'))).digest('hex')).toBe(before);
    // named after the output, so two outputs in one folder never share a data file
    expect(readdirSync(out).sort()).toEqual(['p.onnx', 'p.onnx.data']);
    const inputs = inputsFor(model);
    const y = (await runModel(join(out, 'p.onnx'), inputs)).y;
    expect(maxAbsDiff(y, await run(patchModel(model, SPARSE).model, inputs))).toBe(0);
    // missing external data: one clear error
    rmSync(join(dir, 'm.onnx.data'));
    await expect(loadModel(join(dir, 'm.onnx'))).rejects.toThrow(/external data file 'm.onnx.data' of tensor '.*' is missing/);
  });

  it('rejects hostile files with one-line errors', async () => {
    const good = readFileSync(join(F, 'ts17_split_mul.onnx'));
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated.onnx', good.subarray(0, 5000), /not a valid ONNX model/],
      ['garbage.onnx', new Uint8Array(Array.from({ length: 300 }, (_, i) => (i * 97 + 13) % 256)), /not a valid ONNX model/],
      ['empty.onnx', new Uint8Array(0), /not a valid ONNX model/],
    ];
    const { model } = await loadModel(join(F, 'ts17_split_mul.onnx'));
    const future = { ...model, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 99n })] };
    cases.push(['opset99.onnx', toBinary(ModelProtoSchema, future), /uses ONNX opset 99, which gratc does not know/]);
    for (const [file, bytes, re] of cases) {
      writeFileSync(join(tmp, file), bytes);
      const err = await loadModel(join(tmp, file)).then(() => null, (e: unknown) => e);
      expect(err, file).toBeInstanceOf(OnnxError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toMatch(/\n/);
    }
  });

  it('reads and writes .npy', () => {
    const a: NdArray = { dtype: 'int64', shape: [2, 3], data: BigInt64Array.from([1n, 2n, 3n, 4n, 5n, -6n]) };
    const b = parseNpy(toNpy(a), 'a.npy');
    expect(b.shape).toEqual([2, 3]);
    expect(Array.from(b.data as BigInt64Array)).toEqual(Array.from(a.data as BigInt64Array));
    expect(npy('x.npy').shape).toEqual([1, 72, 32]);
  });
});

/**
 * The run-time-grid ONNX lowering (codegen/onnx/lower_runtime.ts): ONE model per pattern, run by
 * onnxruntime (CPU) at several grid sizes (ragged, one token, one group) and text lengths (per
 * sample, 0), each compared with the float64 reference of the pattern checked at that size
 * (compiler/reference.ts, an independent definition).
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { checkSource } from '../compiler/index.js';
import type { PatternIR } from '../compiler/ir.js';
import { totalTokens } from '../compiler/ir.js';
import { referenceAttention } from '../compiler/reference.js';
import { standaloneRuntimeModel } from '../codegen/onnx/index.js';
import { backendFor } from '../codegen/all.js';
import { lowerRuntime, needsGridInput, type RuntimeSpec } from '../codegen/onnx/lower_runtime.js';
import { runtimeNodeBound } from '../compiler/cost.js';
import { WorkRefused } from '../compiler/cost.js';
import fc from 'fast-check';
import { arbPattern, toPattern } from './support/arb_pattern.js';
import { mulberry32 } from '../runtime/random.js';
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, OperatorSetIdProtoSchema, type ModelProto } from 'onnx-buf';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseNpy, toNpy } from '../runtime/onnx/npy.js';
import { join } from 'node:path';
import { DT, node, tensorF32, valueInfo } from '../codegen/onnx/tensor.js';
import { patchModel } from '../runtime/onnx/patch.js';
import { gratcIn, tempDir } from './support/cli.js';

function check(source: string, grid?: number[], text?: number): PatternIR {
  const r = checkSource(source, { grid, text, defaultName: 't' });
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.ir;
}

const values = (n: number, seed: number): Float32Array => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
};

/**
 * Terms and text flags only: what the run-time lowering takes from the IR. A predicate is
 * simplified over the grid it was checked at (`max(1, qh - 3)` is 1 where qh < 4), so the probe's
 * form is the general one and the run's an equivalent specialization: only its origin is compared
 * here. Its bounds (the window it is tried on) may be wider in the probe: a sound
 * over-approximation is all the lowering needs, so they are compared apart (`covers`).
 */
const structure = (ir: PatternIR): string => JSON.stringify([
  ir.image.terms.map((t) => (t.kind === 'predicate' ? t.origin : t)), ir.image.text, ir.textQueries, ir.order, ir.text?.place, ir.dims.map((d) => d.group),
]);
const covers = (probe: PatternIR, ir: PatternIR): boolean => probe.image.terms.every((t, i) => {
  const u = ir.image.terms[i];
  if (t.kind !== 'predicate' || u.kind !== 'predicate') return true;
  return t.bounds.every((b, a) => {
    const c = u.bounds[a];
    if (b.kind === 'all') return true;
    const [lo, hi] = c.kind === 'all' ? [1 - ir.dims[a].groups, ir.dims[a].groups - 1] : [c.lo, c.hi]; // `all`: every delta
    return lo > hi || (b.lo <= lo && hi <= b.hi);
  });
});

interface Run { readonly grid: number[]; readonly text?: number; readonly valid?: number[]; readonly heads?: number }

/**
 * Builds one model from the pattern checked at `probe` (open sizes marked by `rt`) and runs it
 * at every size of `runs`; returns the largest |error| of each run.
 */
async function runAll(source: string, rt: RuntimeSpec, probe: { grid: number[]; text?: number }, runs: readonly Run[]): Promise<number[]> {
  const base = check(source, probe.grid, probe.text);
  const { model, lowered } = standaloneRuntimeModel(base, rt);
  const bytes = toBinary(ModelProtoSchema, model);
  expect(bytes.length).toBeLessThan(200_000); // no index tensors: the model does not grow with the grid
  const session = await ort.InferenceSession.create(bytes);
  const errors: number[] = [];
  try {
    for (const [i, run] of runs.entries()) {
      const ir = check(source, run.grid, base.text ? (run.text ?? base.text.count) : undefined);
      expect(structure(ir), `the pattern at ${run.grid.join('x')} has the probe's terms`).toBe(structure(base));
      expect(covers(base, ir), `the probe's predicate windows cover those at ${run.grid.join('x')}`).toBe(true);
      const valid = run.valid ?? [ir.text?.count ?? 0];
      const B = valid.length, H = run.heads ?? 2, N = totalTokens(ir), D = ir.headDim, per = H * N * D;
      const [q, k, v] = [1, 2, 3].map((s) => values(B * per, 100 * i + s));
      const feeds: Record<string, ort.Tensor> = {
        q: new ort.Tensor('float32', q, [B, H, N, D]), k: new ort.Tensor('float32', k, [B, H, N, D]), v: new ort.Tensor('float32', v, [B, H, N, D]),
      };
      if (ir.text) feeds.text_valid = new ort.Tensor('int64', BigInt64Array.from(valid.map(BigInt)), [B]);
      if (needsGridInput(rt)) feeds.grid = new ort.Tensor('int64', BigInt64Array.from(run.grid.map(BigInt)), [run.grid.length]);
      expect(lowered.inputs).toEqual(Object.keys(feeds));
      const y = (await session.run(feeds)).y.data as Float32Array;
      let max = 0;
      valid.forEach((vb, b) => {
        const part = (x: Float32Array): Float32Array => x.subarray(b * per, (b + 1) * per);
        const ref = referenceAttention(ir, part(q), part(k), part(v), { batch: 1, heads: H, layout: 'bhnd', valid: vb });
        for (let j = 0; j < per; j++) max = Math.max(max, Math.abs(y[b * per + j] - ref[j]));
      });
      errors.push(max);
    }
  } finally {
    await session.release();
  }
  return errors;
}

const both = { dims: [true, true], text: false };

describe('onnx: one model for every grid size (run-time sizes)', () => {
  it('Flux GRAT-B shape (text before, text sees all): ragged grids, one token, per-sample text lengths with 0', async () => {
    const src = 'grid h=? w=?\ngroup h=4 w=4\ntext 6 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 8\ndtype fp32';
    const errs = await runAll(src, both, { grid: [64, 64] }, [
      { grid: [8, 8] }, { grid: [10, 7], valid: [6, 0] }, { grid: [1, 1], valid: [0, 3, 9] }, { grid: [3, 17], valid: [2] }, { grid: [16, 4] },
    ]);
    for (const e of errs) expect(e).toBeLessThan(1e-5);
  });

  it('crisscross, text after, text sees the grid, key slots clipped at every edge', async () => {
    const src = 'grid h=? w=?\ngroup h=4 w=4\ntext 5 after\nimage attends crisscross + text\ntext attends grid\nhead_dim 8\ndtype fp32';
    const errs = await runAll(src, both, { grid: [64, 64] }, [{ grid: [10, 7], valid: [5, 0] }, { grid: [4, 4] }, { grid: [1, 30] }]);
    for (const e of errs) expect(e).toBeLessThan(1e-5);
  });

  it('3-D, grouped order, shift border, overlapping terms (first-term ownership)', async () => {
    const src = 'grid t=? h=? w=?\ngroup t=1 h=3 w=3\norder grouped\nborder shift\nimage attends neighbors(1) + neighbors(t=0, h=2, w=0)\nhead_dim 8\ndtype fp32';
    const errs = await runAll(src, { dims: [true, true, true], text: false }, { grid: [20, 30, 30] }, [
      { grid: [3, 6, 6] }, { grid: [2, 7, 5] }, { grid: [1, 2, 2] }, { grid: [4, 3, 10] },
    ]);
    for (const e of errs) expect(e).toBeLessThan(1e-5);
  });

  it('predicates with floor / and % and min/max, text rows that see only text (length 0: zero rows)', async () => {
    const src = 'grid h=? w=?\ngroup h=4 w=8\ntext 9 after\nimage attends where(dh % 2 == 0 && |dh| <= 2 && dw / 2 == 0) + where(kh == 0 || min(kw, qw) > max(1, qh - 3)) + neighbors(1)\ntext attends text\nhead_dim 8\ndtype fp32';
    const errs = await runAll(src, both, { grid: [64, 64] }, [{ grid: [13, 21], valid: [9, 0] }, { grid: [4, 8] }, { grid: [30, 9], valid: [4] }]);
    for (const e of errs) expect(e).toBeLessThan(1e-5);
  });

  it('windows wider than the grid: a shifted one is the whole axis, a clipped one is cut at the largest group count', async () => {
    for (const border of ['shift', 'clip']) {
      const src = `grid h=? w=?\ngroup h=2 w=2\nborder ${border}\nimage attends neighbors(h=40, w=1) + neighbors(h=0, w=3)\nhead_dim 8\ndtype fp32`;
      const errs = await runAll(src, both, { grid: [64, 64] }, [{ grid: [10, 10] }, { grid: [64, 6] }, { grid: [3, 64] }]);
      for (const e of errs) expect(e, border).toBeLessThan(1e-5);
    }
  });

  it('a 1-D window: the one open size follows from the sequence length (no grid input)', async () => {
    const src = 'grid n=?\ngroup n=16\norder grouped\nborder shift\nimage attends neighbors(2)\nhead_dim 8\ndtype fp32';
    const rt = { dims: [true], text: false };
    expect(needsGridInput(rt)).toBe(false);
    const errs = await runAll(src, rt, { grid: [4096] }, [{ grid: [200] }, { grid: [1] }, { grid: [47] }, { grid: [16] }]);
    for (const e of errs) expect(e).toBeLessThan(1e-5);
  });

  it('an open text count with a fixed grid follows from the sequence length; a fixed dim beside an open one, too', async () => {
    const textOpen = 'grid h=6 w=8\ngroup h=2 w=4\ntext ? before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 8\ndtype fp32';
    const e1 = await runAll(textOpen, { dims: [false, false], text: true }, { grid: [6, 8], text: 100 }, [
      { grid: [6, 8], text: 7, valid: [7, 0] }, { grid: [6, 8], text: 0, valid: [0] }, { grid: [6, 8], text: 1 },
    ]);
    for (const e of e1) expect(e).toBeLessThan(1e-5);
    const oneOpen = 'grid h=? w=6\ngroup h=4 w=4\ntext 3 after\nimage attends neighbors(1) + text\ntext attends grid\nhead_dim 8\ndtype fp32';
    const e2 = await runAll(oneOpen, { dims: [true, false], text: false }, { grid: [64, 6] }, [{ grid: [9, 6], valid: [3, 0] }, { grid: [1, 6] }]);
    for (const e of e2) expect(e).toBeLessThan(1e-5);
  });

  it('both open with an open text count: the grid input gives the grid, the text is the rest', async () => {
    const src = 'grid h=? w=?\ngroup h=4 w=4\ntext ? after\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 8\ndtype fp32';
    const errs = await runAll(src, { dims: [true, true], text: true }, { grid: [64, 64], text: 100 }, [
      { grid: [5, 9], text: 4, valid: [4, 0] }, { grid: [8, 8], text: 0 }, { grid: [1, 1], text: 11, valid: [3] },
    ]);
    for (const e of errs) expect(e).toBeLessThan(1e-5);
  });

  it('compile --target onnx of a pattern whose ? sizes are left to launch (the checker\'s run-time IR): one model, several sizes', async () => {
    const src = 'pattern rt\ngrid h=? w=?\ngroup h=4 w=4\ntext ? before\nimage attends neighbors(1) + where(dh == 0 && kw == nw - 1) + text\ntext attends all\nhead_dim 8\ndtype fp32';
    const { ir } = checkSource(src, { runtimeSizes: true });
    expect(ir?.runtime).toMatchObject({ dims: [true, true], text: true });
    const out = backendFor('onnx')!.emit(ir!);
    expect(out.diagnostics).toEqual([]);
    expect(out.info).toMatchObject({ runtime: { dims: [true, true], text: true }, sizesFrom: 'the grid input' });
    const session = await ort.InferenceSession.create(out.files[0].contents as Uint8Array);
    try {
      for (const [h, w, T] of [[9, 13, 5], [4, 4, 0], [1, 30, 2]]) {
        const at = check(src, [h, w], T), B = 2, H = 1, N = totalTokens(at), per = H * N * 8;
        const [q, k, v] = [1, 2, 3].map((s) => values(B * per, s + h));
        const y = (await session.run({
          q: new ort.Tensor('float32', q, [B, H, N, 8]), k: new ort.Tensor('float32', k, [B, H, N, 8]), v: new ort.Tensor('float32', v, [B, H, N, 8]),
          text_valid: new ort.Tensor('int64', BigInt64Array.of(BigInt(T), 0n), [B]), grid: new ort.Tensor('int64', BigInt64Array.of(BigInt(h), BigInt(w)), [2]),
        })).y.data as Float32Array;
        [T, 0].forEach((vb, b) => {
          const part = (x: Float32Array): Float32Array => x.subarray(b * per, (b + 1) * per);
          const ref = referenceAttention(at, part(q), part(k), part(v), { batch: 1, heads: H, layout: 'bhnd', valid: vb });
          expect(ref.reduce((m, r, j) => Math.max(m, Math.abs(r - y[b * per + j])), 0), `${h}x${w} text ${T}`).toBeLessThan(1e-5);
        });
      }
    } finally {
      await session.release();
    }
  });

  describe('gratc patch of a model whose sequence length is symbolic: one patched model for every resolution', () => {
    // q, k, v [1, 2, N, 8] with N symbolic (an export with a dynamic sequence axis): MatMul → Mul → Softmax → MatMul
    const dynModel = (): ModelProto => {
      const dims = [1, 2, 'N', 8];
      const graph = create(GraphProtoSchema, {
        name: 'dyn',
        input: ['q', 'k', 'v'].map((x) => valueInfo(x, DT.FLOAT, dims)),
        output: [valueInfo('y', DT.FLOAT, dims)],
        initializer: [tensorF32('s', [], [0.35])],
        node: [
          node('Transpose', ['k'], ['kt'], { perm: [0, 1, 3, 2] }, { name: 'kt' }),
          node('MatMul', ['q', 'kt'], ['qk'], {}, { name: 'qk' }),
          node('Mul', ['qk', 's'], ['qks'], {}, { name: 'scale' }),
          node('Softmax', ['qks'], ['p'], { axis: -1 }, { name: 'softmax' }),
          node('MatMul', ['p', 'v'], ['y'], {}, { name: 'pv' }),
        ],
      });
      return create(ModelProtoSchema, { irVersion: 8n, graph, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })] });
    };
    const runPatched = async (bytes: Uint8Array, src: string, sizes: [number[], number][], gridInput: boolean): Promise<void> => {
      const session = await ort.InferenceSession.create(bytes);
      try {
        for (const [grid, T] of sizes) {
          const ir = check(src, grid, T), N = totalTokens(ir), n = 2 * N * 8;
          const [q, k, v] = [1, 2, 3].map((x) => values(n, x + N));
          const feeds: Record<string, ort.Tensor> = { q: new ort.Tensor('float32', q, [1, 2, N, 8]), k: new ort.Tensor('float32', k, [1, 2, N, 8]), v: new ort.Tensor('float32', v, [1, 2, N, 8]) };
          if (gridInput) feeds.grid = new ort.Tensor('int64', BigInt64Array.from(grid.map(BigInt)), [grid.length]);
          const y = (await session.run(feeds)).y.data as Float32Array;
          const ref = referenceAttention({ ...ir, scale: 0.35 }, q, k, v, { batch: 1, heads: 2, layout: 'bhnd' });
          expect(ref.reduce((m, r, j) => Math.max(m, Math.abs(r - y[j])), 0), `${grid.join('x')} text ${T}`).toBeLessThan(1e-5);
        }
        // cross-attention lengths (k longer than q) are refused at run time, not computed
        if (!gridInput) {
          const x = new ort.Tensor('float32', new Float32Array(2 * 20 * 8), [1, 2, 20, 8]), kk = new ort.Tensor('float32', new Float32Array(2 * 28 * 8), [1, 2, 28, 8]);
          await expect(session.run({ q: x, k: kk, v: kk })).rejects.toThrow(/Reshape|reshape|shape/);
        }
      } finally {
        await session.release();
      }
    };

    it('two open sizes: a grid input is added; ragged sizes, 1x1, text 0 (an open text count)', async () => {
      const src = 'pattern open\ngrid h=? w=?\ngroup h=4 w=4\ntext ? before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 8\ndtype fp32';
      const r = patchModel(dynModel(), { source: src, name: 'open' });
      expect(r.patched).toBe(1);
      expect(r.rows[0]).toMatchObject({ seq: null, headDim: 8, patched: true });
      expect(r.rows[0].note).toMatch(/sizes at run time, from the graph input 'grid'/);
      expect(r.model.graph!.input.map((i) => i.name)).toEqual(['q', 'k', 'v', 'grid']);
      expect(dynModel().graph!.input).toHaveLength(3);
      await runPatched(toBinary(ModelProtoSchema, r.model), src, [[[9, 13], 5], [[1, 1], 0], [[4, 8], 2]], true);
    });

    it('one open size: from the sequence length (no new input); k of another length is refused', async () => {
      const src = 'pattern one\ngrid n=?\ngroup n=8\ntext 3 after\nimage attends neighbors(1) + text\ntext attends text\nhead_dim 8\ndtype fp32';
      const r = patchModel(dynModel(), { source: src, name: 'one' });
      expect(r.rows[0].note).toMatch(/sizes at run time, from the sequence length/);
      expect(r.model.graph!.input.map((i) => i.name)).toEqual(['q', 'k', 'v']);
      await runPatched(toBinary(ModelProtoSchema, r.model), src, [[[17], 3], [[1], 3], [[64], 3]], false);
    });

    it('the CLI patches it without --grid and says where the sizes come from', async () => {
      const d = tempDir();
      writeFileSync(join(d, 'dyn.onnx'), toBinary(ModelProtoSchema, dynModel()));
      writeFileSync(join(d, 'p.grat'), 'pattern p\ngrid h=? w=?\ngroup h=4 w=4\nimage attends neighbors(1)\nhead_dim 8\ndtype fp32\n');
      const r = await gratcIn(['patch', 'dyn.onnx', '--pattern', 'p.grat', '--out', 'o.onnx', '--json'], d);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ patched: 1, attentions: [{ seq: null, patched: true }] });
      expect(JSON.parse(r.stdout).attentions[0].note).toMatch(/from the graph input 'grid'/);
      // gratc run: the same patched model at two grids, the grid as an int64 .npy
      const ref = check('pattern p\ngrid h=? w=?\ngroup h=4 w=4\nimage attends neighbors(1)\nhead_dim 8\ndtype fp32', [6, 10]);
      const q = values(2 * 60 * 8, 5);
      for (const x of ['q', 'k', 'v']) writeFileSync(join(d, `${x}.npy`), toNpy({ dtype: 'float32', shape: [1, 2, 60, 8], data: q }));
      writeFileSync(join(d, 'grid.npy'), toNpy({ dtype: 'int64', shape: [2], data: BigInt64Array.of(6n, 10n) }));
      const ran = await gratcIn(['run', 'o.onnx', ...['q', 'k', 'v', 'grid'].flatMap((x) => ['--input', `${x}=${x}.npy`]), '--output', 'y.npy'], d);
      expect(ran.code, ran.stderr).toBe(0);
      const y = parseNpy(readFileSync(join(d, 'y.npy')), 'y.npy').data as Float32Array;
      const want = referenceAttention({ ...ref, scale: 0.35 }, q, q, q, { batch: 1, heads: 2, layout: 'bhnd' });
      expect(want.reduce((m, w, j) => Math.max(m, Math.abs(w - y[j])), 0)).toBeLessThan(1e-5);
      writeFileSync(join(d, 'grid.npy'), toNpy({ dtype: 'int64', shape: [2], data: BigInt64Array.of(5n, 10n) })); // 50 tokens, not 60
      const bad = await gratcIn(['run', 'o.onnx', ...['q', 'k', 'v', 'grid'].flatMap((x) => ['--input', `${x}=${x}.npy`])], d);
      expect(bad.code).toBe(1);
    });
  });

  it('its nodes are bounded from the IR before it is built (runtimeNodeBound), and a pattern past the budget is refused in one line', () => {
    fc.assert(fc.property(arbPattern({ maxTokens: 400 }), fc.boolean(), (p, keyBias) => {
      const t = toPattern(p);
      const ir = checkSource(t.source, { grid: t.grid, text: t.text }).ir!;
      const l = lowerRuntime(ir, { dims: ir.dims.map(() => true), text: false }, { elemType: 1, opset: 17, textValid: true, keyBias });
      expect(l.fn.node.length).toBeLessThanOrEqual(runtimeNodeBound(ir));
      expect(runtimeNodeBound(ir)).toBeLessThanOrEqual(2.5 * l.fn.node.length + 500);
    }), { numRuns: 80 });
    // 64 terms of 30 comparisons: each term tests every earlier one (568,569 nodes when built)
    const many = `pattern m\ngrid h=? w=?\ngroup h=8 w=8\nimage attends ${Array.from({ length: 64 }, (_, i) => `where(${Array.from({ length: 30 }, (_, j) => `dh * 1000 + dw * 7 + qh != ${i * 30 + j}`).join(' && ')})`).join(' +\n  ')}\nhead_dim 64\n`;
    const ir = checkSource(many, { runtimeSizes: true }).ir!;
    const t0 = performance.now();
    expect(() => lowerRuntime(ir, ir.runtime!, { elemType: 1, opset: 17 })).toThrow(WorkRefused);
    expect(() => lowerRuntime(ir, ir.runtime!, { elemType: 1, opset: 17 })).toThrow(/^the ONNX lowering for sizes taken at run time would need 843,000 nodes \(limit 100,000\); use fewer or simpler region terms/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('sizes that do not add up fail in onnxruntime, never silently', async () => {
    const src = 'grid h=? w=8\ngroup h=4 w=4\ntext 6 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 8\ndtype fp32';
    const ir = check(src, [64, 8]);
    const run = async (rt: RuntimeSpec, N: number, grid?: number[]): Promise<unknown> => {
      const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, standaloneRuntimeModel(ir, rt).model));
      const x = new ort.Tensor('float32', new Float32Array(2 * N * 8), [1, 2, N, 8]);
      const feeds: Record<string, ort.Tensor> = { q: x, k: x, v: x, text_valid: new ort.Tensor('int64', BigInt64Array.of(6n), []) };
      if (grid) feeds.grid = new ort.Tensor('int64', BigInt64Array.from(grid.map(BigInt)), [2]);
      try { return await session.run(feeds); } finally { await session.release(); }
    };
    // one open size from N: 6 + 8·h tokens; 6 + 8·5 + 3 is no grid
    await expect(run({ dims: [true, false], text: false }, 6 + 40 + 3)).rejects.toThrow(/Reshape|reshape/);
    expect(await run({ dims: [true, false], text: false }, 6 + 40)).toBeDefined();
    // a grid input: its fixed entry must be 8, and the tokens must be grid + text
    await expect(run({ dims: [true, false], text: true }, 6 + 40, [5, 9])).rejects.toThrow(/Reshape|reshape/);
    await expect(run({ dims: [true, false], text: true }, 6 + 41, [5, 8])).resolves.toBeDefined(); // an open text: 7 text tokens
  });
});

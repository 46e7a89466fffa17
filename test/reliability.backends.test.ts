/**
 * Cross-backend properties over random valid patterns (test/support/arb_pattern.ts: 1-D/2-D/3-D,
 * ragged grids, group shapes, radii, every crisscross form, random predicates, `grid`, text
 * before/after/none, text-query regions, `?` sizes bound from outside, valid length 0..count):
 *
 *  1. semantics: the compiler's dense mask (checkSource → keys.ts → reference.ts) equals an
 *     independent token-by-token mask built from the generator's own reading of each term
 *     (test/support/official_grat.ts with a `fn` relation): this also checks that the predicate
 *     interval bounds never cut a visible key group;
 *  2. ONNX: the standalone model of the `onnx` backend run by onnxruntime-node (CPU) equals the
 *     float64 reference (referenceAttention);
 *  3. WGSL: the kernels on the machine's Vulkan driver (lavapipe in CI) equal the reference;
 *  4. CUDA (static; no GPU here): the backend plans and emits every such pattern at head_dim
 *     64/128 with identifier-only names; bench/cuda/random_cases.ts exports the same generator's
 *     patterns for the GPU machine's check script.
 *
 * Seeds are fresh per run; fast-check prints the seed, the path and the shrunk case on failure
 * (re-run with `fc.assert(..., { seed, path })`). Sizes are tiny: lavapipe is slow.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { totalTokens } from '../compiler/ir.js';
import { denseMask, referenceAttention } from '../compiler/reference.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { standaloneModel } from '../codegen/onnx/index.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import { runModel } from '../runtime/onnx/run.js';
import { DT } from '../runtime/onnx/tensor.js';
import type { NodeGpu } from '../runtime/webgpu/node.js';
import { randomValues, sharedNodeGpu, verifyWebgpu } from '../runtime/webgpu/verify.js';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { arbPattern, describePattern, toPattern, type ArbPattern } from './support/arb_pattern.js';
import { maskDiff, officialMask } from './support/official_grat.js';
import { gpuTimeout } from './support/gpu_budget.js';

/**
 * numRuns of each property (reported in docs/reliability.md). Lavapipe compiles each new WGSL
 * kernel at its first dispatch (~5 CPU s at head_dim 64), so CI runs 10 WGSL cases;
 * GRATC_FUZZ_SCALE=N multiplies every count for a longer local or nightly run.
 */
const SCALE = Math.max(1, Number(process.env.GRATC_FUZZ_SCALE ?? 1) || 1);
export const RUNS = { semantics: 400 * SCALE, onnx: 60 * SCALE, wgsl: 10 * SCALE, cuda: 150 * SCALE } as const;

function irOf(p: ArbPattern): PatternIR {
  const t = toPattern(p);
  const r = checkSource(t.source, { grid: t.grid, text: t.text });
  if (!r.ir) throw new Error(`generator produced an invalid pattern:\n${describePattern(p)}\n${r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')}`);
  return r.ir;
}

const TEXT_SEES = { all: { grid: true, text: true }, 'grid + text': { grid: true, text: true }, grid: { grid: true, text: false }, text: { grid: false, text: true } } as const;

describe('reliability: random valid patterns across backends', () => {
  it(`semantics: compiler mask == independent token-by-token mask (${RUNS.semantics} runs)`, () => {
    fc.assert(fc.property(arbPattern({ maxTokens: 120 }), (p) => {
      const ir = irOf(p);
      const N = totalTokens(ir);
      const want = officialMask({
        grid: p.dims.map((d) => d.size),
        group: p.dims.map((d) => d.group),
        order: p.order,
        relation: { kind: 'fn', f: (q, k, n) => p.terms.some((t) => t.holds(q, k, n)) },
        text: p.text,
        valid: p.valid,
        imageSeesText: p.imageSeesText,
        textSees: TEXT_SEES[p.textQueries ?? 'all'],
      });
      const got = denseMask(ir, p.valid);
      if (!Buffer.from(got).equals(Buffer.from(want))) {
        throw new Error(`mask differs:\n${describePattern(p)}\n${maskDiff(got, want, N)}`);
      }
    }), { numRuns: RUNS.semantics });
  });

  it(`ONNX lowering on onnxruntime CPU == float64 reference (${RUNS.onnx} runs)`, async () => {
    await fc.assert(fc.asyncProperty(arbPattern({ maxTokens: 96 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 ** 30 }), async (p, H, seed) => {
      const ir = { ...irOf(p), headDim: 8, scale: 1 / Math.sqrt(8) }; // the lowering is head_dim-agnostic: keep it small
      const { model } = standaloneModel(ir, { elemType: DT.FLOAT });
      const B = 1, N = totalTokens(ir), D = ir.headDim, n = B * H * N * D;
      const [q, k, v] = [0, 1, 2].map((i) => Float32Array.from(randomValues(n, seed + i)));
      const inputs: Record<string, { dtype: 'float32' | 'int64'; shape: number[]; data: Float32Array | BigInt64Array }> = {
        q: { dtype: 'float32', shape: [B, H, N, D], data: q },
        k: { dtype: 'float32', shape: [B, H, N, D], data: k },
        v: { dtype: 'float32', shape: [B, H, N, D], data: v },
      };
      if (ir.text) inputs.text_valid = { dtype: 'int64', shape: [], data: BigInt64Array.from([BigInt(p.valid)]) };
      const out = await runModel(toBinary(ModelProtoSchema, model), inputs as never, { threads: 1 });
      const y = out.y.data as Float32Array;
      const ref = referenceAttention(ir, q, k, v, { batch: B, heads: H, layout: 'bhnd', valid: p.valid });
      let max = 0;
      for (let i = 0; i < n; i++) { const e = Math.abs(y[i] - ref[i]); if (!(e <= max)) max = Number.isNaN(e) ? Infinity : e; }
      if (!(max <= 1e-5)) throw new Error(`max |onnx - reference| = ${max} (H=${H} seed=${seed})\n${describePattern(p)}`);
    }), { numRuns: RUNS.onnx });
  });

  describe('WGSL on the Vulkan driver', () => {
    let gpu: NodeGpu;
    beforeAll(async () => { gpu = await sharedNodeGpu(); }, 60_000);

    it(`WGSL kernels (f32) == float64 reference (${RUNS.wgsl} runs)`, async () => {
      await fc.assert(fc.asyncProperty(arbPattern({ maxTokens: 80, maxText: 10 }), fc.constantFrom('bhnd' as const, 'bnhd' as const), fc.integer({ min: 1, max: 2 ** 30 }), async (p, layout, seed) => {
        const ir = irOf(p);
        const compiled = compileWgsl(ir);
        if (!compiled.source) throw new Error(`WGSL refused a valid pattern: ${compiled.diagnostics.map((d) => d.message).join('; ')}\n${describePattern(p)}`);
        const r = await verifyWebgpu(ir, { precision: 'f32', layout, valid: p.valid, seed, heads: 1 + (seed % 2) }, gpu, compiled.source);
        if (!r.ok) throw new Error(`max |wgsl - reference| = ${r.maxAbsError} > ${r.tolerance} (${r.variant}, ${layout}, seed ${seed}) worst ${JSON.stringify(r.worst)}\n${describePattern(p)}`);
      }), { numRuns: RUNS.wgsl });
    }, gpuTimeout({ compiles: Array<number>(RUNS.wgsl).fill(64), runs: RUNS.wgsl })); // each case is a new kernel at head_dim 64
  });

  it(`CUDA backend plans and emits every random pattern with identifier-only names (${RUNS.cuda} runs)`, () => {
    fc.assert(fc.property(arbPattern({ maxTokens: 400, maxText: 40, headDims: [64, 128], dtypes: ['bf16', 'fp16'] }), (p) => {
      const ir = irOf(p);
      const r = emitCuda(ir);
      expect(r.diagnostics.filter((d) => d.severity === 'error'), describePattern(p)).toEqual([]);
      expect(r.files.length).toBeGreaterThanOrEqual(3);
      // the package: pyproject.toml beside one folder of identifier-named .py/.cu/.h files
      for (const f of r.files) expect(f.path).toMatch(/^(pyproject\.toml|[A-Za-z_][A-Za-z0-9_]*\/[A-Za-z_][A-Za-z0-9_]*\.(cu|h|py))$/);
      // deterministic: the kernel name is a pure function of the pattern
      expect(emitCuda(ir).files.map((f) => f.path)).toEqual(r.files.map((f) => f.path));
    }), { numRuns: RUNS.cuda });
  });
});

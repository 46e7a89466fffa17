/**
 * A patched model on onnxruntime's WebGPU execution provider. In CI this runs on a software
 * Vulkan driver (lavapipe: Debian's mesa-vulkan-drivers 25.x from bookworm-backports, with
 * libvulkan1). Set GRATC_SKIP_WEBGPU=1 to skip on machines without any Vulkan driver.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { loadModel } from '../runtime/onnx/model.js';
import { parseNpy } from '../runtime/onnx/npy.js';
import { patchModel } from '../runtime/onnx/patch.js';
import { maxAbsDiff, openSession, runModel, runSession } from '../runtime/onnx/run.js';
import { buildDefaultModel, DEFAULT_CONFIG, DEFAULT_PATTERN } from '../runtime/onnx/default/model.js';
import { demoInputs } from '../runtime/onnx/demo.js';
import { denseAttentionModel } from '../bench/onnx/speed.js';
import { checkSource } from '../compiler/check.js';
import { totalTokens } from '../compiler/ir.js';
import { examplePath } from '../runtime/paths.js';
import { standaloneModel, standaloneRuntimeModel } from '../codegen/onnx/index.js';
import { randomValues, referencePerSample } from '../runtime/webgpu/verify.js';

const F = join(import.meta.dirname, 'fixtures/onnx');
const skip = process.env.GRATC_SKIP_WEBGPU === '1';

describe.skipIf(skip)('WebGPU execution provider', () => {
  it('runs a patched PyTorch export and matches the CPU provider', async () => {
    const { model } = await loadModel(join(F, 'dyn18_fused_sdpa.onnx'));
    const patched = patchModel(model, {
      source: 'pattern t\ngrid h=8 w=8\ngroup h=4 w=4\ntext 8 before\nimage attends neighbors(0) + text\nhead_dim 16\ndtype fp32\n',
    });
    expect(patched.patched).toBe(1);
    const bytes = toBinary(ModelProtoSchema, patched.model);
    const inputs = { x: parseNpy(readFileSync(join(F, 'x.npy')), 'x.npy') };
    const gpu = await runModel(bytes, inputs, { ep: 'webgpu' });
    const cpu = await runModel(bytes, inputs, { ep: 'cpu' });
    expect(maxAbsDiff(gpu.y, cpu.y)).toBeLessThan(1e-4);
  }, 120_000);

  it('runs a model compiled with its grid left to run time (one model, two sizes) and matches the float64 reference', async () => {
    const src = 'pattern t\ngrid h=? w=?\ngroup h=4 w=4\ntext 6 after\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 16\ndtype fp32\n';
    const { ir } = checkSource(src, { runtimeSizes: true });
    const bytes = toBinary(ModelProtoSchema, standaloneRuntimeModel(ir!, ir!.runtime!).model);
    for (const grid of [[8, 12], [5, 3]]) {
      const at = checkSource(src, { grid }).ir!;
      const B = 2, H = 1, N = totalTokens(at), D = 16, per = H * N * D, shape = [B, H, N, D];
      const [q, k, v] = [4, 5, 6].map((s) => Float32Array.from(randomValues(B * per, s)));
      const lens = [6, 0];
      const gpu = await runModel(bytes, {
        q: { dtype: 'float32', shape, data: q }, k: { dtype: 'float32', shape, data: k }, v: { dtype: 'float32', shape, data: v },
        text_valid: { dtype: 'int64', shape: [B], data: BigInt64Array.from(lens.map(BigInt)) },
        grid: { dtype: 'int64', shape: [2], data: BigInt64Array.from(grid.map(BigInt)) },
      }, { ep: 'webgpu' });
      const want = referencePerSample(at, q, k, v, { batch: B, heads: H, layout: 'bhnd', valid: lens });
      expect((gpu.y.data as Float32Array).reduce((m, x, i) => Math.max(m, Math.abs(x - want[i])), 0), grid.join('x')).toBeLessThan(1e-4);
    }
  }, 120_000);

  it('runs a compiled model with text lengths per sample (one of them 0) and matches the float64 reference', async () => {
    const { ir } = checkSource('pattern t\ngrid h=8 w=12\ngroup h=4 w=4\ntext 6 after\nimage attends neighbors(1) + text\ntext attends text\nhead_dim 16\ndtype fp32\n');
    const { model } = standaloneModel(ir!);
    const B = 2, H = 2, N = totalTokens(ir!), D = 16, per = H * N * D;
    const [q, k, v] = [1, 2, 3].map((s) => Float32Array.from(randomValues(B * per, s)));
    const lens = [4, 0];
    const shape = [B, H, N, D];
    const inputs = {
      q: { dtype: 'float32' as const, shape, data: q }, k: { dtype: 'float32' as const, shape, data: k }, v: { dtype: 'float32' as const, shape, data: v },
      text_valid: { dtype: 'int64' as const, shape: [B], data: BigInt64Array.from(lens.map(BigInt)) },
    };
    const gpu = await runModel(toBinary(ModelProtoSchema, model), inputs, { ep: 'webgpu' });
    const want = referencePerSample(ir!, q, k, v, { batch: B, heads: H, layout: 'bhnd', valid: lens });
    const got = gpu.y.data as Float32Array;
    expect(got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i])), 0)).toBeLessThan(1e-4);
  }, 120_000);

  // Every node of a patched model on the WebGPU EP: with the CPU fallback off, onnxruntime refuses
  // the session if any node (the ai.grat function is inlined first) has no WebGPU kernel, which
  // would be a hidden device-host transfer per run (bench/onnx/NOTES.md "WebGPU EP").
  const webgpuOnly = (bytes: Uint8Array) => openSession(bytes, { ep: 'webgpu', cpuFallback: false });

  it('places every node of the patched default demo model on the WebGPU EP; a ragged one matches the dense-masked reference', async () => {
    const full = patchModel(buildDefaultModel(), { source: DEFAULT_PATTERN, grid: [...DEFAULT_CONFIG.grid] });
    expect(full.patched).toBe(DEFAULT_CONFIG.layers);
    await (await webgpuOnly(toBinary(ModelProtoSchema, full.model))).release();
    // the same model on a ragged grid (8x8 groups over 20x12), run: WebGPU vs the O(N^2) masked model on the CPU EP
    const cfg = { ...DEFAULT_CONFIG, grid: [20, 12] as const, text: 5 };
    const model = buildDefaultModel(cfg);
    const patched = patchModel(model, { source: DEFAULT_PATTERN, grid: [...cfg.grid] });
    const reference = patchModel(model, { source: DEFAULT_PATTERN, grid: [...cfg.grid] }, { lowering: 'dense-mask' });
    expect(patched.patched).toBe(cfg.layers);
    const s = await webgpuOnly(toBinary(ModelProtoSchema, patched.model));
    try {
      const inputs = demoInputs(cfg);
      const gpu = await runSession(s, inputs);
      const ref = await runModel(toBinary(ModelProtoSchema, reference.model), inputs, { ep: 'cpu' });
      expect(maxAbsDiff(gpu.image_out, ref.image_out)).toBeLessThan(1e-4);
    } finally {
      await s.release();
    }
  }, 180_000);

  it('places every node of a patched Flux-like layer (ragged grid, text before) on the WebGPU EP and matches the float64 reference', async () => {
    const src = readFileSync(examplePath('flux_grat_b.grat'), 'utf8').replace(/^text .*$/m, 'text 13 before').replace(/^head_dim .*$/m, 'head_dim 16').replace(/^dtype .*$/m, 'dtype fp32');
    const grid = [20, 36];
    const ir = checkSource(src, { grid }).ir!;
    const H = 2, N = totalTokens(ir), D = 16, shape = [1, H, N, D];
    const patched = patchModel(denseAttentionModel(H, N, D), { source: src, grid });
    expect(patched.patched).toBe(1);
    const s = await webgpuOnly(toBinary(ModelProtoSchema, patched.model));
    try {
      const [q, k, v] = [7, 8, 9].map((seed) => Float32Array.from(randomValues(H * N * D, seed)));
      const y = (await runSession(s, { q: { dtype: 'float32', shape, data: q }, k: { dtype: 'float32', shape, data: k }, v: { dtype: 'float32', shape, data: v } })).y.data as Float32Array;
      const want = referencePerSample(ir, q, k, v, { batch: 1, heads: H, layout: 'bhnd', valid: 13 });
      expect(y.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i])), 0)).toBeLessThan(1e-4);
    } finally {
      await s.release();
    }
  }, 120_000);

  it('the placement check can fail: text_valid (int64) is compared on the CPU EP, so that model is refused', async () => {
    // known: the WebGPU EP of onnxruntime 1.30 has no int64 Less/Max/Cast; patched models take
    // per-sample text lengths through the float key mask instead, so they never meet this
    const { ir } = checkSource('pattern t\ngrid h=8 w=12\ngroup h=4 w=4\ntext 6 after\nimage attends neighbors(1) + text\ntext attends text\nhead_dim 16\ndtype fp32\n');
    await expect(webgpuOnly(toBinary(ModelProtoSchema, standaloneModel(ir!).model))).rejects.toThrow(/CPU EP|fallback/);
  }, 60_000);
});

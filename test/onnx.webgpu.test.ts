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
import { maxAbsDiff, runModel } from '../runtime/onnx/run.js';
import { checkSource } from '../compiler/check.js';
import { totalTokens } from '../compiler/ir.js';
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
});

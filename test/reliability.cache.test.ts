/**
 * The WebGPU pipeline cache (runtime/webgpu/index.ts, per device, keyed by kernel + variant +
 * device limits): built once per key, shared by concurrent callers, one per distinct kernel, and
 * never serving a pipeline compiled from different WGSL under the same kernel name (the kernel
 * name hashes the spec, not the template that printed it, so two gratc versions share names).
 * The CUDA build cache (torch cpp_extension, codegen/cuda/templates/loader.py.hbs) cannot run here;
 * docs/reliability.md lists what its key holds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import { cachedPipelineCount, createGratAttention, type GratKernelSource } from '../runtime/webgpu/index.js';
import type { NodeGpu } from '../runtime/webgpu/node.js';
import { sharedNodeGpu, verifyWebgpu } from '../runtime/webgpu/verify.js';

const BODY = 'grid h=6 w=7\ngroup h=3 w=4\ntext 3 before\nimage attends neighbors(1) + text\nhead_dim 64\ndtype fp32\n';
const ir = (text: string): PatternIR => checkSource(text).ir!;

let gpu: NodeGpu;
beforeAll(async () => { gpu = await sharedNodeGpu(); }, 60_000);

describe('reliability: the WebGPU pipeline cache', () => {
  it('concurrent creates of one kernel build one pipeline, and every caller gets it', async () => {
    const a = ir(`pattern cache_a\n${BODY}`);
    const src = compileWgsl(a).source!;
    const before = cachedPipelineCount(gpu.device);
    const attns = await Promise.all([0, 1, 2, 3].map(() => createGratAttention(gpu.device, src, { precision: 'f32', reduction: 'shared' })));
    expect(cachedPipelineCount(gpu.device)).toBe(before + 1);
    expect(new Set(attns.map((x) => x.variant.id)).size).toBe(1);
    // the cached pipeline computes the pattern (checked against the float64 reference)
    const r = await verifyWebgpu(a, { precision: 'f32', reduction: 'shared', valid: 2, seed: 3 }, gpu, src);
    expect(r.ok, JSON.stringify(r.worst)).toBe(true);
    expect(cachedPipelineCount(gpu.device)).toBe(before + 1);
  }, 120_000);

  it('a different pattern is a different key', async () => {
    const before = cachedPipelineCount(gpu.device);
    const b = compileWgsl(ir(`pattern cache_b\n${BODY.replace('neighbors(1)', 'neighbors(0)')}`)).source!;
    await createGratAttention(gpu.device, b, { precision: 'f32', reduction: 'shared' });
    expect(cachedPipelineCount(gpu.device)).toBe(before + 1);
  }, 120_000);

  it('the same kernel name with different WGSL (another gratc version) is not served the cached pipeline', async () => {
    const a = compileWgsl(ir(`pattern cache_a\n${BODY}`)).source!;
    await createGratAttention(gpu.device, a, { precision: 'f32', reduction: 'shared' });
    const before = cachedPipelineCount(gpu.device);
    // what a newer template would print for the same spec: same kernel name, other code
    const other: GratKernelSource = { ...a, variants: a.variants.map((v) => ({ ...v, code: `// printed by another template version\n${v.code}` })) };
    expect(other.kernel).toBe(a.kernel);
    await createGratAttention(gpu.device, other, { precision: 'f32', reduction: 'shared' });
    expect(cachedPipelineCount(gpu.device), 'a second pipeline was built for the other code').toBe(before + 1);
  }, 120_000);
});

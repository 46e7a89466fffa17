/**
 * The WGSL kernels run for real (Dawn on the machine's Vulkan driver: lavapipe in CI) and are
 * compared with the float64 reference (compiler/reference.ts) at ragged sizes: text before and
 * after, valid length 0 / partial / full, both layouts, both precisions, both row reductions
 * (subgroups of 8 lanes and workgroup memory). No adapter is a failure, not a skip.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import { cachedPipelineCount, createGratAttention, fromHalf, toHalf, type GratKernelSource, type Layout, type Precision, type Reduction } from '../runtime/webgpu/index.js';
import type { NodeGpu } from '../runtime/webgpu/node.js';
import { sharedNodeGpu, verifyWebgpu, type VerifyOptions } from '../runtime/webgpu/verify.js';

const ROOT = join(import.meta.dirname, '..');

function pattern(text: string, grid?: number[]): PatternIR {
  const { ir, diagnostics } = checkSource(text, { grid, defaultName: 'p' });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return ir;
}
const example = (name: string, grid: number[] | undefined, edit: (s: string) => string = (s) => s): PatternIR =>
  pattern(edit(readFileSync(join(ROOT, 'examples', `${name}.grat`), 'utf8')), grid);

let gpu: NodeGpu;
let reductions: Reduction[];
beforeAll(async () => {
  gpu = await sharedNodeGpu(); // throws without an adapter: a failure, never a skip
  const sg = gpu.device.features.has('subgroups');
  const min = (gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize ?? 0;
  reductions = ['shared', ...(sg && min >= 16 ? ['sg16' as const] : []), ...(sg && min >= 8 ? ['sg8' as const] : [])];
}, 60_000);

const sources = new Map<PatternIR, GratKernelSource>();
async function check(ir: PatternIR, opts: VerifyOptions): Promise<void> {
  let source = sources.get(ir);
  if (!source) {
    source = compileWgsl(ir).source!;
    sources.set(ir, source);
  }
  const r = await verifyWebgpu(ir, opts, gpu, source);
  expect(r.maxAbsError, `${r.variant} ${r.layout} valid=${r.valid}: worst ${JSON.stringify(r.worst)}`).toBeLessThanOrEqual(r.tolerance);
}

// Flux GRAT-B on a ragged 20x36 grid (16x16 groups: 2x3 groups, the edge ones cut) with 40 text tokens before
const fluxB = example('flux_grat_b', [20, 36], (s) => s.replace('text   512 before', 'text   40 before'));
// HunyuanVideo GRAT-X (three planes) on a ragged 5x10x12 grid with 24 text tokens after
const hunyuanX = example('hunyuan_grat_x', [5, 10, 12], (s) => s.replace('text   256 after', 'text   24 after'));
// the 1-D grouped sliding window (shift border), no text, 300 tokens (the last block has 44)
const window1d = example('sliding_window_1d', [300]);
// the causal video pattern (three overlapping predicate terms) on a small ragged grid, text after
const causal = example('video_causal_anchor', undefined, (s) => s.replace('grid   t=21 h=45 w=80', 'grid   t=5 h=13 w=20').replace('text   226 after', 'text   30 after'));
// predicates with / and %, text queries that see only the text
const preds = pattern(`pattern preds
grid h=13 w=21
group h=4 w=8
text 9 after
image attends where(dh % 2 == 0 && |dh| <= 2 && dw / 2 == 0) + where(kh == 0 || min(kw, qw) > max(1, nw - 3)) + neighbors(1)
text attends text
head_dim 64
dtype fp32`);
// 3-D lines in grouped order; text queries see only the grid
const lines = pattern(`pattern lines
grid t=4 h=6 w=10
group t=2 h=2 w=4
order grouped
image attends crisscross(lines) + text
text 5 before
text attends grid
head_dim 64`);
// dense attention written as a pattern (the benchmark's baseline)
const full = pattern(`pattern full
grid h=12 w=20
group h=8 w=8
text 12 before
image attends all
head_dim 128
dtype fp32`);

const precisions: Precision[] = ['f32', 'f16'];

describe('webgpu kernels vs the float64 reference (lavapipe in CI)', () => {
  it('finds an adapter with the features the kernels use', () => {
    expect(gpu.device.features.has('shader-f16')).toBe(true);
    expect(gpu.device.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(32768);
  });

  // every reduction once, in f32 (the reductions do not depend on the precision)
  it('flux GRAT-B with every row reduction the device has (f32)', async () => {
    for (const reduction of reductions) await check(fluxB, { precision: 'f32', reduction, valid: 23, seed: 5 });
  });

  describe.each(precisions)('%s', (precision) => {
    // the other precision takes the other layout, so both precisions see both layouts
    const layout: Layout = precision === 'f32' ? 'bhnd' : 'bnhd';
    const other: Layout = precision === 'f32' ? 'bnhd' : 'bhnd';

    it('flux GRAT-B, ragged grid, text before, valid 0 / 17 / 40, both layouts', async () => {
      for (const valid of [0, 17, 40]) await check(fluxB, { precision, layout, valid, seed: 11 + valid });
      await check(fluxB, { precision, layout: other, valid: 17, heads: 2, seed: 12 });
    });


    it('HunyuanVideo GRAT-X, 3-D planes, text after, batch 2', async () => {
      await check(hunyuanX, { precision, layout: other, valid: 7, batch: 2, seed: 3 });
    });

    it('sliding window, grouped order, shift border, batch 2 × heads 3', async () => {
      await check(window1d, { precision, layout: 'bnhd', batch: 2, heads: 3, seed: 4 });
    });

    it('overlapping predicate terms (first-term ownership), text after', async () => {
      await check(causal, { precision, layout, valid: precision === 'f32' ? 0 : 30, seed: 6 });
    });

    it('predicates with floor / and %, text rows that see only text (valid 0: zero rows)', async () => {
      for (const valid of [0, 4]) await check(preds, { precision, layout: other, valid, heads: 2, seed: 8 });
    });

    it('3-D lines in grouped order, text rows that see only the grid', async () => {
      await check(lines, { precision, layout, valid: 3, seed: 9 });
    });

    it('a full pattern (dense attention)', async () => {
      await check(full, { precision, layout: other, valid: 5, seed: 10 });
    });
  });
});

describe('webgpu runtime', () => {
  it('creates each pipeline once per device', async () => {
    const source = compileWgsl(window1d).source!;
    const a = await createGratAttention(gpu.device, source, { precision: 'f32', reduction: 'shared' });
    const before = cachedPipelineCount(gpu.device);
    const b = await createGratAttention(gpu.device, source, { precision: 'f32', reduction: 'shared' });
    expect(cachedPipelineCount(gpu.device)).toBe(before);
    expect(b.variant).toBe(a.variant);
  });

  it('refuses mismatched tensors with a message', async () => {
    const attn = await createGratAttention(gpu.device, compileWgsl(window1d).source!, { precision: 'f32' });
    const q = attn.createTensor('bhnd', 1, 2), out = attn.createTensor('bnhd', 1, 2);
    expect(() => attn.run({ q, k: q, v: q, out: out as never })).toThrow(/must match/);
    expect(() => attn.createTensor('bhnd', 0, 1)).toThrow(/batch must be a positive integer/);
    expect(() => attn.write(q, new Float32Array(3))).toThrow(/expected 38400 values/);
  });

  it('round-trips f16 values exactly', () => {
    for (const x of [0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, 0.1]) expect(fromHalf(toHalf(fromHalf(toHalf(x))))).toBe(fromHalf(toHalf(x)));
    expect(fromHalf(toHalf(0.1))).toBeCloseTo(0.1, 3);
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(1e6)).toBe(0x7c00);
  });
});

/**
 * Devices with WebGPU's least workgroup storage (16 KiB, the default every conformant adapter
 * has): the '-q16k' variants (codegen/wgsl/spec.ts: the query tile is re-read from q instead of
 * staged) fit it, the runtime picks them by itself there and says why, and prefers the staged
 * (faster) variants where the device allows. On a real device (lavapipe in CI) asked for 16 KiB
 * only, they run against the float64 reference (compiler/reference.ts): fixed sizes (ragged grid,
 * text before, per-sample lengths with 0) and one kernel compiled with sizes taken at launch run
 * at several (ragged, one token, text 0).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import { MIN_WORKGROUP_STORAGE } from '../codegen/wgsl/spec.js';
import { chooseVariantWithReason, createGratAttention, type GratKernelSource } from '../runtime/webgpu/index.js';
import { nodeGpu, type NodeGpu } from '../runtime/webgpu/node.js';
import { verifyWebgpu, type VerifyOptions } from '../runtime/webgpu/verify.js';
import { gpuTimeout } from './support/gpu_budget.js';

const ROOT = join(import.meta.dirname, '..');

function checked(src: string, opts: Parameters<typeof checkSource>[1]): PatternIR {
  const { ir, diagnostics } = checkSource(src, { defaultName: 'p', ...opts });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return ir;
}
const compiled = (ir: PatternIR): GratKernelSource => compileWgsl(ir).source!;

/** A device as far as chooseVariant looks: its features and limits. */
const fakeDevice = (storage: number, features: string[] = []): GPUDevice =>
  ({ features: new Set(features), limits: { maxComputeWorkgroupStorageSize: storage, maxComputeInvocationsPerWorkgroup: 256 } }) as unknown as GPUDevice;

const fluxText = readFileSync(join(ROOT, 'examples', 'flux_grat_b.grat'), 'utf8');
// Flux GRAT-B on a ragged 20x36 grid with 40 text tokens before (split text tiles: `combine` runs too), head_dim 128
const fluxB = checked(fluxText.replace('text   512 before', 'text   40 before'), { grid: [20, 36], defaultName: 'flux_grat_b' });
// 3-D grouped order, shift border, a predicate term, the text count left to launch (after); head_dim 64
const videoSrc = 'pattern video_rt\ngrid t=? h=? w=?\ngroup t=1 h=4 w=4\norder grouped\nborder shift\ntext ? after\nimage attends neighbors(t=1, h=1, w=1) + where(dt == 0 && dh % 3 == 0) + text\ntext attends all\nhead_dim 64\ndtype fp32';

describe('variants that fit 16 KiB of workgroup storage', () => {
  it('exist for every precision and reduction at head_dim 64 and 128; the staged ones need more', () => {
    for (const ir of [fluxB, checked(videoSrc, { runtimeSizes: true })]) {
      const s = compiled(ir);
      const small = s.variants.filter((v) => v.qStaging === 'global');
      expect(small.map((v) => v.id).sort()).toEqual(['f16-sg16-q16k', 'f16-sg8-q16k', 'f16-shared-q16k', 'f32-sg16-q16k', 'f32-sg8-q16k', 'f32-shared-q16k']);
      for (const v of small) expect(v.workgroupStorage, v.id).toBeLessThanOrEqual(MIN_WORKGROUP_STORAGE);
      for (const v of s.variants.filter((x) => x.qStaging === 'tile' && !x.matrix)) expect(v.workgroupStorage, v.id).toBeGreaterThan(MIN_WORKGROUP_STORAGE);
      // the declared storage is what the shader declares: no query tile in the small ones
      for (const v of small) expect(v.code).not.toMatch(/var<workgroup> qs/);
    }
  });

  it('the runtime prefers the staged tile where it fits, the 16 KiB one where not, and says why', () => {
    const s = compiled(fluxB);
    const big = chooseVariantWithReason(s, fakeDevice(32768, ['subgroups']), { subgroupMinSize: 16 });
    expect(big.variant.id).toBe('f32-sg16');
    const small = chooseVariantWithReason(s, fakeDevice(16384, ['subgroups']), { subgroupMinSize: 16 });
    expect(small.variant.id).toBe('f32-sg16-q16k');
    expect(small.reason).toMatch(/not f32-sg16 \(needs 32768 B of workgroup storage > 16384 B\)/);
    const plain = chooseVariantWithReason(s, fakeDevice(16384), {});
    expect(plain.variant.id).toBe('f32-shared-q16k');
    expect(plain.reason).toMatch(/not f32-sg16 \(no subgroups\)/);
    expect(() => chooseVariantWithReason(s, fakeDevice(8192), {})).toThrow(/no f32 variant .* fits this device \(workgroup storage 8192 B, need 16384 B/);
  });
});

let gpu: NodeGpu;
beforeAll(async () => {
  // a device asked for WebGPU's default workgroup storage only, on the machine's adapter (throws without one)
  gpu = await nodeGpu('default', { maxComputeWorkgroupStorageSize: MIN_WORKGROUP_STORAGE });
}, 60_000);

async function check(ir: PatternIR, source: GratKernelSource, opts: VerifyOptions): Promise<void> {
  const r = await verifyWebgpu(ir, opts, gpu, source);
  expect(r.variant, r.reason).toMatch(/-q16k$/);
  expect(r.reason).toMatch(/workgroup storage \d+ of 16384 B/);
  expect(r.maxAbsError, `${r.variant} ${r.layout} valid=${r.valid}: worst ${JSON.stringify(r.worst)}`).toBeLessThanOrEqual(r.tolerance);
}

describe('a 16 KiB device (lavapipe in CI) vs the float64 reference', () => {
  it('has 16 KiB of workgroup storage, and the runtime picks a -q16k variant by itself', async () => {
    expect(gpu.device.limits.maxComputeWorkgroupStorageSize).toBe(MIN_WORKGROUP_STORAGE);
    const attn = await createGratAttention(gpu.device, compiled(fluxB), { precision: 'f32' });
    expect(attn.variant.id).toMatch(/^f32-(sg16|sg8|shared)-q16k$/);
    expect(attn.reason).toContain('> 16384 B');
  }, gpuTimeout({ compiles: [128], runs: 0 }));

  it('fixed sizes: flux GRAT-B 20x36 + 40 text (head_dim 128), per-sample lengths with 0, both layouts', async () => {
    const s = compiled(fluxB);
    await check(fluxB, s, { precision: 'f32', layout: 'bhnd', batch: 3, valid: [40, 0, 17], seed: 11 });
    await check(fluxB, s, { precision: 'f32', layout: 'bnhd', heads: 2, valid: 9, seed: 12 });
  }, gpuTimeout({ compiles: [128], runs: 2 }));

  it('sizes taken at launch, compiled once: ragged grids, one token, text 0, per-sample lengths', async () => {
    const ir = checked(videoSrc, { runtimeSizes: true });
    const s = compiled(ir);
    expect(s.runtime).toBeDefined();
    const runs: [number[], number, VerifyOptions][] = [
      [[3, 10, 13], 9, { layout: 'bhnd', valid: [9, 0], batch: 2 }],
      [[2, 5, 6], 0, { layout: 'bnhd' }],
      [[1, 1, 1], 0, { layout: 'bhnd' }], // one token
      [[1, 1, 1], 3, { layout: 'bnhd', valid: [2], heads: 2 }],
      [[5, 4, 9], 40, { layout: 'bnhd', valid: 17 }],
    ];
    for (const [grid, text, o] of runs) {
      await check(checked(videoSrc, { grid, text }), s, { precision: 'f32', seed: grid[2] * 7 + text, ...o });
    }
  }, gpuTimeout({ compiles: [64], runs: 5 }));

  it('f16 through workgroup memory (forced), sizes at launch', async () => {
    if (!gpu.device.features.has('shader-f16')) throw new Error('the adapter has no shader-f16: the f16 small variants go unchecked');
    const ir = checked(videoSrc, { runtimeSizes: true });
    const s = compiled(ir);
    await check(checked(videoSrc, { grid: [3, 7, 11], text: 5 }), s, { precision: 'f16', reduction: 'shared', layout: 'bhnd', valid: [5, 0], batch: 2, seed: 4 });
  }, gpuTimeout({ compiles: [64], runs: 1 }));
});

/**
 * WGSL kernels compiled ONCE with grid sizes (and a text count) left to launch (`grid h=? w=?`,
 * checkSource runtimeSizes), run by Dawn (lavapipe in CI) at several sizes — ragged edge groups,
 * one token, one group, text 0 — and per-sample text lengths (one of them 0), each against the
 * float64 reference of the pattern checked at that size (compiler/reference.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import { createGratAttention, type GratKernelSource } from '../runtime/webgpu/index.js';
import type { NodeGpu } from '../runtime/webgpu/node.js';
import { randomValues, sharedNodeGpu, verifyWebgpu, type VerifyOptions } from '../runtime/webgpu/verify.js';
import { gpuTimeout } from './support/gpu_budget.js';

let gpu: NodeGpu;
beforeAll(async () => { gpu = await sharedNodeGpu(); }, 60_000);

function compileOpen(src: string): { ir: PatternIR; source: GratKernelSource } {
  const { ir, diagnostics } = checkSource(src, { runtimeSizes: true, defaultName: 'p' });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  const { source } = compileWgsl(ir);
  if (!source?.runtime) throw new Error('expected a kernel that takes its sizes at launch');
  return { ir, source };
}
const at = (src: string, grid: number[], text?: number): PatternIR => {
  const { ir, diagnostics } = checkSource(src, { grid, text, defaultName: 'p' });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return ir;
};

// Flux GRAT-B's shape at head_dim 64: a 2-D grid left to launch, 12 text tokens before, text sees all (split text tiles)
const fluxSrc = 'pattern flux_rt\ngrid h=? w=?\ngroup h=4 w=8\ntext 12 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64\ndtype fp32';
// 3-D grouped order, shift border, a predicate term over the first, the text count left to launch too (after), text sees text
const videoSrc = 'pattern video_rt\ngrid t=? h=? w=?\ngroup t=1 h=4 w=4\norder grouped\nborder shift\ntext ? after\nimage attends neighbors(t=1, h=1, w=1) + where(dt == 0 && dh % 3 == 0) + text\ntext attends text\nhead_dim 64\ndtype fp32';

describe('webgpu: one compiled kernel for every grid size (sizes taken at launch)', () => {
  it('flux-like 2-D: ragged grids, one token, one group, per-sample text lengths with 0, both layouts', async () => {
    const { source } = compileOpen(fluxSrc);
    const runs: [number[], VerifyOptions][] = [
      [[20, 36], { layout: 'bhnd', valid: [12, 0], batch: 2 }],
      [[5, 9], { layout: 'bnhd', valid: 7, heads: 2 }],
      [[1, 1], { layout: 'bhnd', valid: [0, 3, 12], batch: 3 }],
      [[4, 8], { layout: 'bnhd' }],
      [[33, 7], { layout: 'bhnd', valid: 5 }],
    ];
    for (const [[h, w], o] of runs) {
      const r = await verifyWebgpu(at(fluxSrc, [h, w]), { precision: 'f32', seed: h * 100 + w, ...o }, gpu, source);
      expect(r.maxAbsError, `${h}x${w} ${r.layout} valid=${r.valid}`).toBeLessThanOrEqual(r.tolerance);
    }
  }, gpuTimeout({ compiles: [64, 64], runs: 5 }));

  it('3-D grouped, shift border, predicate, an open text count (0 and some), per-sample lengths', async () => {
    const { source } = compileOpen(videoSrc);
    const runs: [number[], number, VerifyOptions][] = [
      [[3, 10, 12], 9, { layout: 'bhnd', valid: [9, 0], batch: 2 }],
      [[2, 5, 6], 0, { layout: 'bnhd' }],
      [[1, 1, 1], 3, { layout: 'bhnd', valid: [1] , batch: 1 }],
      [[5, 4, 9], 40, { layout: 'bnhd', valid: 17, heads: 2 }],
    ];
    for (const [grid, text, o] of runs) {
      const r = await verifyWebgpu(at(videoSrc, grid, text), { precision: 'f32', seed: grid[1] * 7 + text, ...o }, gpu, source);
      expect(r.maxAbsError, `${grid.join('x')} text ${text} ${r.layout} valid=${r.valid}`).toBeLessThanOrEqual(r.tolerance);
    }
  }, gpuTimeout({ compiles: [64, 64], runs: 4 }));

  it('refuses sizes that do not fit: a missing grid, past the limits, tokens that are not grid + text', async () => {
    const { source } = compileOpen(fluxSrc);
    const attn = await createGratAttention(gpu.device, source, { precision: 'f32' });
    const N = 12 + 4 * 8;
    const x = attn.createTensor('bhnd', 1, 1, randomValues(N * 64, 3), N);
    expect(() => attn.run({ q: x, k: x, v: x, out: x })).toThrow(/takes its grid at launch: pass grid \(2 sizes/);
    expect(() => attn.run({ q: x, k: x, v: x, out: x, grid: [4, 9] })).toThrow(/grid 4x9 \(36\) \+ 12 text tokens are 48/);
    expect(() => attn.run({ q: x, k: x, v: x, out: x, grid: [4] })).toThrow(/the grid has 2 dims, got 1 sizes/);
    expect(() => attn.run({ q: x, k: x, v: x, out: x, grid: [0, 44] })).toThrow(/grid size 0 must be a positive integer/);
    expect(() => attn.run({ q: x, k: x, v: x, out: x, grid: [5000, 1] })).toThrow(/past the limit 4096/);
    expect(() => attn.createTensor('bhnd', 1, 1, undefined, 2 ** 25)).toThrow(/past the limit/);
    x.buffer.destroy();
  }, gpuTimeout({ compiles: [64], runs: 1 }));
});

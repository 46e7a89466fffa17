/**
 * The WGSL kernels run for real (Dawn on the machine's Vulkan driver: lavapipe in CI) and are
 * compared with the float64 reference (compiler/reference.ts) at ragged sizes: text before and
 * after, valid length 0 / partial / full, both layouts, both precisions, both row reductions
 * (subgroups of 8 lanes and workgroup memory), head_dim 64 and 128. No adapter is a failure, not
 * a skip.
 *
 * Lavapipe compiles a kernel (LLVM, seconds of CPU) at its first dispatch; a run at these sizes
 * takes a fraction of a second. So every pattern is compiled once, in f32 with the device's
 * reduction (f32 has the tight tolerance: a key too many or too few shows), and runs all of its
 * layout / valid / batch cases there; three more compiles cover precision x reduction x head_dim
 * pairwise (f32-shared and f16-sg8 at 64, f16-shared at 128). Each test's timeout is its declared
 * work (test/support/gpu_budget.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import { cachedPipelineCount, createGratAttention, fromHalf, toHalf, type GratKernelSource, type Reduction } from '../runtime/webgpu/index.js';
import type { NodeGpu } from '../runtime/webgpu/node.js';
import { isDawnPoll, POLL_MS, SPIN_POLLS } from '../runtime/webgpu/dawn_poll.js';
import { randomValues, referencePerSample, sharedNodeGpu, verifyWebgpu, type VerifyOptions } from '../runtime/webgpu/verify.js';
import { gpuTimeout, type GpuWork } from './support/gpu_budget.js';

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

type Case = readonly [PatternIR, VerifyOptions];

/** The work of some cases: one compile per distinct (pattern, precision, reduction), one run each. */
const workOf = (cases: readonly Case[]): GpuWork => {
  const kernels = new Map(cases.map(([ir, o]) => [`${ir.name}|${o.precision}|${o.reduction ?? 'device'}`, ir.headDim]));
  return { compiles: [...kernels.values()], runs: cases.length };
};

/** A test that runs `cases` in order, with a timeout from their work. */
function checks(name: string, cases: readonly Case[]): void {
  it(name, async () => {
    for (const [ir, opts] of cases) await check(ir, opts);
  }, gpuTimeout(workOf(cases)));
}

const hd64 = (s: string): string => s.replace(/^head_dim\s+128$/m, 'head_dim 64');

// Flux GRAT-B on a ragged 20x36 grid (16x16 groups: 2x3 groups, the edge ones cut) with 40 text
// tokens before (split over key tiles: the `combine` entry point runs too); head_dim 128
const fluxB = example('flux_grat_b', [20, 36], (s) => s.replace('text   512 before', 'text   40 before'));
// HunyuanVideo GRAT-X (three planes) on a ragged 5x10x12 grid with 24 text tokens after
const hunyuanX = example('hunyuan_grat_x', [5, 10, 12], (s) => hd64(s.replace('text   256 after', 'text   24 after')));
// the 1-D grouped sliding window (shift border), no text, 200 tokens (the last block has 8): the
// kernels of test/webgpu.cli.test.ts's first `gratc verify`, so Mesa's shader cache serves one file's
// compiles to the other
const window1d = example('sliding_window_1d', [200]);
// the causal video pattern (three overlapping predicate terms) on a small ragged grid, text after
const causal = example('video_causal_anchor', undefined, (s) => hd64(s.replace('grid   t=21 h=45 w=80', 'grid   t=5 h=13 w=20').replace('text   226 after', 'text   30 after')));
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
head_dim 64
dtype fp32`);

describe('webgpu kernels vs the float64 reference (lavapipe in CI)', () => {
  it('finds an adapter with the features the kernels use', () => {
    expect(gpu.device.features.has('shader-f16')).toBe(true);
    expect(gpu.device.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(32768);
  });

  // every reduction the device has, f32 (the reductions do not depend on the precision), both layouts
  it('sliding window, grouped order, shift border, batch 2 x heads 3: every row reduction the device has (f32)', async () => {
    for (const reduction of reductions) {
      await check(window1d, { precision: 'f32', reduction, layout: 'bnhd', batch: 2, heads: 3, seed: 4 });
      await check(window1d, { precision: 'f32', reduction, layout: 'bhnd', seed: 5 });
    }
  }, gpuTimeout({ compiles: [64, 64, 64], runs: 6 }));

  describe('each pattern in f32 with the device\'s reduction, every layout and valid case', () => {
    const f32 = (o: VerifyOptions): VerifyOptions => ({ precision: 'f32', ...o });
    checks('flux GRAT-B, ragged grid, text before (split key tiles), valid 0 / 17 / 40, both layouts, head_dim 128', [
      ...[0, 17, 40].map((valid): Case => [fluxB, f32({ layout: 'bhnd', valid, seed: 11 + valid })]),
      [fluxB, f32({ layout: 'bnhd', valid: 17, heads: 2, seed: 12 })],
      // per-sample text lengths (a CFG batch: one sample without text), both layouts
      [fluxB, f32({ layout: 'bhnd', valid: [17, 0], batch: 2, heads: 2, seed: 21 })],
      [fluxB, f32({ layout: 'bnhd', valid: [0, 40, 3], batch: 3, seed: 22 })],
    ]);
    checks('HunyuanVideo GRAT-X, 3-D planes, text after, batch 2, both layouts', [
      [hunyuanX, f32({ layout: 'bnhd', valid: 7, batch: 2, seed: 3 })],
      [hunyuanX, f32({ layout: 'bhnd', valid: 24, seed: 13 })],
    ]);
    checks('overlapping predicate terms (first-term ownership), text after, valid 0 / 30, both layouts', [
      [causal, f32({ layout: 'bhnd', valid: 0, seed: 6 })],
      [causal, f32({ layout: 'bnhd', valid: 30, seed: 16 })],
    ]);
    checks('predicates with floor / and %, text rows that see only text (valid 0: zero rows), both layouts', [
      [preds, f32({ layout: 'bnhd', valid: 0, heads: 2, seed: 8 })],
      [preds, f32({ layout: 'bnhd', valid: 4, heads: 2, seed: 12 })],
      [preds, f32({ layout: 'bhnd', valid: 9, seed: 18 })],
      [preds, f32({ layout: 'bhnd', valid: [9, 0], batch: 2, heads: 2, seed: 23 })],
    ]);
    checks('3-D lines in grouped order, text rows that see only the grid, both layouts', [
      [lines, f32({ layout: 'bhnd', valid: 3, seed: 9 })],
      [lines, f32({ layout: 'bnhd', valid: 5, heads: 2, seed: 19 })],
    ]);
    checks('a full pattern (dense attention), both layouts', [
      [full, f32({ layout: 'bnhd', valid: 5, seed: 10 })],
      [full, f32({ layout: 'bhnd', valid: 12, seed: 20 })],
    ]);
  });

  describe('f16: with subgroups at head_dim 64, through workgroup memory at 128', () => {
    checks('sliding window, batch 2 x heads 3, both layouts (f16, the device\'s reduction)', [
      [window1d, { precision: 'f16', layout: 'bnhd', batch: 2, heads: 3, seed: 4 }],
      [window1d, { precision: 'f16', layout: 'bhnd', seed: 14 }],
    ]);
    checks('flux GRAT-B, text before (split key tiles), valid 17 / 40, both layouts (f16, workgroup memory)', [
      [fluxB, { precision: 'f16', reduction: 'shared', layout: 'bnhd', valid: 17, heads: 2, seed: 12 }],
      [fluxB, { precision: 'f16', reduction: 'shared', layout: 'bhnd', valid: 40, seed: 51 }],
    ]);
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
    expect(() => attn.write(q, new Float32Array(3))).toThrow(/expected 25600 values/);
  });

  it('waits on the GPU without spinning a core: after the first polls, Dawn polls at most once a millisecond', async () => {
    const attn = await createGratAttention(gpu.device, compileWgsl(window1d).source!, { precision: 'f32' }); // compiled above
    const x = randomValues(2 * 3 * attn.tokens * attn.headDim, 7);
    const [q, k, v, out] = [0, 1, 2, 3].map(() => attn.createTensor('bhnd', 2, 3, x));
    const immediate = globalThis.setImmediate;
    let polls = 0;
    globalThis.setImmediate = Object.assign((cb: () => void) => {
      if (isDawnPoll(cb)) polls++;
      return immediate(cb);
    }, immediate) as unknown as typeof setImmediate;
    let ms: number;
    try {
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < 40; i++) attn.encode(pass, { q, k, v, out });
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      const t0 = performance.now();
      await gpu.device.queue.onSubmittedWorkDone(); // a wait of a second or so on lavapipe
      ms = performance.now() - t0;
    } finally {
      globalThis.setImmediate = immediate;
    }
    for (const t of [q, k, v, out]) t.buffer.destroy();
    expect(polls, `${polls} polls in ${ms.toFixed(0)} ms`).toBeLessThanOrEqual(SPIN_POLLS + ms / POLL_MS + 2);
  }, gpuTimeout({ compiles: [64], runs: 40 }));

  it('takes text lengths per sample as a GPU buffer of i32 (clamped in the kernel) and checks their number', async () => {
    const source = compileWgsl(fluxB).source!;
    const attn = await createGratAttention(gpu.device, source, { precision: 'f32' }); // compiled above
    const B = 2, H = 1, n = B * H * attn.tokens * attn.headDim;
    const [q, k, v] = [31, 32, 33].map((s) => randomValues(n, s).map((x) => Math.fround(x)));
    const [tq, tk, tv, out] = [q, k, v, new Float64Array(n)].map((x) => attn.createTensor('bhnd', B, H, x));
    const lengths = gpu.device.createBuffer({ size: 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    gpu.device.queue.writeBuffer(lengths, 0, Int32Array.of(-5, 1000)); // clamped to 0 and to the 40 text tokens
    attn.run({ q: tq, k: tk, v: tv, out, valid: lengths });
    const got = await attn.read(out);
    const want = referencePerSample(fluxB, q, k, v, { batch: B, heads: H, layout: 'bhnd', valid: [0, 40] });
    expect(got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i])), 0)).toBeLessThan(2e-4);
    expect(() => attn.run({ q: tq, k: tk, v: tv, out, valid: [3] })).toThrow(/valid has 1 lengths; the batch has 2 samples/);
    expect(() => attn.run({ q: tq, k: tk, v: tv, out, valid: [3, -1] })).toThrow(/valid\[1\] must be a non-negative integer/);
    const small = gpu.device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE });
    expect(() => attn.run({ q: tq, k: tk, v: tv, out, valid: small })).toThrow(/2 samples need 8 B/);
    for (const b of [lengths, small, tq.buffer, tk.buffer, tv.buffer, out.buffer]) b.destroy();
  }, gpuTimeout({ compiles: [128], runs: 1 }));

  it('round-trips f16 values exactly', () => {
    for (const x of [0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, 0.1]) expect(fromHalf(toHalf(fromHalf(toHalf(x))))).toBe(fromHalf(toHalf(x)));
    expect(fromHalf(toHalf(0.1))).toBeCloseTo(0.1, 3);
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(1e6)).toBe(0x7c00);
  });
});

/**
 * The subgroup-matrix variant's WGSL, run on lavapipe with its matrices emulated
 * (test/support/sgmat_emulate.ts: each matrix an array every invocation holds, products computed
 * by the subgroup's 32 invocations in f32 from f16 operands), against the float64 reference
 * (compiler/reference.ts): ragged grids, text before and after with per-sample lengths (0
 * among them), split text tiles (the `combine` entry point), both layouts,
 * head_dim 64 and 128 (sizes taken at launch only with GRATC_EMU_ALL=1, see ALL). No CPU adapter here offers subgroup matrices (bench/webgpu/NOTES.md), so
 * this checks the kernel around the products; the builtins' own meaning on a driver is checked
 * by bench/webgpu/probe.ts on the device.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import type { GratKernelSource } from '../runtime/webgpu/index.js';
import { nodeGpu, type NodeGpu } from '../runtime/webgpu/node.js';
import { verifyWebgpu, type VerifyOptions } from '../runtime/webgpu/verify.js';
import { gpuTimeout } from './support/gpu_budget.js';
import { emulateSubgroupMatrices } from './support/sgmat_emulate.js';

function checked(src: string, opts: Parameters<typeof checkSource>[1] = {}): PatternIR {
  const { ir, diagnostics } = checkSource(src, { defaultName: 'p', ...opts });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return ir;
}

/** The pattern's source with only the subgroup-matrix variant, emulated, posing as a SIMT 'sg4' variant (the chooser then runs it on any f16 device). */
function emulated(ir: PatternIR): GratKernelSource {
  const source = compileWgsl(ir).source!;
  const v = source.variants.find((x) => x.matrix)!;
  const { matrix: _matrix, ...rest } = v;
  return { ...source, variants: [{ ...rest, code: emulateSubgroupMatrices(v.code), features: ['shader-f16', 'subgroups'], minSubgroupSize: 4 }] };
}

// flux-like: 2-D groups of 8x8 (ragged edges), text before that sees everything (split 2 ways), head_dim 128
const fluxLike = (grid: string, text: string): string => `pattern fluxlike
grid h=${grid.split('x')[0]} w=${grid.split('x')[1]}
group h=8 w=8
text ${text} before
image attends neighbors(1) + text
text attends all
head_dim 128
dtype bf16`;
// 1-D window with text after (text sees text only), head_dim 64
const windowText = (n: string, text: string): string => `pattern wintext
grid n=${n}
group n=16
text ${text} after
image attends neighbors(1) + text
text attends text
head_dim 64
dtype fp16`;

/** Launch sizes (tokens of the window, text) of the kernel compiled with sizes taken at launch. */
const SIZES: readonly (readonly [number, number])[] = [[50, 7], [33, 0], [1, 0]];
/**
 * GRATC_EMU_ALL=1 runs the kernel compiled with sizes taken at launch too. It is off by default:
 * with this (distributed) emulation it did not finish within 200 s on lavapipe (2026-12-08, a
 * loaded machine; not investigated), nor did a fixed-size kernel mutated to read its K or V tile
 * transposed; the fixed-size kernels below finish in seconds. An earlier emulation (each invocation
 * holding whole matrices) passed the launch-size kernel at 9x13 + 5, 1x1 + 0, 17x8 + 0 in 189 s.
 */
const ALL = process.env.GRATC_EMU_ALL === '1';

let gpu: NodeGpu;
beforeAll(async () => { gpu = await nodeGpu('default'); }, 60_000);

async function check(ir: PatternIR, source: GratKernelSource, opts: VerifyOptions): Promise<void> {
  const r = await verifyWebgpu(ir, { precision: 'f16', reduction: 'sg4', heads: 2, ...opts }, gpu, source);
  expect(r.variant).toBe('f16-sgmat16x16x16');
  expect(r.maxAbsError, `${r.layout} valid=${JSON.stringify(r.valid)}: worst ${JSON.stringify(r.worst)}`).toBeLessThanOrEqual(r.tolerance);
}

describe('subgroup-matrix variant, emulated on lavapipe, vs the float64 reference', () => {
  it('flux-like 12x20 (+40 text before, split text tiles), per-sample lengths with 0, both layouts; head_dim 128', async () => {
    const ir = checked(fluxLike('12x20', '40'));
    const source = emulated(ir);
    expect(source.textSplit?.splits ?? 1).toBeGreaterThan(1);
    await check(ir, source, { layout: 'bhnd', batch: 2, valid: [40, 0] });
    await check(ir, source, { layout: 'bnhd', valid: 17 });
  }, gpuTimeout({ compiles: [128], runs: 2 }));

  it('1-D window 75 tokens + 9 text after (a ragged last group and key tile), head_dim 64', async () => {
    const ir = checked(windowText('75', '9'));
    await check(ir, emulated(ir), { layout: 'bnhd', batch: 2, valid: [9, 3] });
  }, gpuTimeout({ compiles: [64], runs: 1 }));

  it.skipIf(!ALL)('sizes taken at launch, compiled once: ragged, text 0, one token (head_dim 64)', async () => {
    const src = windowText('?', '?');
    const source = emulated(checked(src, { runtimeSizes: true }));
    expect(source.runtime).toBeDefined();
    for (const [n, text] of SIZES) {
      const at = checked(src.replace('n=?', `n=${n}`).replace('text ? after', `text ${text} after`));
      await check(at, source, { layout: 'bhnd' });
    }
  }, 600_000);
});

/**
 * Canonical names (compiler/plan.ts `artefactIdentity`): a CUDA kernel, a WGSL kernel and an ONNX
 * function are each named by a hash of the canonical plan, the backend's own additions and its
 * generator version. Writing the same pattern differently, or adding another target's schedule,
 * renames nothing; changing what the pattern computes, or the target's own schedule, renames it.
 */
import { describe, expect, it } from 'vitest';
import { backendFor } from '../codegen/all.js';
import type { Target } from '../codegen/targets.js';
import { checkSource } from '../compiler/index.js';

const pattern = (region: string, extra = ''): string => `pattern p
grid   h=8 w=8
group  h=2 w=2
order  raster
text   4 before
image attends ${region} + text
text  attends all
head_dim 64
dtype    fp16
${extra}`;

const BASE = pattern('neighbors(1)');

/** The emitted kernel's or function's name per target. */
function names(text: string): Record<Target, string> {
  const { ir, diagnostics } = checkSource(text);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const name = (t: Target): string => {
    const out = backendFor(t)!.emit(ir!);
    expect(out.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    return String(t === 'onnx' ? out.info.function : out.info.kernel);
  };
  return { cuda: name('cuda'), wgsl: name('wgsl'), onnx: name('onnx') };
}

describe('generated artefacts have canonical names', () => {
  const base = names(BASE);

  it('names every target by pattern and hash', () => {
    expect(base.cuda).toMatch(/^grat_p_[0-9a-f]{12}$/);
    expect(base.wgsl).toMatch(/^grat_p_[0-9a-f]{12}$/);
    expect(base.onnx).toMatch(/^ai\.grat::p_[0-9a-f]{10}$/);
  });

  it.each([
    ['spaces inside a call', pattern('neighbors( 1 )')],
    ['per-axis radii', pattern('neighbors(h=1, w=1)')],
    ['comments and blank lines', `# a comment\n\n${BASE.replace('order  raster', 'order raster   # row-major')}\n\n`],
    ['statements in another order', BASE.replace('head_dim 64\ndtype    fp16', 'dtype fp16\nhead_dim 64')],
  ])('%s: no target renames its artefact', (_what, text) => {
    expect(names(text)).toEqual(base);
  });

  it.each([
    ['cuda', 'schedule cuda block_k=32'],
    ['wgsl', 'schedule wgsl block_q=64'],
    ['onnx', 'schedule onnx query_chunk=64'],
  ] as const)('schedule %s renames only that target\'s artefact', (target, line) => {
    const got = names(pattern('neighbors(1)', line));
    for (const t of ['cuda', 'wgsl', 'onnx'] as const) {
      // WGSL ignores its schedule hints (W warning): its kernel keeps its name too
      if (t === target && t !== 'wgsl') expect(got[t], t).not.toBe(base[t]);
      else expect(got[t], t).toBe(base[t]);
    }
  });

  it('a pattern that computes something else renames every artefact', () => {
    const other = names(pattern('neighbors(2)'));
    for (const t of ['cuda', 'wgsl', 'onnx'] as const) expect(other[t], t).not.toBe(base[t]);
  });
});

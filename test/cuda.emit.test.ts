/**
 * The CUDA backend's planning and emitted text (no compiler needed): spec hashing is a pure
 * function of the specialization, unsupported head_dim / schedules are diagnostics, and the
 * emitted files carry the plan's decisions (sizes, offsets, closed forms, tilings, the spatial
 * plans). The text itself is pinned by test/golden.test.ts (test/golden/<example>/cuda/), reviewed as a
 * diff; test/cuda.nvcc.test.ts compiles it.
 */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import type { PatternIR } from '../compiler/ir.js';
import { backendFor } from '../codegen/all.js';
import { canonicalSpec, cudaPlan, emitCuda, kernelName, planKernel, planSm90, specHash } from '../codegen/cuda/index.js';
import { printPredicate } from '../codegen/clike.js';

const FLUX_B = `pattern flux_b
grid h=? w=?
group h=16 w=16
order raster
text 512 before
image attends neighbors(1) + text
text attends all
head_dim 128
dtype bf16
`;

function ir(src: string, grid?: number[], text?: number): PatternIR {
  const r = checkSource(src, { grid, text });
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.ir;
}

/** The package's file `name` (grat_<pattern>/name). */
const pyFile = (r: ReturnType<typeof emitCuda>, name: string): string => {
  const f = r.files.find((x) => x.path === `${r.info.module as string}/${name}`);
  if (!f || typeof f.contents !== 'string') throw new Error(`no ${name}`);
  return f.contents;
};
const fileOf = (r: ReturnType<typeof emitCuda>, role: string): string => {
  const f = r.files.find((x) => x.role === role);
  if (!f || typeof f.contents !== 'string') throw new Error(`no ${role} file`);
  return f.contents;
};

describe('cuda spec', () => {
  it('hash and kernel name are pure functions of the specialization', () => {
    const a = planKernel(ir(FLUX_B, [64, 64])).spec!;
    const b = planKernel(ir(FLUX_B, [64, 64])).spec!;
    expect(canonicalSpec(a)).toBe(canonicalSpec(b));
    expect(specHash(a)).toBe(specHash(b));
    expect(kernelName(a)).toMatch(/^grat_flux_b_[0-9a-f]{12}$/);
    // a different grid, order or schedule is a different kernel
    const names = new Set([
      kernelName(a),
      kernelName(planKernel(ir(FLUX_B, [64, 48])).spec!),
      kernelName(planKernel(ir(FLUX_B.replace('order raster', 'order grouped'), [64, 64])).spec!),
      kernelName(planKernel(ir(`${FLUX_B}schedule cuda block_k=32\n`, [64, 64])).spec!),
    ]);
    expect(names.size).toBe(4);
  });

  it('emits byte-identical files for the same input', () => {
    const x = emitCuda(ir(FLUX_B, [40, 24]));
    const y = emitCuda(ir(FLUX_B, [40, 24]));
    expect(x.files.map((f) => f.contents)).toEqual(y.files.map((f) => f.contents));
  });

  it('rejects an unsupported head_dim with a diagnostic naming what is supported', () => {
    const r = emitCuda(ir(FLUX_B.replace('head_dim 128', 'head_dim 96'), [32, 32]));
    expect(r.files).toEqual([]);
    const d = r.diagnostics.find((x) => x.code === 'E0911');
    expect(d?.severity).toBe('error');
    expect(d?.message).toContain('head_dim 64 and 128');
    expect(d?.message).toContain('96');
  });

  it('rejects schedule hints it cannot honour', () => {
    const r = emitCuda(ir(`${FLUX_B}schedule cuda block_q=128 warps=2\n`, [32, 32]));
    expect(r.files).toEqual([]);
    expect(r.diagnostics.map((d) => d.code)).toContain('E0913');
    const r2 = emitCuda(ir(`${FLUX_B}schedule cuda block_k=48\n`, [32, 32]));
    expect(r2.diagnostics.map((d) => d.code)).toContain('E0912');
  });

  it('warns on fp32 and still emits (the library takes bf16 and fp16)', () => {
    const r = emitCuda(ir(FLUX_B.replace('dtype bf16', 'dtype fp32'), [32, 32]));
    expect(r.files.filter((f) => f.role === 'kernel').length).toBe(3); // the sm_80 and sm_90a kernels, the sm_90a exact forward (issue 21)
    expect(r.diagnostics.find((d) => d.code === 'W0911')?.severity).toBe('warning');
  });

  it('plans the launch: text tiles first, then tiles of every query group', () => {
    const spec = planKernel(ir(FLUX_B, [20, 36])).spec!; // ragged: 2 x 3 groups, edge groups smaller
    const c = cudaPlan(spec), f = c.sm80.tiles!;
    expect(c.bound!.layout.tokens).toBe(720 + 512);
    expect(c.bound!.layout.queryGroups).toBe(6);
    expect(f.tilesPerGroup).toBe(2);
    expect(f.textTiles).toBe(4);
    expect(f.gridTiles).toBe(4 + 12);
  });
});

describe('cuda emitted code', () => {
  const r = emitCuda(ir(FLUX_B, [20, 36]));
  const cu = fileOf(r, 'kernel'), h = fileOf(r, 'host'), py = pyFile(r, '_spec.py');
  const name = r.info.kernel as string;

  it('is registered as the cuda backend', () => {
    expect(backendFor('cuda')?.emit).toBe(emitCuda);
  });

  it('is a Python package with the kernels inside (named after the kernel: sm_80, then sm_90a)', () => {
    const pkg = (f: string): string => `grat_flux_b/${f}`;
    expect(r.files.map((f) => f.path)).toEqual(['pyproject.toml', ...['__init__.py', '_spec.py', '_build.py', '_op.py', '_api.py', '_plug.py', '_parallel.py', '_shard.py', '__main__.py',
      `${name}.cu`, `${name}.h`, `${name}_sm90a.cu`, `${name}_sm90a.h`, `${name}_sm90a_exact.cu`].map(pkg)]);
    expect(fileOf(r, 'package')).toMatch(/packages = \["grat_flux_b"\]\n[^]*grat_flux_b = \["\*\.cu", "\*\.h"\]/);
    for (const f of r.files) expect(f.contents).not.toMatch(/\{\{|\}\}\}/); // no template holes left
  });

  it('kernel: the pattern\'s constants and closed forms', () => {
    for (const s of ['constexpr int D = 128;', 'constexpr int TOKENS = 1232;', 'constexpr int TEXT_OFFSET = 0;', 'constexpr int IMAGE_OFFSET = 512;',
      'constexpr bool IMAGE_SEES_TEXT = true;']) {
      expect(cu).toContain(s);
    }
    // raster order: full-width groups divide by a constant, ragged ones at run time
    expect(cu).toContain('if (s.lw == 16)');
    // ragged grid: edge group lengths are computed, not assumed
    expect(cu).toContain('min(16, 20 - c[0] * 16)');
    // neighbors(1) with clip borders
    expect(cu).toContain('c.lo[0] = max(q[0] + (-1), 0); c.hi[0] = min(q[0] + 1, 1);');
  });

  it('crisscross: later terms skip key groups an earlier term owns', () => {
    const x = fileOf(emitCuda(ir(FLUX_B.replace('neighbors(1)', 'crisscross'), [64, 64])), 'kernel');
    // term 0's test printed once, as a function, and called from term 1's case
    expect(x).toContain('__device__ __forceinline__ bool term_contains_0(const int (&q)[NDIM], const int (&k)[NDIM]) { return ');
    expect(x).toMatch(/case 1: \{\s+return !term_contains_0\(q, k\);/);
  });

  it('grouped order: groups are contiguous runs from the closed-form start', () => {
    const g = fileOf(emitCuda(ir(FLUX_B.replace('order raster', 'order grouped'), [20, 36])), 'kernel');
    expect(g).toContain('return Seg{512 + min(c[0] * 16, 20) * 36 + min(c[1] * 16, 36) * len0, len0 * len1, len0 * len1, 1, true};');
  });

  it('header and loader agree with the kernel', () => {
    expect(h).toContain(`int ${name}_forward(int dtype,`);
    expect(h).toContain(`#define ${name.toUpperCase()}_TOKENS 1232`);
    expect(py).toContain(`KERNEL = "${name}"`);
    expect(py).toContain('TOKENS = 1232');
    expect(py).toContain('GRID = (20, 36,)');
  });

  it('multi-GPU: the loader embeds the spatial plans; a stale build lock is cleared first', () => {
    // a lock left by a killed build is cleared (torch would wait for it forever)
    // (between the two: whether this is the first build, for its progress line)
    expect(pyFile(r, '_build.py')).toMatch(/_clear_stale_lock\(folder\)\n(?:\s+(?:#.*|first = .*|what = .*)\n)*\s+try:\n(?:\s+(?:#.*|with _BuildProgress\(.*:)\n)*\s+path = load\(/);
    const json = /SPATIAL_PLANS = json\.loads\("""(.*)"""\)/.exec(py)?.[1] ?? 'null';
    const plans = JSON.parse(json) as Record<string, { ranks?: { tokens: number[] }[]; error?: string }>;
    expect(plans['2'].ranks?.map((x) => x.tokens)).toEqual([[0, 512 + 16 * 36], [512 + 16 * 36, 1232]]);
    expect(plans['3'].error).toMatch(/2 group row/);
  });
});

describe('cuda sm_90a kernel', () => {
  const r = emitCuda(ir(FLUX_B, [20, 36]));
  const name = r.info.kernel as string;
  const cu90 = r.files.find((f) => f.path.endsWith(`/${name}_sm90a.cu`))!.contents as string;
  const cu80 = fileOf(r, 'kernel');
  const py = pyFile(r, '_spec.py');

  it('raster key tiles as TMA boxes of the planned shape, the same geometry as sm_80', () => {
    expect(cu90).toContain('constexpr bool RASTER_TMA = true;');
    expect(cu90).toContain('constexpr int BOX_W = 16, BOX_H = 8, BOX_T = 1;');
    // the geometry functions are printed once and shared verbatim by both kernels
    const geom = (cu: string): string => cu.slice(cu.indexOf('// ---- the pattern: layout constants'), cu.indexOf('/** The next key tile'));
    expect(geom(cu90).length).toBeGreaterThan(200);
    expect(geom(cu90)).toBe(geom(cu80));
    expect(cu90).not.toMatch(/\{\{|\}\}\}/);
  });

  it('plans a fixed tiling and says when raster tiles cannot be TMA boxes', () => {
    expect(r.info.sm90a).toMatchObject({ kernel: `${name}_sm90a`, blockQ: 128, blockK: 128, stages: 3 });
    expect(planSm90(planKernel(ir(FLUX_B, [20, 36])).spec!).rasterBox).toEqual({ w: 16, h: 8, t: 1 });
    // groups of 12 wide: 128 keys are not whole rows, so raster tiles are gathered by cp.async
    const odd = planSm90(planKernel(ir(FLUX_B.replace('group h=16 w=16', 'group h=16 w=12'), [32, 36])).spec!);
    expect(odd.supported).toBe(true);
    expect(odd.rasterBox).toBeNull();
    // grouped order: contiguous runs are boxes of the [heads, tokens, d] map, no image map
    expect(planSm90(planKernel(ir(FLUX_B.replace('order raster', 'order grouped'), [20, 36])).spec!).rasterBox).toBeNull();
  });

  it('the loader knows the sm_90a kernel was emitted', () => {
    expect(py).toContain('SM90A = True');
  });
});

describe('predicates in C', () => {
  it('prints floor division, modulo and deltas like compiler/predicate.ts, and booleans as booleans', () => {
    const e = { op: '&&', a: { op: '==', a: { op: '%', a: { op: 'var', ref: 'd', axis: 0 }, b: { op: 'int', value: 2 } }, b: { op: 'int', value: 0 } }, b: { op: '<=', a: { op: 'abs', a: { op: 'var', ref: 'd', axis: 1 } }, b: { op: 'var', ref: 'n', axis: 1 } } } as const;
    expect(printPredicate(e, [4, 7])).toBe('((floor_mod((k[0] - q[0]), 2) == 0) && (abs((k[1] - q[1])) <= 7))');
  });
});

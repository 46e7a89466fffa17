/**
 * The sm_90a kernel's precision 'int8' (issue 20, opt-in: planKernel(ir, variant, 'int8')): the
 * Hopper kernel of the bench's patterns (Flux GRAT-B and X, HunyuanVideo GRAT-B and X) compiles with
 * nvcc for sm_90a as the loader builds it: no warning, no spills, no stack, no serialized wgmma; the
 * SASS holds integer GMMA (IGMMA) and no HGMMA (every product of the int8 kernel is 8-bit). The 16-bit
 * kernel's text is pinned by the golden files (test/golden.test.ts), which this precision leaves as
 * they were. The numerics are test/cuda.int8_numerics.test.ts; a GPU run is bench/cuda/attn8_check.py.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { DEFAULT_SM90_VARIANT, emitSpec, planKernel } from '../codegen/cuda/index.js';
import { ptxasProblems } from './support/ptxas.js';
import { pool, run, TORCH_FLAGS } from './support/nvcc.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-nvcc-int8-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const hasCuobjdump = spawnSync('cuobjdump', ['--version']).status === 0;

/** An example at the grid and text its header comment names (`--grid 64x64 --text 512`). */
function load(ex: string, edit = (s: string): string => s): NonNullable<ReturnType<typeof checkSource>['ir']> {
  const src = edit(readFileSync(`examples/${ex}.grat`, 'utf8'));
  const g = /--grid\s+(\d+(?:x\d+)*)/.exec(src), t = /--text\s+(\d+)/.exec(src);
  const r = checkSource(src, { grid: g ? g[1].split('x').map(Number) : undefined, text: t ? Number(t[1]) : undefined, defaultName: ex });
  if (!r.ir) throw new Error(`${ex}: ${JSON.stringify(r.diagnostics)}`);
  return r.ir;
}

describe('nvcc sm_90a, precision int8', () => {
  it('refuses head_dim 64 (E0914); the int8 package is the 16-bit one plus KERNEL_int8_sm90a.cu/.h', () => {
    const ir = load('flux_grat_x');
    const a = planKernel(ir).spec!, b = planKernel(ir, DEFAULT_SM90_VARIANT, 'int8').spec!;
    // the int8 package is the 16-bit one (same files, same text) plus KERNEL_int8_sm90a.cu/.h, its _spec.py saying so
    const fa = emitSpec(a), fb = emitSpec(b);
    const text = (fs: typeof fa, p: string): string => String(fs.find((f) => f.path === p)?.contents);
    for (const f of fa) if (!f.path.endsWith('_spec.py')) expect(text(fb, f.path), f.path).toEqual(String(f.contents));
    expect(fb.map((f) => f.path).filter((p) => !fa.some((g) => g.path === p)).map((p) => p.replace(/^.*\/grat_\w+?_[0-9a-f]{12}/, 'K')).sort()).toEqual(['K_int8_sm90a.cu', 'K_int8_sm90a.h']);
    expect(text(fb, fa.find((f) => f.path.endsWith('_spec.py'))!.path)).toContain('SM90A_INT8 = True');
    expect(String(fa.find((f) => f.path.endsWith('_spec.py'))!.contents)).toContain('SM90A_INT8 = False');
    const small = load('flux_grat_x', (s) => s.replace(/head_dim\s+128/, 'head_dim 64'));
    expect(planKernel(small, DEFAULT_SM90_VARIANT, 'int8').diagnostics.map((d) => d.code)).toContain('E0914');
  });

  it('compiles clean (Flux and HunyuanVideo, GRAT-B and X); IGMMA and no HGMMA in SASS where cuobjdump is installed', async () => {
    const jobs = ['flux_grat_b', 'flux_grat_x', 'hunyuan_grat_b', 'hunyuan_grat_x'].map((ex) => {
      const ir = load(ex);
      const files = emitSpec(planKernel(ir, DEFAULT_SM90_VARIANT, 'int8').spec!);
      const dir = join(work, ex);
      for (const f of files) { mkdirSync(dirname(join(dir, f.path)), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
      return { ex, dir, cu: files.find((f) => f.path.endsWith('_int8_sm90a.cu'))!.path };
    });
    const results = await pool(jobs, Math.max(1, cpus().length), async (job) => {
      const r = await run('nvcc', ['-gencode=arch=compute_90a,code=sm_90a', '-c', ...TORCH_FLAGS, '-O3', '-std=c++17', '-Xptxas', '-v', '-o', 'int8.o', job.cu], job.dir);
      const p = r.code !== 0 ? [`nvcc exit ${r.code}: ${r.out.slice(-1500)}`] : ptxasProblems(r.out, { strict: true });
      if (r.code === 0 && hasCuobjdump) {
        const s = await run('cuobjdump', ['-sass', 'int8.o'], job.dir);
        writeFileSync(join(job.dir, 'int8.sass'), s.out);
        if (!/\bIGMMA\b/.test(s.out)) p.push('no IGMMA in SASS');
        if (/\bHGMMA\b/.test(s.out)) p.push('HGMMA in the int8 SASS');
        if (/\b(LDL|STL)\b/.test(s.out)) p.push('local memory (LDL/STL) in SASS');
        const count = (re: RegExp): number => (s.out.match(re) ?? []).length;
        // eslint-disable-next-line no-console
        console.log(`${job.ex} int8 SASS: IGMMA ${count(/\bIGMMA\b/g)}, MUFU.EX2 ${count(/MUFU\.EX2/g)}, SHFL ${count(/\bSHFL\./g)}, PRMT ${count(/\bPRMT\b/g)}, ${r.out.split('\n').filter((l) => /registers|spill/.test(l)).join(' | ').slice(0, 600)}`);
      }
      return p.map((x) => `${job.ex}: ${x}`);
    });
    expect(results.flat()).toEqual([]);
  }, 15 * 60_000);
});

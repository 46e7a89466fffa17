/**
 * The sm_80 backward kernels (templates/backward.cu.hbs, in the sm_80 library beside the forward)
 * compile with nvcc for sm_80 and sm_90 (what the loader builds on an H100) with no warning, no
 * spill and no stack frame, read from `-Xptxas -v`, for head_dim 128 and 64, bf16 and fp16, sizes
 * compiled in and taken at launch, 1-D, 2-D raster, 3-D and grouped order with a predicate on the
 * group count. And K_backward's host checks, compiled with nvcc and run without a GPU: NULL lse or
 * workspace, batch or heads out of range, strides that are not multiples of 8, unaligned pointers
 * and sizes the forward refuses are refused before any launch.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource, type CheckOptions } from '../compiler/index.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { SHIFT_N } from './support/runtime_patterns.js';
import { ptxasProblems } from './support/ptxas.js';
import { run, TORCH_FLAGS } from './support/nvcc.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-nvcc-bwd-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const example = (n: string): string => readFileSync(join('examples', `${n}.grat`), 'utf8');

/** The emitted package of `src` in work/<name>; returns the sm_80 kernel's .cu path (relative) and the kernel name. */
function emit(name: string, src: string, opts: CheckOptions): { dir: string; cu: string; kernel: string } {
  const r = checkSource(src, { defaultName: name, ...opts });
  if (!r.ir) throw new Error(`${name}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  const e = emitCuda(r.ir);
  const dir = join(work, name);
  for (const f of e.files) { mkdirSync(dirname(join(dir, f.path)), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
  const cu = e.files.find((f) => f.path.endsWith('.cu') && !f.path.endsWith('_sm90a.cu'))!.path;
  return { dir, cu, kernel: e.info.kernel as string };
}

/** The ptxas report's blocks per entry function: [mangled name, its lines]. */
function perFunction(out: string): Map<string, string> {
  const m = new Map<string, string>();
  const parts = out.split(/Compiling entry function '/).slice(1);
  for (const p of parts) m.set(p.slice(0, p.indexOf("'")), p);
  return m;
}

describe('nvcc: the backward kernels compile clean (no warning, spill or stack frame)', () => {
  const cases: [string, string, CheckOptions][] = [
    ['flux_b_rt', example('flux_grat_b'), { runtimeSizes: true }],
    ['hunyuan_x_rt', example('hunyuan_grat_x'), { runtimeSizes: true }],
    ['dit_b_fixed64', example('cuda_dit_b'), {}],
    ['window_1d', example('sliding_window_1d'), { grid: [1000] }],
    ['grouped_n', SHIFT_N, { runtimeSizes: true }],
  ];
  const jobs = cases.flatMap(([name, src, opts]) => {
    const e = emit(name, src, opts);
    return (['sm_80', 'sm_90'] as const).map((arch) => ({ name, arch, ...e }));
  });

  it('preprocess, dK/dV and dQ kernels for bf16 and fp16 in every sm_80 library; ptxas clean', async () => {
    const problems: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: Math.max(1, Math.min(2, cpus().length)) }, async () => {
      while (next < jobs.length) {
        const j = jobs[next++];
        const r = await run('nvcc', [`-gencode=arch=compute_${j.arch.slice(3)},code=${j.arch}`, '-c', ...TORCH_FLAGS, '-O3', '-std=c++17', '-Xptxas', '-v', '-o', `${j.arch}.o`, j.cu], j.dir);
        const p = r.code !== 0 ? [`nvcc exit ${r.code}: ${r.out.slice(-800)}`] : ptxasProblems(r.out, { strict: true });
        const fns = [...perFunction(r.out).keys()];
        for (const k of ['preprocess_kernel', 'dkdv_kernel', 'dq_kernel']) {
          for (const t of ['13__nv_bfloat16', '6__half']) {
            if (!fns.some((f) => f.includes(`_bwd`) && f.includes(k) && f.includes(t))) p.push(`no ${k}<${t}>`);
          }
        }
        problems.push(...p.map((x) => `${j.name} ${j.arch}: ${x}`));
      }
    }));
    expect(problems).toEqual([]);
  }, 20 * 60_000);
});

describe('K_backward\'s host checks (nvcc, no GPU needed)', () => {
  it('refuses bad arguments before launching; passes good ones on to the launch', async () => {
    const { dir, cu, kernel: k } = emit('abi_bwd', example('flux_grat_b'), { runtimeSizes: true });
    const calls = [
      'rc = call(s, p, w, st, 2, 3);',             // ok: reaches the launch (fails there without a GPU)
      'rc = call(s, nullptr, w, st, 2, 3);',       // no lse
      'rc = call(s, p, nullptr, st, 2, 3);',       // no workspace
      'rc = call(s, p, w, st, 0, 3);',             // batch 0
      'rc = call(s, p, w, st, 2, 70000);',         // heads past 65535
      'rc = call(s, p, w, odd, 2, 3);',            // a stride not a multiple of 8
      'rc = call(nullptr, p, w, st, 2, 3);',       // run-time sizes not given
      'rc = call(big, p, w, st, 2, 3);',           // a grid past its limit
    ];
    const host = `#include <cstdio>
#include "${k}.h"
static int call(const int* sizes, const float* lse, float* w, const long long* st, int batch, int heads) {
  void* p = reinterpret_cast<void*>(0x100000);
  return ${k}_backward(0, p, p, p, p, p, lse, nullptr, p, p, p, st, batch, heads, sizes, nullptr, 0, 0.1f, w, nullptr);
}
int main() {
  const float* p = reinterpret_cast<const float*>(0x100000);
  float* w = reinterpret_cast<float*>(0x200000);
  long long st[24], odd[24];
  for (int i = 0; i < 24; ++i) { st[i] = (i % 3 == 0) ? 8 * 1024 : (i % 3 == 1) ? 8 * 128 : 8; odd[i] = st[i]; }
  odd[13] = 4;
  const int s[3] = {20, 36, 512}, big[3] = {4097, 1, 512};
  int rc;
${calls.map((c) => `  { ${c} std::printf("%d\\n", rc); }`).join('\n')}
  return 0;
}
`;
    writeFileSync(join(dir, dirname(cu), 'host.cpp'), host);
    const r = await run('nvcc', ['-gencode=arch=compute_80,code=sm_80', '-O1', '-std=c++17', '-o', 'host', cu, join(dirname(cu), 'host.cpp')], dir);
    expect(r.code, r.out.slice(-800)).toBe(0);
    const rcs = spawnSync(join(dir, 'host'), [], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
    const INVALID = 1, MISALIGNED = 716; // cudaErrorInvalidValue, cudaErrorMisalignedAddress
    expect(rcs.slice(1)).toEqual([INVALID, INVALID, INVALID, INVALID, MISALIGNED, INVALID, INVALID]);
    expect([INVALID, MISALIGNED]).not.toContain(rcs[0]);
  }, 10 * 60_000);
});

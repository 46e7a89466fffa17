/**
 * The kernels of patterns whose sizes are taken at launch (`?` left unbound: ir.runtime) compile
 * with nvcc for sm_80 and sm_90a as the loader builds them: no warning, no spills, no stack frame
 * (read from `-Xptxas -v`), HGMMA in the Hopper kernel's SASS. The bench's patterns (Flux GRAT-B/X,
 * HunyuanVideo GRAT-B/X) plus one with grouped order and a predicate on the group count. And the
 * host side of the C ABI, compiled with nvcc and run without a GPU: sizes, parts and arguments the
 * checks must refuse (cudaErrorInvalidValue) and ones they must pass on to the launch.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { emitCuda } from '../codegen/cuda/index.js';
import type { EmittedFile } from '../codegen/backend.js';
import { SHIFT_N } from './support/runtime_patterns.js';
import { ptxasProblems } from './support/ptxas.js';
import { run, TORCH_FLAGS } from './support/nvcc.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-nvcc-rt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hasCuobjdump = spawnSync('cuobjdump', ['--version']).status === 0;

describe('nvcc: kernels with sizes taken at launch compile clean for sm_80 and sm_90a', () => {
  const sources: [string, string][] = [
    ...['flux_grat_b', 'flux_grat_x', 'hunyuan_grat_b', 'hunyuan_grat_x'].map((n): [string, string] => [n, readFileSync(join('examples', `${n}.grat`), 'utf8')]),
    ['grouped_n', SHIFT_N],
  ];
  const jobs: { name: string; arch: 'sm_80' | 'sm_90a'; dir: string; cu: string }[] = [];
  for (const [name, src] of sources) {
    const r = checkSource(src, { runtimeSizes: true, defaultName: name });
    if (!r.ir) throw new Error(`${name}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
    const e = emitCuda(r.ir);
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    for (const f of e.files) { mkdirSync(dirname(join(dir, f.path)), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
    jobs.push({ name, arch: 'sm_80', dir, cu: e.files.find((f) => f.path.endsWith('.cu') && !f.path.endsWith('_sm90a.cu'))!.path });
    const h = e.files.find((f) => f.path.endsWith('_sm90a.cu'));
    if (h) jobs.push({ name, arch: 'sm_90a', dir, cu: h.path });
  }

  it('every pattern of the bench leaves its grid to launch (and a predicate on n is kept)', () => {
    for (const [name, src] of sources) expect(checkSource(src, { runtimeSizes: true }).ir?.runtime?.dims.some((x) => x), name).toBe(true);
    expect(jobs.filter((j) => j.arch === 'sm_90a').length).toBe(sources.length);
  });

  it('no warning, zero spills, zero stack; HGMMA in the sm_90a SASS', async () => {
    const results: string[][] = [];
    let next = 0;
    await Promise.all(Array.from({ length: Math.max(1, Math.min(2, cpus().length)) }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        const gencode = job.arch === 'sm_80' ? '-gencode=arch=compute_80,code=sm_80' : '-gencode=arch=compute_90a,code=sm_90a';
        const obj = `${job.arch}.o`;
        // the sm_90a backward at run-time sizes is compiled with the first pattern; the others check
        // their forward (the backward's text differs only in the cursor it shares with the forward)
        const forwardOnly = job.arch === 'sm_90a' && job !== jobs.find((j) => j.arch === 'sm_90a') ? ['-DGRAT_FORWARD_ONLY'] : [];
        const r = await run('nvcc', [gencode, '-c', ...TORCH_FLAGS, ...forwardOnly, '-O3', '-std=c++17', '-Xptxas', '-v', '-o', obj, job.cu], job.dir);
        const p = r.code !== 0 ? [`nvcc exit ${r.code}: ${r.out.slice(-800)}`] : ptxasProblems(r.out, { strict: true });
        if (r.code === 0 && hasCuobjdump && job.arch === 'sm_90a') {
          const s = await run('cuobjdump', ['-sass', obj], job.dir);
          if (!/\bHGMMA\b/.test(s.out)) p.push('no HGMMA in SASS');
          if (/\b(LDL|STL)\b/.test(s.out)) p.push('local memory (LDL/STL) in SASS');
        }
        results.push(p.map((x) => `${job.name} ${job.arch}: ${x}`));
      }
    }));
    expect(results.flat()).toEqual([]);
  }, 15 * 60_000);
});

/** A host program calling K_forward / K_forward_part with the given arguments; prints each return code. */
function hostHarness(kernel: string, calls: readonly string[]): string {
  return `#include <cstdio>
#include "${kernel}.h"
int main() {
  void* p = reinterpret_cast<void*>(0x100000);  // aligned; never dereferenced on the host
  const long long st[12] = {8 * 1024, 8 * 128, 8, 8 * 1024, 8 * 128, 8, 8 * 1024, 8 * 128, 8, 8 * 1024, 8 * 128, 8};
  int rc;
${calls.map((c) => `  { ${c} std::printf("%d\\n", rc); }`).join('\n')}
  return 0;
}
`;
}

describe('the C ABI\'s host checks (nvcc, no GPU needed)', () => {
  const flux = readFileSync(join('examples', 'flux_grat_b.grat'), 'utf8');
  const build = async (name: string, files: readonly EmittedFile[], calls: readonly string[]): Promise<number[]> => {
    const dir = join(work, name);
    for (const f of files) { mkdirSync(dirname(join(dir, f.path)), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
    const cu = files.find((f) => f.path.endsWith('.cu') && !f.path.endsWith('_sm90a.cu'))!.path;
    const kernel = cu.replace(/^.*\//, '').replace(/\.cu$/, '');
    writeFileSync(join(dir, dirname(cu), 'host.cpp'), hostHarness(kernel, calls));
    const r = await run('nvcc', ['-gencode=arch=compute_80,code=sm_80', '-O1', '-std=c++17', '-o', 'host', cu, join(dirname(cu), 'host.cpp')], dir);
    expect(r.code, r.out.slice(-800)).toBe(0);
    const x = spawnSync(join(dir, 'host'), [], { encoding: 'utf8' });
    return x.stdout.trim().split('\n').map(Number);
  };
  const INVALID = 1; // cudaErrorInvalidValue; anything else passed the checks (no GPU here: the launch fails otherwise)
  const fwd = (k: string, sizes: string, extra = 'nullptr, 0') => `const int* s = ${sizes}; rc = ${k}_forward(0, p, p, p, p, nullptr, st, 2, 3, s, ${extra}, 0.1f, nullptr);`;

  it('run-time sizes: NULL, past a limit, unlike a fixed size, zero are refused; parts are checked against the launch\'s groups and tokens', async () => {
    const e = emitCuda(checkSource(flux, { runtimeSizes: true }).ir!);
    const k = e.info.kernel as string;
    const ok = '(const int[]){20, 36, 512}';
    const part = (pt: string) => `const int s[3] = {20, 36, 512}; const int pt[5] = ${pt}; rc = ${k}_forward_part(0, p, p, p, p, nullptr, st, 2, 3, s, nullptr, 0, 0.1f, nullptr, pt);`;
    const rcs = await build('abi_rt', e.files, [
      fwd(k, 'nullptr'), fwd(k, ok), fwd(k, '(const int[]){4097, 1, 512}'), fwd(k, '(const int[]){20, 36, 511}'), fwd(k, '(const int[]){0, 36, 512}'),
      fwd(k, '(const int[]){4096, 4096, 512}'), fwd(k, ok, 'reinterpret_cast<const int*>(p), 7'),
      part('{1, 0, 6, 0, 720}'), part('{1, 0, 7, 0, 720}'), part('{0, 5, 1, 100, 620}'), part('{0, 5, 2, 0, 720}'), part('{1, 0, 6, 1, 720}'),
      `const int s[3] = {20, 36, 512}; rc = ${k}_forward(0, p, p, p, p, nullptr, st, 0, 3, s, nullptr, 0, 0.1f, nullptr);`,
    ]);
    expect(rcs.map((x) => x === INVALID)).toEqual([true, false, true, true, true, false, false, false, true, false, true, true, true]);
  }, 10 * 60_000);

  it('fixed sizes: NULL or the compiled sizes pass; other sizes are refused', async () => {
    const e = emitCuda(checkSource(flux, { grid: [20, 36] }).ir!);
    const k = e.info.kernel as string;
    const rcs = await build('abi_fixed', e.files, [fwd(k, 'nullptr'), fwd(k, '(const int[]){20, 36, 512}'), fwd(k, '(const int[]){20, 37, 512}'), fwd(k, '(const int[]){20, 36, 0}')]);
    expect(rcs.map((x) => x === INVALID)).toEqual([false, false, true, true]);
  }, 10 * 60_000);
});

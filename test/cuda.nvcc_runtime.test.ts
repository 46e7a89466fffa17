/**
 * The kernels of patterns whose sizes are taken at launch (`?` left unbound: ir.runtime) compile
 * with nvcc for sm_80 and sm_90a as the loader builds them: no warning, no spills, no stack frame
 * (read from `-Xptxas -v`), HGMMA in the Hopper kernel's SASS. The bench's patterns (Flux GRAT-B/X,
 * HunyuanVideo GRAT-B/X) plus one with grouped order and a predicate on the group count.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { emitCuda } from '../codegen/cuda/index.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-nvcc-rt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
    p.on('error', (e) => resolve({ code: -1, out: String(e) }));
  });
}

/** Spills, stack frames, errors and warnings in `nvcc -Xptxas -v` output. */
function problems(out: string): string[] {
  const p: string[] = [];
  const re = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/g;
  let m: RegExpExecArray | null, seen = 0;
  while ((m = re.exec(out))) {
    seen++;
    if (m[1] !== '0' || m[2] !== '0' || m[3] !== '0') p.push(m[0]);
  }
  if (seen === 0) p.push('no ptxas resource report found');
  if (/\berror\b/i.test(out)) p.push('compile error');
  const warnings = out.split('\n').filter((l) => /\bwarning\b/i.test(l));
  if (warnings.length > 0) p.push(`warnings: ${warnings.slice(0, 3).join(' | ').slice(0, 400)}`);
  const serial = /\(C751[0-5]\)[^\n]*/.exec(out);
  if (serial) p.push(`wgmma serialized: ${serial[0].slice(0, 160)}`);
  return p;
}

const TORCH_FLAGS = ['-D__CUDA_NO_HALF_OPERATORS__', '-D__CUDA_NO_HALF_CONVERSIONS__', '-D__CUDA_NO_BFLOAT16_CONVERSIONS__', '-D__CUDA_NO_HALF2_OPERATORS__', '--expt-relaxed-constexpr', '-Xcompiler', '-fPIC'];
const hasCuobjdump = spawnSync('cuobjdump', ['--version']).status === 0;

const GROUPED_N = `pattern gn
grid  h=? w=?
group h=4 w=4
order grouped
border shift
text  ? before
image attends neighbors(h=1, w=2) + where(kw >= nw - 1 && dh >= -1 && dh <= 0) + text
text  attends grid
head_dim 64
`;

describe('nvcc: kernels with sizes taken at launch compile clean for sm_80 and sm_90a', () => {
  const sources: [string, string][] = [
    ...['flux_grat_b', 'flux_grat_x', 'hunyuan_grat_b', 'hunyuan_grat_x'].map((n): [string, string] => [n, readFileSync(join('examples', `${n}.grat`), 'utf8')]),
    ['grouped_n', GROUPED_N],
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
        const r = await run('nvcc', [gencode, '-c', ...TORCH_FLAGS, '-O3', '-std=c++17', '-Xptxas', '-v', '-o', obj, job.cu], job.dir);
        const p = r.code !== 0 ? [`nvcc exit ${r.code}: ${r.out.slice(-800)}`] : problems(r.out);
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

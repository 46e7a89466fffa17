/**
 * Compiles the CUDA kernel of every example in examples/ with nvcc for sm_80 and sm_90 and fails
 * on errors, register spills or any local memory (stack frame), read from `-Xptxas -v`.
 * Examples the backend rejects (e.g. head_dim 32) must say so with the E0911 diagnostic.
 * `?` sizes are bound from the file's own `--grid AxB` / `--text N` comment, else 3 groups a dim.
 * Compiles run in parallel (one per core); each is a -cubin of one arch.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { emitCuda, SUPPORTED_HEAD_DIMS } from '../codegen/cuda/index.js';
import { ptxasProblems } from './support/ptxas.js';
import { pool, run } from './support/nvcc.js';

const ARCHS = ['sm_80', 'sm_90'];
const work = mkdtempSync(join(tmpdir(), 'gratc-nvcc-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Job { example: string; arch: string; dir: string; cu: string }
interface Result { job: Job; code: number; out: string }

function bindings(text: string): { grid?: number[]; text?: number } {
  const g = /--grid\s+(\d+(?:x\d+)*)/.exec(text);
  const t = /--text\s+(\d+)/.exec(text);
  return { grid: g ? g[1].split('x').map(Number) : undefined, text: t ? Number(t[1]) : undefined };
}

function load(file: string): ReturnType<typeof checkSource> {
  const src = readFileSync(file, 'utf8');
  const b = bindings(src);
  let r = checkSource(src, { ...b, defaultName: 'example' });
  if (!r.ir) {
    // fixed sizes conflict with a comment's, or no comment: bind what is `?` from the group shape
    const dims = /^grid\s+(.*)$/m.exec(src)?.[1].split(/\s+/).filter((s) => s.includes('=')) ?? [];
    const groups = /^group\s+(.*)$/m.exec(src)?.[1].split(/\s+/).filter((s) => s.includes('=')).map((s) => Number(s.split('=')[1])) ?? [];
    const grid = dims.map((d, i) => (d.endsWith('?') ? 3 * (groups[i] ?? 1) : Number(d.split('=')[1])));
    const text = /^text\s+\?/m.test(src) ? 64 : undefined;
    r = checkSource(src, { grid, text, defaultName: 'example' });
  }
  return r;
}

describe('nvcc: every example compiles without spills or local memory', () => {
  const examples = readdirSync('examples').filter((f) => f.endsWith('.grat')).sort();
  const jobs: Job[] = [];
  const rejected: { example: string; headDim: number; codes: string[] }[] = [];
  for (const ex of examples) {
    const r = load(join('examples', ex));
    it(`${ex} checks`, () => expect(r.ir, r.diagnostics.map((d) => d.message).join('; ')).not.toBeNull());
    if (!r.ir) continue;
    const e = emitCuda(r.ir);
    if (e.files.length === 0) { rejected.push({ example: ex, headDim: r.ir.headDim, codes: e.diagnostics.map((d) => d.code) }); continue; }
    const dir = join(work, ex.replace('.grat', ''));
    mkdirSync(dir, { recursive: true });
    for (const f of e.files) { mkdirSync(dirname(join(dir, f.path)), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
    const cu = e.files.find((f) => f.role === 'kernel')!.path;
    for (const arch of ARCHS) jobs.push({ example: ex, arch, dir, cu });
  }

  it('the backend refuses only what it cannot build, and says why (E0911 head_dim)', () => {
    for (const r of rejected) {
      expect(SUPPORTED_HEAD_DIMS, r.example).not.toContain(r.headDim);
      expect(r.codes.filter((c) => c.startsWith('E')), r.example).toEqual(['E0911']);
    }
    // a refusal is checked even when every example builds
    const ir = checkSource('pattern p\ngrid h=4 w=4\ngroup h=2 w=2\norder raster\nimage attends neighbors(1)\nhead_dim 32\ndtype bf16\n').ir!;
    const e = emitCuda(ir);
    expect(e.files).toEqual([]);
    expect(e.diagnostics.map((d) => d.code)).toEqual(['E0911']);
  });

  it.each(ARCHS)('compiles for %s with zero spills and zero stack', async (arch) => {
    const mine = jobs.filter((j) => j.arch === arch);
    expect(mine.length).toBeGreaterThan(0);
    const results: Result[] = await pool(mine, Math.max(1, cpus().length), async (job) => {
      const r = await run('nvcc', [`-arch=${job.arch}`, '-cubin', '-O3', '-std=c++17', '-Xptxas', '-v', '-o', `${job.arch}.cubin`, job.cu], job.dir);
      return { job, ...r };
    });
    const failures = results.flatMap((r) => {
      const p = r.code !== 0 ? [`nvcc exit ${r.code}: ${r.out.slice(-800)}`] : ptxasProblems(r.out);
      return p.map((x) => `${r.job.example} ${r.job.arch}: ${x}`);
    });
    expect(failures).toEqual([]);
  }, 15 * 60_000);
});

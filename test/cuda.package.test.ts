/**
 * The CUDA target's Python package (codegen/cuda/python.ts) without torch or a GPU: the emitted
 * folder installs with setuptools and imports from anywhere; `python -m grat_<pattern>` answers
 * --help and fails a build cleanly; and its Python logic — argument validation, the sizes of a
 * launch (fixed and given at run time), the op's fake shapes, the plug's routing, counts, policy
 * and strict mode — runs against the stub torch of test/support/stub_torch
 * (test/support/package_checks.py holds those checks).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { emitCuda, emitSpec, planKernel, type KernelSpec } from '../codegen/cuda/index.js';
import { runtimeSizes } from '../codegen/cuda/python.js';
import type { EmittedFile } from '../codegen/backend.js';
import { ROOT, tempDir } from './support/cli.js';

const STUB = join(ROOT, 'test', 'support', 'stub_torch');
const CHECKS = join(ROOT, 'test', 'support', 'package_checks.py');
const dir = tempDir();

function spec(): KernelSpec {
  const { ir, diagnostics } = checkSource(readFileSync(join(ROOT, 'examples', 'flux_grat_b.grat'), 'utf8'), { grid: [20, 36] });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return planKernel(ir).spec!;
}

/** The same pattern as kernels state a grid and text count given at launch (the spec JSON's "runtime", CONTRACT.md). */
const OPEN_RUNTIME = { dims: [true, true], text: true, max: { dims: [64, 64], text: 600, tokens: 4500 } };

/** The pattern compiled with its sizes left to launch (compiler/plan.ts types them), at OPEN_RUNTIME's small limits. */
function openSpec(): KernelSpec {
  const { ir, diagnostics } = checkSource(readFileSync(join(ROOT, 'examples', 'flux_grat_b.grat'), 'utf8'), { runtimeSizes: true });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  const s = planKernel(ir).spec!;
  return {
    ...s,
    dims: s.dims.map((d) => ({ ...d, size: { kind: 'runtime', max: 64 } })),
    text: { place: s.text!.place, count: { kind: 'runtime', max: 600 } },
    runtime: { ...OPEN_RUNTIME, max: { ...OPEN_RUNTIME.max, groups: 16 } },
  };
}

function write(folder: string, files: readonly EmittedFile[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(folder, f.path)), { recursive: true });
    writeFileSync(join(folder, f.path), f.contents);
  }
}

function python(args: string[], opts: { cwd?: string; path?: string[]; env?: Record<string, string> } = {}): { code: number | null; out: string } {
  const r = spawnSync('python3', args, {
    cwd: opts.cwd ?? dir, encoding: 'utf8', timeout: 120_000,
    env: { ...process.env, PYTHONPATH: [STUB, ...(opts.path ?? [])].join(':'), PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const fixed = join(dir, 'fixed'), open = join(dir, 'open');

beforeAll(() => {
  write(fixed, emitCuda(checkSource(readFileSync(join(ROOT, 'examples', 'flux_grat_b.grat'), 'utf8'), { grid: [20, 36] }).ir!).files);
  write(open, emitSpec(openSpec()));
});

describe('run-time sizes in the package', () => {
  it('come from the spec JSON\'s "runtime" field; without it every size is fixed and its own limit', () => {
    expect(runtimeSizes(spec())).toEqual({ dims: [false, false], text: false, max: { dims: [20, 36], text: 512, tokens: 1232 } });
    expect(runtimeSizes(openSpec())).toMatchObject(OPEN_RUNTIME);
    expect(() => runtimeSizes({ ...spec(), runtime: { dims: [true], text: true, max: {} } } as unknown as KernelSpec)).toThrow(/"runtime" field is not/);
    const py = readFileSync(join(open, 'grat_flux_grat_b', '_spec.py'), 'utf8');
    expect(py).toContain('GRID = (None, None,)');
    expect(py).toContain('TOKENS = None');
    expect(py).toContain('TEXT_COUNT = None');
  });
});

describe('the package\'s Python logic (stub torch)', () => {
  for (const [mode, folder] of [['fixed', fixed], ['open', open]] as const) {
    it(`${mode} sizes: validation, sizes, fake shapes, plug routing, policy, strict, report`, () => {
      const r = python([CHECKS, 'grat_flux_grat_b', mode], { path: [folder] });
      expect(r.out).toMatch(/^ok \d+$/m);
      expect(r.code, r.out).toBe(0);
    });
  }
});

describe('the package as a folder people install', () => {
  it('pyproject.toml: setuptools finds the package and its kernel sources; it imports from another folder', () => {
    const lib = join(dir, 'lib');
    // build_py is what a wheel holds; pip needs `wheel` with this setuptools, which CI may lack
    const b = python(['-c', 'from setuptools import setup; setup()', 'build_py', '--build-lib', lib], { cwd: fixed });
    if (b.out.includes("No module named 'setuptools'")) { console.warn('no setuptools: the pyproject was not built'); return; }
    expect(b.code, b.out).toBe(0);
    const pkg = join(lib, 'grat_flux_grat_b');
    for (const f of ['__init__.py', '_spec.py', '_build.py', '_op.py', '_api.py', '_plug.py', '_parallel.py', '_shard.py', '__main__.py']) expect(existsSync(join(pkg, f)), f).toBe(true);
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    const r = python(['-c', [
      'import os, grat_flux_grat_b as g, grat_flux_grat_b._build as b',
      'print(os.path.dirname(g.__file__))',
      'print(all(os.path.exists(b.source(a)) for a in ("sm80", "sm90a")), g.tokens_for((20, 36)))',
    ].join('\n')], { cwd: elsewhere, path: [lib] });
    expect(r.out.trim().split('\n'), r.out).toEqual([pkg, 'True 1232']);
  });

  it('python -m grat_<pattern>: build --help, info --json, and a failed build is one line and exit 1', () => {
    const help = python(['-m', 'grat_flux_grat_b', 'build', '--help'], { path: [fixed] });
    expect(help.code, help.out).toBe(0);
    expect(help.out).toMatch(/usage: python -m grat_flux_grat_b build \[-h\] \[--arch \{sm80,sm90a,all\}\]/);
    expect(help.out).toMatch(/TORCH_EXTENSIONS_DIR/);
    const info = python(['-m', 'grat_flux_grat_b', 'info', '--json'], { path: [open] });
    expect(JSON.parse(info.out)).toMatchObject({ PATTERN: 'flux_grat_b', GRID: [null, null], TOKENS: null, RUNTIME_LIMITS: OPEN_RUNTIME });
    const build = python(['-m', 'grat_flux_grat_b', 'build', '--arch', 'sm80'], { path: [fixed], env: { TORCH_EXTENSIONS_DIR: join(dir, 'ext') } });
    expect(build.code).toBe(1);
    expect(build.out).toMatch(/^grat_flux_grat_b_[0-9a-f]{12}: building the sm80 kernel failed: stub build failed\n$/);
    const none = python(['-m', 'grat_flux_grat_b', 'build'], { path: [fixed] });
    expect(none.out).toMatch(/no CUDA device to pick an arch for: pass --arch/);
    expect(python(['-m', 'grat_flux_grat_b'], { path: [fixed] }).code).toBe(2);
  });
});

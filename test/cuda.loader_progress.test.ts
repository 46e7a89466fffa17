/**
 * The generated Python package's first build (30-60 s of nvcc) shows a line with the elapsed time
 * on stderr when stderr is a terminal, cleared when the build ends; nothing in a pipe, with
 * GRAT_QUIET=1, or when the library is already built. torch is the stub of test/support/stub_torch,
 * whose cpp_extension.load sleeps like a short build (STUB_BUILD_SECONDS) and then fails (no GPU or
 * nvcc needed); the terminal is a pseudo-terminal from script(1).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { ROOT, tempDir } from './support/cli.js';

const dir = tempDir();
let module = '';

const STUB = join(ROOT, 'test', 'support', 'stub_torch');

beforeAll(() => {
  const { ir, diagnostics } = checkSource(readFileSync(join(ROOT, 'examples', 'cuda_dit_b.grat'), 'utf8'), { defaultName: 'cuda_dit_b' });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  const r = emitCuda(ir);
  for (const f of r.files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.contents);
  }
  module = r.info.module as string;
  writeFileSync(join(dir, 'first_build.py'), [
    'import sys',
    `import ${module} as grat`,
    'try:',
    '    grat.load_library(arch="sm80")',
    'except RuntimeError as e:',
    '    print("build ended:", e)',
  ].join('\n'));
});

function python(tty: boolean, env: Record<string, string> = {}): string {
  const opts = { cwd: dir, encoding: 'utf8' as const, env: { ...process.env, PYTHONPATH: STUB, STUB_BUILD_SECONDS: '2.5', TORCH_EXTENSIONS_DIR: join(dir, 'cache'), GRAT_QUIET: '', ...env } };
  const r = tty
    ? spawnSync('script', ['-qec', 'python3 first_build.py', '/dev/null'], opts)
    : spawnSync('python3', ['first_build.py'], opts);
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  return `${r.stdout}${r.stderr}`;
}

describe('the loader\'s first build', () => {
  it('on a terminal: a line naming the build and its elapsed seconds, cleared at the end', () => {
    const out = python(true);
    expect(out).toMatch(/build ended: stub build failed/);
    expect(out).toMatch(new RegExp(`\\r${module}_[0-9a-f]+: building the sm80 kernel with nvcc \\(first use; cached in [^)]*\\) \\(0 s\\)\\u001b\\[K`));
    expect(out).toMatch(/\(2 s\)\u001b\[K/);
    expect(out).toMatch(/\r\u001b\[K[^\r]*build ended/);
  });

  it('nothing in a pipe, with GRAT_QUIET=1, or once the library is built', () => {
    expect(python(false)).not.toMatch(/building|\r|\u001b/);
    expect(python(true, { GRAT_QUIET: '1' })).not.toMatch(/building/);
    // the build folder now exists: put the library where torch would
    const cache = join(dir, 'cache');
    const kernelDir = readdirSync(cache).find((d) => d.startsWith(module))!;
    const hashDir = readdirSync(join(cache, kernelDir))[0];
    writeFileSync(join(cache, kernelDir, hashDir, `${kernelDir}.so`), '');
    expect(python(true)).not.toMatch(/building/);
  });
});

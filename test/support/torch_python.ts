/**
 * The Python with real (CPU) PyTorch that tests run the generated CUDA package on: GRAT_TORCH_PYTHON,
 * else .venv-torch/bin/python (scripts/torch-venv.sh makes it; scripts/test.sh runs that first).
 * In CI (CI set) a missing one is an error, so these tests cannot pass by being skipped; elsewhere
 * they skip with a warning.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export type TorchPython = { readonly python: string } | { readonly missing: string };

const inCi = (): boolean => !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

let found: TorchPython | undefined;

/** The interpreter, or why there is none (checked once per test file: `import torch, numpy`). */
export function torchPython(): TorchPython {
  if (found) return found;
  const python = process.env.GRAT_TORCH_PYTHON || join(ROOT, '.venv-torch', 'bin', 'python');
  const from = process.env.GRAT_TORCH_PYTHON ? 'GRAT_TORCH_PYTHON' : '.venv-torch/ (bash scripts/torch-venv.sh makes it)';
  if (!existsSync(python)) return (found = { missing: `no ${python}: ${from}` });
  const r = spawnSync(python, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return (found = { missing: `${python} (${from}) cannot import torch and numpy: ${(r.stderr || String(r.error)).trim().split('\n').pop()}` });
  return (found = { python });
}

/**
 * The interpreter for a test that needs it; null (after a warning) where it may be skipped, i.e.
 * outside CI. In CI it throws: the test fails instead of being skipped.
 */
export function torchPythonOrSkip(): string | null {
  const t = torchPython();
  if ('python' in t) return t.python;
  if (inCi()) throw new Error(`real torch is required in CI: ${t.missing}`);
  console.warn(`skipping the real-torch tests: ${t.missing}`);
  return null;
}

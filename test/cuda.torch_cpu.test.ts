/**
 * The CUDA target's Python package on real PyTorch (CPU; no GPU, no nvcc): emitted as
 * test/cuda.package.test.ts emits it, for a pattern compiled at a fixed grid and one whose grid
 * and text count are taken at run time, then test/support/torch_checks.py registers a float64 CPU
 * kernel for its ops that reads compiler/reference.ts's denseMask (written here as .npy) and runs
 * torch.library.opcheck (the backward op too), attention() and its gradients (float64 autograd of
 * the masked attention), a plugged two-block transformer trained and run eager and under
 * torch.compile(fullgraph=True) (backends "eager" and "aot_eager"): no graph breaks, compiled ==
 * eager == the float64 reference, counts, policy, strict mode and run-time grids under compile.
 * The interpreter: test/support/torch_python.ts (in CI a missing one fails the test).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource, type CheckOptions } from '../compiler/index.js';
import { denseMask } from '../compiler/reference.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { toNpy } from '../runtime/onnx/npy.js';
import { ROOT, tempDir } from './support/cli.js';
import { torchPythonOrSkip } from './support/torch_python.js';

const CHECKS = join(ROOT, 'test', 'support', 'torch_checks.py');

/** Small and ragged: 2x2 groups over grids that do not divide by 2, a few text tokens. */
const pattern = (name: string, text: string): string => `pattern ${name}
grid   h=? w=?
group  h=2 w=2
order  raster
text   ${text}
image attends neighbors(1) + text
text  attends all
head_dim 64
dtype    bf16
`;

function ir(src: string, opts: CheckOptions) {
  const { ir: r, diagnostics } = checkSource(src, opts);
  if (!r) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return r;
}

/** The package folder of `src` compiled with `opts`, and masks/<h>_<w>_<text>_<valid>.npy at each size. */
function prepare(dir: string, src: string, opts: CheckOptions, sizes: readonly (readonly [number, number, number])[]): void {
  const r = emitCuda(ir(src, opts));
  expect(r.files.length, r.diagnostics.map((d) => d.message).join('; ')).toBeGreaterThan(0);
  for (const f of r.files) {
    mkdirSync(dirname(join(dir, 'pkg', f.path)), { recursive: true });
    writeFileSync(join(dir, 'pkg', f.path), f.contents);
  }
  mkdirSync(join(dir, 'masks'));
  for (const [h, w, t] of sizes) {
    const at = ir(src, { grid: [h, w], text: t });
    const n = h * w + t;
    for (let valid = 0; valid <= t; valid++) {
      writeFileSync(join(dir, 'masks', `${h}_${w}_${t}_${valid}.npy`), toNpy({ dtype: 'uint8', shape: [n, n], data: denseMask(at, valid) }));
    }
  }
}

const CASES = [
  { mode: 'fixed', name: 'tiny_fixed', text: '3 before', opts: { grid: [7, 6] }, sizes: [[7, 6, 3]] },
  { mode: 'open', name: 'tiny_open', text: '? after', opts: { runtimeSizes: true }, sizes: [[6, 8, 2], [5, 7, 4]] },
] as const;

describe('the CUDA package on real torch (CPU)', () => {
  for (const c of CASES) {
    it(`${c.mode} sizes: opcheck, attention vs the reference, a plugged model eager and compiled`, (ctx) => {
      const python = torchPythonOrSkip();
      if (!python) return ctx.skip();
      const dir = tempDir();
      const src = pattern(c.name, c.text);
      prepare(dir, src, c.opts as CheckOptions, c.sizes);
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ folder: join(dir, 'pkg'), module: `grat_${c.name}`, mode: c.mode, masks: join(dir, 'masks'), sizes: c.sizes }));
      const r = spawnSync(python, [CHECKS, config], {
        cwd: dir, encoding: 'utf8', timeout: 120_000,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', TORCH_EXTENSIONS_DIR: join(dir, 'ext'), OMP_NUM_THREADS: '1' },
      });
      const out = `${r.stdout}${r.stderr}`;
      expect(out, out).toMatch(/^ok 18$/m);  // every check ran (fixed sizes skip the run-time grid one)
      expect(r.status, out).toBe(0);
    }, 150_000);
  }
});

/**
 * The README's "Use it in your pipeline" section runs as written: its ```python snippets (after
 * `<!-- pipeline:NAME -->` markers) in order against a compiled package with the grid left open
 * and the stub torch (test/support/readme_snippets.py gives them a Flux-shaped model), and its
 * install block's commands (gratc compile for real; the build command against the stub). On a GPU,
 * bench/cuda/pipeline_check.py runs the same snippets with torch. GRAT_PIPELINE_DOC points the test
 * at another file holding the section (a draft before it is merged).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { emitSpec, planKernel, type KernelSpec } from '../codegen/cuda/index.js';
import { MAIN, ROOT, tempDir } from './support/cli.js';

const DOC = process.env.GRAT_PIPELINE_DOC ?? join(ROOT, 'README.md');
const text = readFileSync(DOC, 'utf8');
const blocks = [...text.matchAll(/<!-- pipeline:([a-z-]+) -->\n```(\w+)\n([^]*?)```/g)].map((m) => ({ name: m[1], lang: m[2], code: m[3] }));
const STUB = join(ROOT, 'test', 'support', 'stub_torch');
const dir = tempDir();

/** flux_grat_b as the compiler emits it with the grid left open: run-time h and w, the text fixed at 512. */
function openPackage(): string {
  const { ir } = checkSource(readFileSync(join(ROOT, 'examples', 'flux_grat_b.grat'), 'utf8'), { runtimeSizes: true });
  const s = planKernel(ir!).spec!;
  // (at smaller limits than the compiler's: 256 x 256)
  const spec: KernelSpec = {
    ...s,
    dims: s.dims.map((d) => ({ ...d, size: { kind: 'runtime', max: 256 } })),
    runtime: { dims: [true, true], text: false, max: { dims: [256, 256], text: 512, tokens: 256 * 256 + 512, groups: 256 } },
  };
  const out = join(dir, 'flux');
  for (const f of emitSpec(spec)) {
    mkdirSync(dirname(join(out, f.path)), { recursive: true });
    writeFileSync(join(out, f.path), f.contents);
  }
  return out;
}

describe.skipIf(blocks.length === 0)(`the pipeline section of ${DOC}`, () => {
  it('has the install, attention, plug, policy and compile snippets', () => {
    expect(blocks.map((b) => b.name)).toEqual(['install', 'attention', 'plug', 'policy', 'compile']);
  });

  it('its Python snippets run in order (stub torch, a Flux-shaped model)', () => {
    const r = spawnSync('python3', [join(ROOT, 'test', 'support', 'readme_snippets.py'), DOC], {
      cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONPATH: [STUB, openPackage()].join(':') },
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const last = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ran: string[]; stats: { taken: number; passed: Record<string, number> }; blocks: string[] };
    expect(last.ran).toEqual(['attention', 'plug', 'policy', 'compile']);
    // the policy's plug, over 3 compiled steps of 4 blocks: steps 0 and 1 dense, then 2 of 4 blocks dense by layer
    expect(last.blocks).toEqual(['transformer_blocks.0', 'transformer_blocks.1', 'single_transformer_blocks.0', 'single_transformer_blocks.1']);
    expect(last.stats).toEqual({ taken: 2, passed: { layer: 6, step: 4 } });
  });

  it('its install block: gratc compile writes the package; the build command exists', () => {
    const lines = blocks.find((b) => b.name === 'install')!.code.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
    expect(lines[0]).toBe('npx gratc compile examples/flux_grat_b.grat --target cuda --out build/flux');
    expect(lines[1]).toBe('pip install build/flux'); // run on the GPU machine by bench/cuda/pipeline_check.py
    expect(lines[2]).toBe('python -m grat_flux_grat_b build --arch all');
    const out = join(dir, 'build', 'flux');
    const c = spawnSync(process.execPath, [MAIN, ...lines[0].split(' ').slice(2, -1), out], { cwd: ROOT, encoding: 'utf8' });
    if (/E0301/.test(c.stderr)) {
      console.warn('gratc does not compile run-time grids yet (E0301): the install block is pending');
      return;
    }
    expect(c.status, c.stderr).toBe(0);
    expect(existsSync(join(out, 'pyproject.toml')) && existsSync(join(out, 'grat_flux_grat_b', '__init__.py'))).toBe(true);
    const b = spawnSync('python3', ['-m', 'grat_flux_grat_b', 'build', '--arch', 'all'], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, PYTHONPATH: [STUB, out].join(':'), TORCH_EXTENSIONS_DIR: join(dir, 'ext') },
    });
    expect(b.stderr).toMatch(/building the sm80 kernel failed: stub build failed/);
  });
});

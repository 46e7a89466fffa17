/**
 * examples/finetune/finetune_dit.py's logic on real PyTorch (CPU; no GPU, no nvcc), at a tiny size: the
 * example's own pattern file (examples/finetune/finetune_dit_b.grat) emitted as test/cuda.package.test.ts
 * emits it, bound to a ragged 26x18 grid (4x3 groups of 8x8, the last row and column cut short), and its ops given float64 CPU
 * kernels that read compiler/reference.ts's denseMask (test/support/finetune_smoke.py). The example
 * then trains the same model from the same state on the same batches with the dense-masked SDPA
 * reference (its mask from bench/pipeline/masks.py) and through the package's plug (strict), and
 * with plain SDPA: the JSON must show every step's loss and time, every attention call taken by the
 * plug, the forward and backward kernels called, and step 0 agreeing with the reference (loss and
 * the whole gradient). The same run with the CPU kernel given a wrong mask must report a difference
 * (the comparison can fail). Also: --help and argument errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { denseMask } from '../compiler/reference.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { toNpy } from '../runtime/onnx/npy.js';
import { ROOT, tempDir } from './support/cli.js';
import { torchPythonOrSkip } from './support/torch_python.js';

const SMOKE = join(ROOT, 'test', 'support', 'finetune_smoke.py');
const EXAMPLE = join(ROOT, 'examples', 'finetune', 'finetune_dit.py');
const GRID = [26, 18] as const;
const TEXT = 32;
const STEPS = 5;
const DEPTH = [1, 1] as const;

/** The package (bound to GRID) and the reference's mask at every valid count. */
function prepare(dir: string): { pkg: string; masks: string } {
  const src = readFileSync(join(ROOT, 'examples', 'finetune', 'finetune_dit_b.grat'), 'utf8');
  const { ir, diagnostics } = checkSource(src, { grid: [...GRID] });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  expect(ir.text?.count).toBe(TEXT);
  const r = emitCuda(ir);
  expect(r.files.length, r.diagnostics.map((d) => d.message).join('; ')).toBeGreaterThan(0);
  const pkg = join(dir, 'pkg');
  for (const f of r.files) {
    mkdirSync(dirname(join(pkg, f.path)), { recursive: true });
    writeFileSync(join(pkg, f.path), f.contents);
  }
  const masks = join(dir, 'masks');
  mkdirSync(masks);
  const n = GRID[0] * GRID[1] + TEXT;
  for (let valid = 0; valid <= TEXT; valid++) {
    writeFileSync(join(masks, `${GRID[0]}_${GRID[1]}_${TEXT}_${valid}.npy`), toNpy({ dtype: 'uint8', shape: [n, n], data: denseMask(ir, valid) }));
  }
  return { pkg, masks };
}

function smoke(python: string, dir: string, prep: { pkg: string; masks: string }, name: string, wrongMask = false) {
  const out = join(dir, name);
  const args = ['--device', 'cpu', '--grid', GRID.join('x'), '--width', '128', '--heads', '2', '--depth', DEPTH.join(','),
    '--batch', '3', '--steps', String(STEPS), '--warmup', '1', '--methods', 'masked,gratc,dense', '--out', out, prep.pkg];
  const config = join(dir, `${name}.json`);
  writeFileSync(config, JSON.stringify({ package: prep.pkg, module: 'grat_finetune_dit_b', masks: prep.masks, args, wrong_mask: wrongMask }));
  const r = spawnSync(python, [SMOKE, config], {
    cwd: dir, encoding: 'utf8', timeout: 240_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', TORCH_EXTENSIONS_DIR: join(dir, 'ext'), OMP_NUM_THREADS: '1' },
  });
  const log = `${r.stdout}${r.stderr}`;
  return { status: r.status, log, json: JSON.parse(readFileSync(join(out, 'finetune.json'), 'utf8')) };
}

describe('examples/finetune/finetune_dit.py (CPU smoke run)', () => {
  it('trains masked, gratc (through the plug) and dense; gratc matches the masked reference at step 0', (ctx) => {
    const python = torchPythonOrSkip();
    if (!python) return ctx.skip();
    const dir = tempDir();
    const prep = prepare(dir);
    const { status, log, json } = smoke(python, dir, prep, 'right');
    expect(status, log).toBe(0);
    expect(json.config).toMatchObject({ pattern: 'finetune_dit_b', grid: '26x18', text: TEXT, tokens: 26 * 18 + TEXT, head_dim: 64, steps: STEPS, batch: 3 });
    for (const m of ['masked', 'gratc', 'dense']) {
      const rec = json.methods[m];
      expect(rec.error, `${m}: ${log}`).toBeUndefined();
      expect(rec.losses).toHaveLength(STEPS);
      expect(rec.step_ms).toHaveLength(STEPS);
      for (const l of rec.losses) expect(Number.isFinite(l) && l > 0).toBe(true);
      expect(rec.median_step_ms).toBeGreaterThan(0);
    }
    // the plug took every attention call (strict: none may run dense); the CPU kernels ran both ways
    const calls = STEPS * (DEPTH[0] + DEPTH[1]);
    expect(json.methods.gratc.plug.stats).toEqual({ taken: calls, passed: {} });
    expect(json.methods.gratc.plug.all_taken).toBe(true);
    expect(log).toMatch(new RegExp(`cpu kernel calls: \\{"forward": ${calls}, "backward": ${calls}\\}`));
    // step 0: same weights, same batch: only rounding differs (bf16 activations)
    const c = json.comparison.gratc;
    expect(c.agree_step0, JSON.stringify(c)).toBe(true);
    expect(c.loss0_rel_diff).toBeLessThan(1e-2);
    for (const key of ['out', 'dq', 'dk', 'dv']) expect(c[`attn0_${key}_rel_l2`], key).toBeLessThan(2e-2);
    expect(c.grad0_rel_l2).toBeLessThan(2e-2);
    expect(c.grad0_cos).toBeGreaterThan(0.999);
    // same data per step: the losses of the first steps follow each other closely
    const a = json.methods.gratc.losses, r = json.methods.masked.losses;
    for (let i = 0; i < STEPS; i++) expect(Math.abs(a[i] - r[i]) / r[i], `step ${i}`).toBeLessThan(3e-2);
    // dense (no mask) is another attention: its first call differs from the reference's by far more
    expect(json.comparison.dense.attn0_out_rel_l2).toBeGreaterThan(10 * c.attn0_out_rel_l2);
    expect(json.comparison.dense.agree_step0).toBe(false);
    expect(json.notes.join(' ') + log).toMatch(/finetune_loss\.png|matplotlib not installed/);
  }, 300_000);

  it('reports a difference when the kernel computes another pattern (the comparison can fail)', (ctx) => {
    const python = torchPythonOrSkip();
    if (!python) return ctx.skip();
    const dir = tempDir();
    const prep = prepare(dir);
    // the CPU kernel attends to every key (full attention, padding included)
    const { status, log, json } = smoke(python, dir, prep, 'wrong', true);
    expect(status, log).toBe(1);
    expect(json.comparison.gratc.agree_step0, JSON.stringify(json.comparison.gratc)).toBe(false);
    expect(log).toMatch(/DIFFERS/);
  }, 300_000);

  it('--help, and argument errors name the argument', (ctx) => {
    const python = torchPythonOrSkip();
    if (!python) return ctx.skip();
    const help = spawnSync(python, [EXAMPLE, '--help'], { encoding: 'utf8', cwd: ROOT });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/--methods/);
    for (const [args, what] of [[['--methods', 'gratc,sparse'], /--methods: unknown \['sparse'\]/], [['--grid', '48'], /grid must be HxW/],
      [['--depth', '2'], /--depth must be two counts/], [['--width', '100', '--heads', '3'], /must divide by --heads/]] as const) {
      const r = spawnSync(python, [EXAMPLE, ...args], { encoding: 'utf8', cwd: ROOT });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(what);
    }
  }, 120_000);
});

/**
 * Writes what bench/cuda/pipeline_check.py needs on the device machine (it has no Node) under
 * .gen/pipeline/:
 *   fixed/        flux_grat_b compiled at grid 20x36 (the folder `gratc compile` writes: pyproject.toml
 *                 and grat_flux_grat_b/)
 *   open/, open3/ flux_grat_b and hunyuan_grat_b compiled with their grids left `?` (run-time
 *                 sizes, CONTRACT.md), where the compiler emits them; else the reason
 *   masks/        dense masks from compiler/reference.ts (numpy packbits order), per grid and valid
 *                 text length: the definition the kernels are checked against, ragged grids included
 *   pipeline.json what was written
 * Usage: npm run build && node dist/bench/cuda/pipeline_cases.js [OUT (default .gen/pipeline)]
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { checkSource } from '../../compiler/index.js';
import { totalTokens, type PatternIR } from '../../compiler/ir.js';
import { denseMask } from '../../compiler/reference.js';
import { emitCuda } from '../../codegen/cuda/index.js';
import { emitCase, loadPattern } from './emit.js';

const ROOT = process.argv[2] ?? '.gen/pipeline';

function packBits(m: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.ceil(m.length / 8));
  for (let i = 0; i < m.length; i++) if (m[i]) out[i >> 3] |= 0x80 >> (i & 7); // numpy packbits order
  return out;
}

/** A `gratc compile` of the file with its sizes left open: the folder, or why there is none. */
function emitOpen(file: string, name: string): Record<string, unknown> {
  // runtimeSizes: `?` sizes are taken at launch (CONTRACT.md); a compiler without them says E0301
  const options = { defaultName: basename(file, '.grat'), runtimeSizes: true };
  const { ir, diagnostics } = checkSource(readFileSync(file, 'utf8'), options);
  const why = (ds: readonly { code: string; message: string }[]): string => ds.map((d) => `${d.code} ${d.message}`).join('; ');
  if (!ir) return { error: why(diagnostics) };
  const r = emitCuda(ir);
  if (r.files.length === 0) return { error: why(r.diagnostics) };
  const dir = join(ROOT, name);
  for (const f of r.files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.contents);
  }
  return { dir, module: r.info.module };
}

function main(): void {
  rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(join(ROOT, 'masks'), { recursive: true });
  const flux = loadPattern('examples/flux_grat_b.grat', [20, 36]);
  const hunyuan = loadPattern('examples/hunyuan_grat_b.grat', [5, 20, 12]);
  const masks: Record<string, unknown>[] = [];
  const mask = (pattern: string, ir: PatternIR, valid: number): void => {
    const file = join(ROOT, 'masks', `${pattern}_${ir.dims.map((d) => d.size).join('x')}_v${valid}.bin`);
    writeFileSync(file, packBits(denseMask(ir, valid)));
    masks.push({ pattern, grid: ir.dims.map((d) => d.size), text: ir.text?.count ?? 0, valid, tokens: totalTokens(ir), file });
  };
  // ragged grids (16x16 groups: 20 and 36 leave partial groups; 13x50 and 33x17 more so; 1x1 is one token)
  for (const grid of [[20, 36], [13, 50], [33, 17], [1, 1]]) {
    const ir = { ...flux, dims: flux.dims.map((d, i) => ({ ...d, size: grid[i], groups: Math.ceil(grid[i] / d.group) })) };
    for (const v of [0, 77, 512]) mask('flux_grat_b', ir, v);
  }
  for (const v of [0, 77]) mask('hunyuan_grat_b', hunyuan, v); // groups 4x8x8: ragged along t and w
  const out = {
    fixed: { dir: emitCase(ROOT, 'fixed', flux), module: 'grat_flux_grat_b', grid: [20, 36], text: 512 },
    open: emitOpen('examples/flux_grat_b.grat', 'open'),
    open3: emitOpen('examples/hunyuan_grat_b.grat', 'open3'),
    masks,
  };
  writeFileSync(join(ROOT, 'pipeline.json'), JSON.stringify(out, null, 1));
  console.log(`wrote ${ROOT}: fixed, open ${'error' in out.open ? `(none: ${String(out.open.error)})` : ''}, ${masks.length} masks`);
}

if (process.argv[1] && process.argv[1].endsWith('pipeline_cases.js')) main();

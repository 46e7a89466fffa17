/**
 * Emits CUDA kernels for device runs (the device machine has no Node): one folder per case under
 * an output root, each with the backend's files. Usage (after `tsc`):
 *   node dist/bench/cuda/emit.js OUT_ROOT FILE.grat[:GRID[:TEXT]] ...
 * GRID is like 64x64; TEXT a text count; both bind `?` sizes. Folder name: the pattern + sizes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { checkSource } from '../../compiler/index.js';
import type { PatternIR } from '../../compiler/ir.js';
import { DEFAULT_SM90_VARIANT, emitCuda, emitSpec, planKernel, type Sm90Variant } from '../../codegen/cuda/index.js';

export function loadPattern(file: string, grid?: number[], text?: number): PatternIR {
  const { ir, diagnostics } = checkSource(readFileSync(file, 'utf8'), { grid, text, defaultName: basename(file, '.grat') });
  if (!ir) throw new Error(`${file}: ${diagnostics.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  return ir;
}

/** A case's files; `sm90` (bench A/B) builds another variant of the Hopper kernel (a field of the spec: another kernel name). */
export function emitCase(root: string, name: string, ir: PatternIR, sm90?: Partial<Sm90Variant>): string {
  const r = sm90 ? { ...emitCuda(ir), files: emitSpec(planKernel(ir, { ...DEFAULT_SM90_VARIANT, ...sm90 }).spec!) } : emitCuda(ir);
  if (r.files.length === 0) throw new Error(`${name}: ${r.diagnostics.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const f of r.files) { mkdirSync(dirname(join(dir, f.path)), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
  writeFileSync(join(dir, 'info.json'), JSON.stringify(r.info, null, 1));
  return dir;
}

if (process.argv[1] && process.argv[1].endsWith('emit.js')) {
  const [root, ...cases] = process.argv.slice(2);
  for (const c of cases) {
    const [file, g, t] = c.split(':');
    const grid = g ? g.split('x').map(Number) : undefined;
    const text = t ? Number(t) : undefined;
    const ir = loadPattern(file, grid, text);
    const name = `${ir.name}_${ir.dims.map((d) => d.size).join('x')}_t${ir.text?.count ?? 0}`;
    console.log(emitCase(root, name, ir));
  }
}

/**
 * Writes what bench/cuda/attn8_check.py needs (issue 20, precision int8) under .gen/cuda/int8/:
 *   <case>/  the package of planKernel(ir, variant, 'int8'): the 16-bit kernels plus the int8 sm_90a one
 *            (attention(precision="int8"))
 *   check cases: ragged small grids with their dense masks (compiler/reference.ts), one per valid text length
 *   bench cases: Flux 8192² (512 x 512 latent) and HunyuanVideo 720p (32 x 48 x 80), GRAT-B and X, raster and grouped
 *   manifest.json
 * Usage: npm run build && node dist/bench/cuda/int8_cases.js [--quick]   (--quick: no 8192² cases)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { denseMask } from '../../compiler/reference.js';
import { patternStats } from '../../compiler/stats.js';
import { DEFAULT_SM90_VARIANT, emitSpec, kernelName, planKernel } from '../../codegen/cuda/index.js';
import { loadPattern } from './emit.js';
import { withGrid, withOrder } from './cases.js';

const ROOT = '.gen/cuda/int8';

function packBits(m: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.ceil(m.length / 8));
  for (let i = 0; i < m.length; i++) if (m[i]) out[i >> 3] |= 0x80 >> (i & 7); // numpy packbits order
  return out;
}

/** A case's package (16-bit kernels and the int8 one); returns its folder and module name. */
function emitBoth(name: string, ir: PatternIR): { pkg: string; module: string; kernel: string } {
  const spec = planKernel(ir, DEFAULT_SM90_VARIANT, 'int8').spec!, dir = join(ROOT, name);
  for (const f of emitSpec(spec)) { mkdirSync(join(dir, f.path, '..'), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
  return { pkg: dir, module: `grat_${spec.pattern}`, kernel: kernelName(planKernel(ir).spec!) };
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const manifest: Record<string, unknown>[] = [];
  const fb = loadPattern('examples/flux_grat_b.grat', [64, 64]), fx = loadPattern('examples/flux_grat_x.grat', [64, 64]);
  const hb = loadPattern('examples/hunyuan_grat_b.grat', [32, 48, 80]), hx = loadPattern('examples/hunyuan_grat_x.grat', [32, 48, 80]);
  // checks: ragged grids (edge groups, short tiles), text valid < count and 0, both orders
  const checks: [string, PatternIR][] = [
    ['flux_b_ragged_raster', withGrid(fb, [21, 37])], ['flux_x_ragged_grouped', withOrder(withGrid(fx, [19, 40]), 'grouped')],
    ['hunyuan_b_ragged_raster', withGrid(hb, [5, 11, 18])], ['hunyuan_x_ragged_grouped', withOrder(withGrid(hx, [6, 9, 20]), 'grouped')],
  ];
  for (const [name, ir] of checks) {
    const e = emitBoth(`check_${name}`, ir);
    const count = ir.text?.count ?? 0, valids = [...new Set([0, Math.min(77, count), count])].filter((v) => v <= count);
    for (const v of valids) writeFileSync(join(ROOT, `check_${name}`, `mask_v${v}.bin.gz`), gzipSync(packBits(denseMask(ir, v))));
    manifest.push({ kind: 'check', name, dir: join(ROOT, `check_${name}`), ...e, tokens: totalTokens(ir), headDim: ir.headDim, scale: ir.scale, valids, grid: ir.dims.map((d) => d.size), text: count });
    console.log(`check ${name}: N=${totalTokens(ir)}`);
  }
  const bench: [string, string, PatternIR][] = [];
  for (const [pattern, base] of [['grat_b', fb], ['grat_x', fx]] as const) if (!quick) bench.push(['flux_8192', pattern, withGrid(base, [512, 512])]);
  for (const [pattern, base] of [['grat_b', hb], ['grat_x', hx]] as const) bench.push(['hunyuan_720p', pattern, base]);
  for (const [shape, pattern, ir] of bench) {
    for (const order of ['raster', 'grouped'] as const) {
      const o = withOrder(ir, order), name = `${shape}_${pattern}_${order}`, st = patternStats(o);
      const e = emitBoth(`bench_${name}`, o);
      manifest.push({ kind: 'bench', name, ...e, tokens: totalTokens(o), headDim: o.headDim, scale: o.scale, grid: o.dims.map((d) => d.size), group: o.dims.map((d) => d.group),
        text: o.text?.count ?? 0, textPlace: o.text?.place ?? null, shape, pattern, order, density: st.density, flopsPerHead: st.flopsPerHead });
      console.log(`bench ${name}: N=${totalTokens(o)} density=${st.density.toFixed(4)}`);
    }
  }
  mkdirSync(ROOT, { recursive: true });
  writeFileSync(join(ROOT, 'manifest.json'), JSON.stringify(manifest, null, 1));
}

if (process.argv[1] && process.argv[1].endsWith('int8_cases.js')) {
  try { main(); } catch (e) { console.error(`int8_cases: ${(e as Error).message}`); process.exit(1); }
}

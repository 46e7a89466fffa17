/**
 * Writes what bench/cuda/backward_check.py needs on the device machine (which has no Node) under
 * .gen/cuda_bwd/ (a few MB: carry it):
 *   pkg/<name>/        the CUDA packages, compiled with their `?` sizes left to launch (one kernel
 *                      serves every check size and the bench size)
 *   masks/<name>/<grid>_t<text>_v<valid>.bin   the dense mask of compiler/reference.ts at each
 *                      check size and valid text length (numpy packbits order, row = query)
 *   manifest.json      the check cases (sizes, per-sample valid lengths, dtypes) and the bench cases
 *                      (Flux 4096² GRAT-B/X in grouped order, their visible pairs for the FLOP count)
 * Usage: npx tsx bench/cuda/backward_cases.ts   (or node dist/bench/cuda/backward_cases.js after npm run build)
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../../compiler/index.js';
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { denseMask } from '../../compiler/reference.js';
import { patternStats } from '../../compiler/stats.js';
import { emitCuda } from '../../codegen/cuda/index.js';

const ROOT = '.gen/cuda_bwd';

const PRED64 = `pattern pred64
grid  h=? w=?
group h=4 w=4
order grouped
border shift
text  ? after
image attends neighbors(h=1, w=2) + where(kw >= nw - 1 && dh >= -1 && dh <= 0) + text
text  attends text
head_dim 64
dtype fp16
`;

interface Pkg { name: string; src: string; order?: 'raster' | 'grouped' }
const example = (f: string): string => readFileSync(join('examples', `${f}.grat`), 'utf8');
const PKGS: Pkg[] = [
  { name: 'flux_b_grouped', src: example('flux_grat_b'), order: 'grouped' },
  { name: 'flux_x_grouped', src: example('flux_grat_x'), order: 'grouped' },
  { name: 'flux_x_raster', src: example('flux_grat_x'), order: 'raster' },
  { name: 'hunyuan_x_raster', src: example('hunyuan_grat_x'), order: 'raster' },
  { name: 'pred64', src: PRED64 },
];

/** Check sizes per package: [...grid, text]; valid lengths: all, and per sample (some, 0). */
const CHECKS: Record<string, number[][]> = {
  flux_b_grouped: [[37, 53, 512], [16, 16, 512]],
  flux_x_raster: [[29, 40, 512]],
  hunyuan_x_raster: [[3, 18, 20, 256]],
  pred64: [[13, 22, 7], [1, 1, 0], [5, 9, 33]],
};
const BENCH = [
  { name: 'flux4096_grat_b', pkg: 'flux_b_grouped', pattern: 'grat_b', grid: [256, 256], text: 512 },
  { name: 'flux4096_grat_x', pkg: 'flux_x_grouped', pattern: 'grat_x', grid: [256, 256], text: 512 },
];

function ir(src: string, opts: { runtimeSizes?: boolean; grid?: number[]; text?: number }, order?: 'raster' | 'grouped'): PatternIR {
  const r = checkSource(src, opts);
  if (!r.ir) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('; '));
  return order ? { ...r.ir, order } : r.ir;
}

function packBits(m: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.ceil(m.length / 8));
  for (let i = 0; i < m.length; i++) if (m[i]) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

const validsOf = (text: number): { all: number; perSample: number[] } => ({ all: text, perSample: [Math.floor((text * 3) / 5), 0] });

rmSync(ROOT, { recursive: true, force: true });
const manifest: { checks: unknown[]; bench: unknown[] } = { checks: [], bench: [] };
const kernels: Record<string, { module: string; kernel: string }> = {};
for (const p of PKGS) {
  const e = emitCuda(ir(p.src, { runtimeSizes: true }, p.order));
  if (e.files.length === 0) throw new Error(`${p.name}: ${e.diagnostics.map((d) => d.message).join('; ')}`);
  const dir = join(ROOT, 'pkg', p.name);
  for (const f of e.files) { mkdirSync(join(dir, f.path, '..'), { recursive: true }); writeFileSync(join(dir, f.path), f.contents); }
  kernels[p.name] = { module: e.info.module as string, kernel: e.info.kernel as string };
  const sizes = CHECKS[p.name] ?? [];
  for (const s of sizes) {
    const grid = s.slice(0, -1), text = s[s.length - 1];
    const at = ir(p.src, { grid, text }, p.order);
    const v = validsOf(text), mdir = join(ROOT, 'masks', p.name);
    mkdirSync(mdir, { recursive: true });
    for (const valid of new Set([v.all, ...v.perSample])) {
      writeFileSync(join(mdir, `${grid.join('x')}_t${text}_v${valid}.bin`), packBits(denseMask(at, valid)));
    }
    manifest.checks.push({ name: `${p.name}_${grid.join('x')}_t${text}`, pkg: p.name, dir: join(ROOT, 'pkg', p.name), ...kernels[p.name], grid, text,
      tokens: totalTokens(at), headDim: at.headDim, scale: at.scale, valid: v, masks: mdir, dtypes: p.name === 'pred64' ? ['float16', 'bfloat16'] : ['bfloat16'] });
  }
}
for (const b of BENCH) {
  const p = PKGS.find((x) => x.name === b.pkg)!;
  const at = ir(p.src, { grid: b.grid, text: b.text }, p.order);
  const st = patternStats(at);
  manifest.bench.push({ ...b, dir: join(ROOT, 'pkg', b.pkg), ...kernels[b.pkg], tokens: st.tokens, group: at.dims.map((d) => d.group), order: at.order,
    textPlace: at.text?.place ?? null, headDim: at.headDim, scale: at.scale, visiblePairs: st.visiblePairs, density: st.density });
}
writeFileSync(join(ROOT, 'manifest.json'), JSON.stringify(manifest, null, 1));
console.log(`wrote ${ROOT}: ${PKGS.length} packages, ${manifest.checks.length} check cases, ${manifest.bench.length} bench cases`);

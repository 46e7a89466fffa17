/**
 * Random CUDA check cases from the same generator the vitest cross-backend properties use
 * (arb_pattern.ts): 1-D/2-D/3-D ragged grids, group shapes, radii, crisscross forms,
 * predicates, text before/after/none, `?` sizes bound from outside, valid length 0..count, head_dim
 * 64/128, bf16/fp16. Each case gets a folder under .gen/cuda/check/random_<i>/ with
 *   pattern.grat    the .grat text as generated
 *   bindings.json   {grid, text, valid, flags} (the `?` bindings and the run-time valid length)
 *   the backend's files, and mask_v<valid>.bin (packed dense masks from compiler/reference.ts)
 * and an entry in .gen/cuda/manifest.json (kind 'check', as cases.ts writes them; earlier
 * random_ entries are replaced, the others kept), so bench/cuda/run.py checks them like the rest.
 *
 * It lives under test/ because the generator needs fast-check (a devDependency): dist/ never
 * ships it. Usage (the device machine has no Node):
 *   node dist/bench/cuda/cases.js --quick            # optional: the fixed cases
 *   npx tsx test/support/cuda_random_cases.ts [--n 40] [--seed S] [--max-tokens 600]
 *   CHECKS=all SELECT=random_ PYTHONUNBUFFERED=1 OUT=/tmp/out python3 bench/cuda/run.py build check
 * The seed is printed and stored in .gen/cuda/random_seed.json: rerun with --seed to reproduce.
 */
import fc from 'fast-check';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../../compiler/index.js';
import { totalTokens } from '../../compiler/ir.js';
import { denseMask, DENSE_MASK_MAX_TOKENS } from '../../compiler/reference.js';
import { kernelName, planKernel } from '../../codegen/cuda/spec.js';
import { arbPattern, toPattern } from './arb_pattern.js';
import { emitCase } from '../../bench/cuda/emit.js';

const ROOT = '.gen/cuda';

function packBits(m: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.ceil(m.length / 8));
  for (let i = 0; i < m.length; i++) if (m[i]) out[i >> 3] |= 0x80 >> (i & 7); // numpy packbits order
  return out;
}

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name} takes a non-negative integer`);
  return v;
}

export function writeRandomCases(n: number, seed: number, maxTokens: number): Record<string, unknown>[] {
  const patterns = fc.sample(arbPattern({ maxTokens, maxText: Math.min(80, maxTokens >> 2), headDims: [64, 128], dtypes: ['bf16', 'fp16'] }), { numRuns: n, seed });
  const entries: Record<string, unknown>[] = [];
  patterns.forEach((p, i) => {
    const name = `random_${String(i).padStart(3, '0')}`;
    const t = toPattern(p);
    const { ir, diagnostics } = checkSource(t.source, { grid: t.grid, text: t.text, defaultName: name });
    if (!ir) throw new Error(`${name}: the generator produced an invalid pattern (seed ${seed}):\n${t.source}${diagnostics.map((d) => d.message).join('\n')}`);
    const plan = planKernel(ir);
    if (!plan.spec) throw new Error(`${name}: the CUDA backend refused a valid pattern (seed ${seed}): ${plan.diagnostics.map((d) => d.message).join('; ')}\n${t.source}`);
    const N = totalTokens(ir);
    if (N > DENSE_MASK_MAX_TOKENS) throw new Error(`${name}: ${N} tokens is too many for a dense mask`);
    const dir = join(ROOT, 'check', name);
    rmSync(dir, { recursive: true, force: true });
    emitCase(join(ROOT, 'check'), name, ir);
    writeFileSync(join(dir, 'pattern.grat'), t.source);
    const count = ir.text?.count ?? 0;
    const valids = [...new Set([p.valid, 0, count])].filter((v) => v <= count).sort((a, b) => a - b);
    writeFileSync(join(dir, 'bindings.json'), `${JSON.stringify({ grid: t.grid ?? null, text: t.text ?? null, flags: t.flags, valid: p.valid, valids, seed, index: i }, null, 1)}\n`);
    for (const v of valids) writeFileSync(join(dir, `mask_v${v}.bin`), packBits(denseMask(ir, v)));
    entries.push({
      kind: 'check', name, dir, module: `grat_${plan.spec.pattern}`, kernel: kernelName(plan.spec), tokens: N, headDim: ir.headDim, scale: ir.scale,
      valids, grid: ir.dims.map((d) => d.size), text: count, tiling: plan.spec.tiling, random: { seed, index: i },
    });
  });
  return entries;
}

function main(): void {
  const n = flag('--n', 40);
  const seed = flag('--seed', Date.now() % 2 ** 31);
  const maxTokens = flag('--max-tokens', 600);
  console.log(`random CUDA check cases: n=${n} seed=${seed} (reproduce with --seed ${seed})`);
  const entries = writeRandomCases(n, seed, maxTokens);
  mkdirSync(ROOT, { recursive: true });
  const mpath = join(ROOT, 'manifest.json');
  const old = existsSync(mpath) ? (JSON.parse(readFileSync(mpath, 'utf8')) as { name: string }[]) : [];
  writeFileSync(mpath, JSON.stringify([...old.filter((c) => !c.name.startsWith('random_')), ...entries], null, 1));
  writeFileSync(join(ROOT, 'random_seed.json'), `${JSON.stringify({ n, seed, maxTokens }, null, 1)}\n`);
  for (const e of entries) console.log(`check ${String(e.name)}: N=${String(e.tokens)} grid=${JSON.stringify(e.grid)} text=${String(e.text)} valids=${JSON.stringify(e.valids)}`);
}

if (process.argv[1] && process.argv[1].endsWith('cuda_random_cases.ts')) main();

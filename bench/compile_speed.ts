/**
 * How long "compiling" a pattern takes in-process, from .grat text to what a kernel iterates:
 *   check   text → checked PatternIR (the closed form; what backends consume)
 *   keys    + every query group's key groups and token runs, enumerated once (what the ONNX
 *           lowering and the stats need; kernels compute the same on the fly)
 *   emit    + each registered backend's emit (code text), where backends are present
 * FlexAttention needs seconds to build its block mask for the same pattern (shared/GRAT.md).
 * Usage: npx tsx bench/compile_speed.ts [--json] [--out bench/results/compile_speed.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { checkSource } from '../compiler/check.js';
import { groupCount } from '../compiler/ir.js';
import { KeyGroupEnumerator, runsOfGroups } from '../compiler/keys.js';
import { knownBackends } from '../codegen/all.js';
import { examplePath } from '../runtime/paths.js';

interface Case { readonly example: string; readonly grid: number[] }
const CASES: Case[] = [
  { example: 'flux_grat_b', grid: [512, 512] },
  { example: 'flux_grat_x', grid: [512, 512] },
  { example: 'hunyuan_grat_b', grid: [32, 48, 80] },
  { example: 'hunyuan_grat_x', grid: [32, 48, 80] },
];


const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeIt(fn: () => void, reps: number): number {
  fn(); // warm-up: JIT and the parser's one-time grammar analysis stay out of the numbers
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); fn(); ts.push(performance.now() - t0); }
  return median(ts);
}

// The very first check in a process also pays the parser's one-time grammar analysis.
const coldStart = performance.now();
checkSource(readFileSync(examplePath('flux_grat_b.grat'), 'utf8'), { grid: [512, 512] });
const coldCheckMs = +(performance.now() - coldStart).toFixed(2);

const rows = CASES.map(({ example, grid }) => {
  const src = readFileSync(examplePath(`${example}.grat`), 'utf8');
  const check = () => { const r = checkSource(src, { grid }); if (!r.ir) throw new Error(`${example}: ${r.diagnostics.map((d) => d.message).join('; ')}`); return r.ir; };
  const ir = check();
  let runs = 0;
  const keys = () => {
    const e = new KeyGroupEnumerator(ir);
    runs = 0;
    for (let g = 0; g < groupCount(ir); g++) runs += runsOfGroups(ir, e.keyGroups(g)).length;
  };
  // per backend: CUDA/WGSL emit code text; ONNX also materialises its constant index tensors
  const emitMs = Object.fromEntries(knownBackends().map((b) => [b.target, +timeIt(() => { check(); b.emit(ir); }, 3).toFixed(2)]));
  const tCheck = timeIt(check, 20);
  const tKeys = timeIt(() => { check(); keys(); }, 5);
  return { example, grid: grid.join('x'), queryGroups: groupCount(ir), keyRuns: runs, backends: knownBackends().map((b) => b.target), checkMs: +tCheck.toFixed(3), checkAndKeysMs: +tKeys.toFixed(2), checkAndEmitMs: emitMs };
});

const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const result = { date: new Date().toISOString(), node: process.version, cpu: (await import('node:os')).cpus()[0]?.model ?? 'unknown', coldCheckMs, rows };
if (outIdx >= 0) writeFileSync(args[outIdx + 1], JSON.stringify(result, null, 1) + '\n');
if (args.includes('--json')) console.log(JSON.stringify(result, null, 1));
else {
  console.log(`first check in a fresh process (includes parser construction): ${coldCheckMs} ms`);
  console.log('example          grid        groups  runs      check ms  +keys ms  check+emit ms per target');
  for (const r of rows) console.log(`${r.example.padEnd(16)} ${r.grid.padEnd(11)} ${String(r.queryGroups).padStart(6)}  ${String(r.keyRuns).padStart(8)}  ${r.checkMs.toFixed(2).padStart(8)}  ${r.checkAndKeysMs.toFixed(1).padStart(8)}  ${Object.entries(r.checkAndEmitMs).map(([t, ms]) => `${t} ${ms.toFixed(1)}`).join(', ') || '-'}`);
}

/**
 * A/B probe for the ONNX lowering on CPU: the dense attention graph and one or more lowering
 * variants, timed interleaved (dense, v1, v2, dense, v1, ...) so that load from other work on
 * the machine hits every variant alike. Reports min and median per variant and the speedups.
 *
 *   npx tsx bench/onnx/probe.ts [--threads 1,2] [--repeat 15] [--case grat_b_64x64_g8]
 *       [--spin 0|1] [--variant '{"maxBuckets":6}' ...] [--profile dir]
 *
 * Each --variant is JSON merged into the LowerOptions (see codegen/onnx/lower.ts).
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, type ModelProto } from 'onnx-buf';
import type * as ort from 'onnxruntime-node';
import { checkSource } from '../../compiler/index.js';
import { patternStats } from '../../compiler/stats.js';
import { totalTokens, type PatternIR } from '../../compiler/ir.js';
import { GRAT_DOMAIN, lowerPattern, type LowerOptions } from '../../codegen/onnx/lower.js';
import type { NdArray } from '../../runtime/onnx/npy.js';
import { maxAbsDiff, openSession, runSession } from '../../runtime/onnx/run.js';
import { DT, node, valueInfo } from '../../runtime/onnx/tensor.js';
import { gaussian } from '../../runtime/onnx/default/model.js';
import { denseAttentionModel } from './speed.js';

const CASES: Record<string, { source: string; heads: number }> = {
  grat_b_64x64_g8: { source: 'pattern grat_b_64x64_g8\ngrid h=64 w=64\ngroup h=8 w=8\ntext 64 before\nimage attends neighbors(1) + text\nhead_dim 64\ndtype fp32\n', heads: 4 },
  grat_b_96x96_g16: { source: 'pattern grat_b_96x96_g16\ngrid h=96 w=96\ngroup h=16 w=16\ntext 128 before\nimage attends neighbors(1) + text\nhead_dim 64\ndtype fp32\n', heads: 2 },
  // text-heavy: 512 text rows that see everything; the image part is small (own group only)
  text512_64x64_g8: { source: 'pattern text512_64x64_g8\ngrid h=64 w=64\ngroup h=8 w=8\ntext 512 before\nimage attends neighbors(0)\ntext attends all\nhead_dim 64\ndtype fp32\n', heads: 4 },
  grat_x_64x64_g8: { source: 'pattern grat_x_64x64_g8\ngrid h=64 w=64\ngroup h=8 w=8\ntext 64 before\nimage attends crisscross + text\nhead_dim 64\ndtype fp32\n', heads: 4 },
};

function wrap(ir: PatternIR, H: number, opts: LowerOptions): ModelProto {
  const l = lowerPattern(ir, opts);
  const N = totalTokens(ir), D = ir.headDim;
  const graph = create(GraphProtoSchema, {
    name: 'probe',
    node: [node(l.name, l.inputs.slice(), ['y'], {}, { name: 'attention', domain: GRAT_DOMAIN })],
    input: ['q', 'k', 'v'].map((n) => valueInfo(n, DT.FLOAT, [1, H, N, D])),
    output: [valueInfo('y', DT.FLOAT, [1, H, N, D])],
  });
  return create(ModelProtoSchema, {
    irVersion: 8n, producerName: 'gratc-probe', graph, functions: [l.fn],
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n }), create(OperatorSetIdProtoSchema, { domain: GRAT_DOMAIN, version: 1n })],
  });
}

const args = process.argv.slice(2);
const arg = (k: string): string | undefined => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
const threadsList = (arg('--threads') ?? '1,2').split(',').map(Number);
const repeat = Number(arg('--repeat') ?? 15);
const c = CASES[arg('--case') ?? 'grat_b_64x64_g8'];
const profileDir = arg('--profile');
const variants: Partial<LowerOptions>[] = [];
args.forEach((a, i) => { if (a === '--variant') variants.push(JSON.parse(args[i + 1])); });
if (variants.length === 0) variants.push({});

const r = checkSource(c.source);
if (!r.ir) throw new Error('bad pattern');
const ir = r.ir;
const N = totalTokens(ir), D = ir.headDim, H = c.heads;
const rand = gaussian(3);
const mk = (): NdArray => ({ dtype: 'float32', shape: [1, H, N, D], data: Float32Array.from({ length: H * N * D }, rand) });
const inputs = { q: mk(), k: mk(), v: mk() };
const base: LowerOptions = { elemType: DT.FLOAT, scale: 1 / Math.sqrt(D), opset: 17 };
const st = patternStats(ir);
console.log(`case ${ir.name} N=${N} H=${H} D=${D} density ${st.density.toFixed(4)} target ${(0.6 / st.density).toFixed(2)} load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

for (const threads of threadsList) {
  const models = [toBinary(ModelProtoSchema, denseAttentionModel(H, N, D)), ...variants.map((v) => toBinary(ModelProtoSchema, wrap(ir, H, { ...base, ...v })))];
  const sessions: ort.InferenceSession[] = [];
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const spinning = arg('--spin') === undefined ? undefined : arg('--spin') === '1';
  for (const [i, m] of models.entries()) sessions.push(await openSession(m, { threads, spinning, profile: profileDir ? `${profileDir}/t${threads}_v${i}` : undefined }));
  // every variant must agree with the first (the dense graph computes something else)
  const ref = (await runSession(sessions[1], inputs)).y;
  for (let i = 2; i < sessions.length; i++) {
    const d = maxAbsDiff((await runSession(sessions[i], inputs)).y, ref);
    if (!(d < 1e-4)) console.log(`  !! variant ${i} differs from variant 1 by ${d}`);
  }
  const times: number[][] = sessions.map(() => []), cpu: number[][] = sessions.map(() => []);
  for (let rep = 0; rep < repeat; rep++) {
    for (let i = 0; i < sessions.length; i++) {
      const c0 = process.cpuUsage(), t0 = performance.now();
      await runSession(sessions[i], inputs);
      times[i].push(performance.now() - t0);
      const c1 = process.cpuUsage(c0);
      cpu[i].push((c1.user + c1.system) / 1000);
    }
  }
  const stat = (a: number[]): { min: number; med: number } => { const s = [...a].sort((x, y) => x - y); return { min: s[0], med: s[Math.floor(s.length / 2)] }; };
  const d0 = stat(times[0]);
  const c0 = stat(cpu[0]);
  console.log(`threads ${threads}: dense min ${d0.min.toFixed(1)} med ${d0.med.toFixed(1)} ms (cpu min ${c0.min.toFixed(1)} med ${c0.med.toFixed(1)})`);
  for (let i = 1; i < sessions.length; i++) {
    const s = stat(times[i]), c = stat(cpu[i]);
    console.log(`  ${JSON.stringify(variants[i - 1])}: min ${s.min.toFixed(1)} med ${s.med.toFixed(1)} ms  speedup min ${(d0.min / s.min).toFixed(2)} med ${(d0.med / s.med).toFixed(2)} | cpu min ${c.min.toFixed(1)} med ${c.med.toFixed(1)} cpu-speedup ${(c0.min / c.min).toFixed(2)}`);
  }
  if (profileDir) for (const s of sessions) s.endProfiling();
  for (const s of sessions) await s.release();
  console.log(`  load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

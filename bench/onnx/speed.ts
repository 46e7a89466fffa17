/**
 * CPU benchmark of patched ONNX models (onnxruntime-node, CPU execution provider):
 *  - attention alone: a dense attention graph (MatMul → scale → Softmax → MatMul, as exporters
 *    write it) vs the same graph patched with a pattern, at 4,096+ image tokens;
 *  - the embedded default DiT model vs its patched version (`gratc demo`).
 * Reports medians, the speedup and the target 0.6 × 1/density (for density < 0.2).
 *
 *   npm run build && node dist/bench/onnx/speed.js [--quick] [--out bench/results/onnx_cpu.json]
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, type ModelProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { patternStats } from '../../compiler/stats.js';
import { runDemo } from '../../runtime/onnx/demo.js';
import type { NdArray } from '../../runtime/onnx/npy.js';
import { patchModel } from '../../runtime/onnx/patch.js';
import { maxAbsDiff, openSession, runSession, timeSession } from '../../runtime/onnx/run.js';
import { DT, node, tensorF32, valueInfo } from '../../runtime/onnx/tensor.js';
import { gaussian } from '../../runtime/onnx/default/model.js';

/** Dense attention over [1, H, N, D] q, k, v, the way PyTorch exports it. */
export function denseAttentionModel(H: number, N: number, D: number): ModelProto {
  const graph = create(GraphProtoSchema, {
    name: 'dense_attention',
    node: [
      node('Transpose', ['k'], ['kt'], { perm: [0, 1, 3, 2] }, { name: 'k_t' }),
      node('MatMul', ['q', 'kt'], ['s'], {}, { name: 'qk' }),
      node('Mul', ['s', 'scale'], ['ss'], {}, { name: 'scale' }),
      node('Softmax', ['ss'], ['p'], { axis: -1 }, { name: 'softmax' }),
      node('MatMul', ['p', 'v'], ['y'], {}, { name: 'pv' }),
    ],
    initializer: [tensorF32('scale', [], [1 / Math.sqrt(D)])],
    input: ['q', 'k', 'v'].map((n) => valueInfo(n, DT.FLOAT, [1, H, N, D])),
    output: [valueInfo('y', DT.FLOAT, [1, H, N, D])],
  });
  return create(ModelProtoSchema, { irVersion: 8n, producerName: 'gratc-bench', graph, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })] });
}

interface Case { name: string; grid: [number, number]; group: number; text: number; image: string; heads: number; headDim: number }

const CASES: Case[] = [
  { name: 'grat_b_64x64_g8', grid: [64, 64], group: 8, text: 64, image: 'neighbors(1) + text', heads: 4, headDim: 64 },
  { name: 'grat_b_96x96_g16', grid: [96, 96], group: 16, text: 128, image: 'neighbors(1) + text', heads: 2, headDim: 64 },
  { name: 'grat_x_64x64_g8', grid: [64, 64], group: 8, text: 64, image: 'crisscross + text', heads: 4, headDim: 64 },
];

async function benchAttention(c: Case, repeat: number, threads?: number): Promise<Record<string, unknown>> {
  const M = c.grid[0] * c.grid[1], N = M + c.text;
  const source = `pattern ${c.name}\ngrid h=${c.grid[0]} w=${c.grid[1]}\ngroup h=${c.group} w=${c.group}\ntext ${c.text} before\nimage attends ${c.image}\nhead_dim ${c.headDim}\ndtype fp32\n`;
  const model = denseAttentionModel(c.heads, N, c.headDim);
  const patched = patchModel(model, { source });
  if (patched.patched !== 1) throw new Error(`${c.name}: not patched: ${patched.rows[0]?.note}`);
  const rand = gaussian(3);
  const shape = [1, c.heads, N, c.headDim];
  const mk = (): NdArray => ({ dtype: 'float32', shape, data: Float32Array.from({ length: c.heads * N * c.headDim }, rand) });
  const inputs = { q: mk(), k: mk(), v: mk() };
  const sDense = await openSession(toBinary(ModelProtoSchema, model), { threads });
  const sSparse = await openSession(toBinary(ModelProtoSchema, patched.model), { threads });
  const dense = await timeSession(sDense, inputs, repeat);
  const sparse = await timeSession(sSparse, inputs, repeat);
  // correctness at this size: the patched model against the dense-masked reference
  const sRef = await openSession(toBinary(ModelProtoSchema, patchModel(model, { source }, { lowering: 'dense-mask' }).model));
  const maxDiff = maxAbsDiff((await runSession(sSparse, inputs)).y, (await runSession(sRef, inputs)).y);
  await Promise.all([sDense.release(), sSparse.release(), sRef.release()]);
  const st = patternStats(patched.functions[0].ir);
  const speedup = dense.median / sparse.median, speedupMin = dense.min / sparse.min;
  const target = st.density < 0.2 ? 0.6 / st.density : null;
  return {
    case: c.name, threads: threads ?? 'default', tokens: N, imageTokens: M, heads: c.heads, headDim: c.headDim, pattern: source.split('\n').slice(1, 5).join('; '),
    density: Number(st.density.toFixed(4)), buckets: patched.functions[0].lowered.buckets,
    denseMs: Number(dense.median.toFixed(2)), patchedMs: Number(sparse.median.toFixed(2)), speedup: Number(speedup.toFixed(2)),
    denseMinMs: Number(dense.min.toFixed(2)), patchedMinMs: Number(sparse.min.toFixed(2)), speedupOfMin: Number(speedupMin.toFixed(2)),
    target: target === null ? null : Number(target.toFixed(2)), meetsTarget: target === null ? null : speedup >= target, maxDiff,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const outAt = args.indexOf('--out');
  const repeat = quick ? 2 : 5;
  const results: Record<string, unknown>[] = [];
  for (const c of quick ? CASES.slice(0, 1) : CASES) {
    for (const threads of [undefined, 1]) {
      const r = await benchAttention(c, repeat, threads);
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
  const demo = await runDemo({ repeat });
  const demoRow = { case: 'default_dit_model', tokens: demo.tokens, density: demo.density, originalMs: demo.ms.original, patchedMs: demo.ms.patched, speedup: demo.speedup, maxDiff: demo.maxDiff };
  console.log(JSON.stringify(demoRow));
  const report = {
    date: new Date().toISOString().slice(0, 10),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) },
    onnxruntime: ort.env.versions?.common ?? 'unknown', ep: 'cpu', repeat, statistic: 'median (and min) of repeat runs after one warm-up',
    loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))),
    attention: results, model: demoRow,
  };
  if (outAt >= 0) writeFileSync(args[outAt + 1], `${JSON.stringify(report, null, 2)}\n`);
}

if (process.argv[1]?.includes("speed")) await main();

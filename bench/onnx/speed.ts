/**
 * CPU benchmark of patched ONNX models (onnxruntime-node, CPU execution provider):
 *  - attention alone: a dense attention graph (MatMul → scale → Softmax → MatMul, as exporters
 *    write it) vs the same graph patched with a pattern, at 4,096+ image tokens;
 *  - the embedded default DiT model vs its patched version (`gratc demo`).
 * Reports min and median, the speedups and the target 0.6 × 1/density (for density < 0.2), under
 * onnxruntime's default threading (spinning pool), the gratc runtime's (no spinning), and one
 * thread; the same session options for the dense and the patched model. The default DiT model
 * row (`gratc demo`) uses the gratc runtime's defaults.
 * Notes on what was tried and measured: bench/onnx/NOTES.md.
 *
 *   npm run build && node dist/bench/onnx/speed.js [--quick] [--repeat 15] [--out bench/results/onnx_cpu.json]
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
import { maxAbsDiff, openSession, runSession } from '../../runtime/onnx/run.js';
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

interface Config { threads?: number; spinning?: boolean }
const configName = (c: Config): string => `threads ${c.threads ?? 'default'}, ${c.spinning ? 'spinning (onnxruntime default)' : 'no spinning (gratc runtime default)'}`;

/** min and median of each session's wall time, the sessions run in turn (a, b, c, a, b, c, ...) so load hits them alike. */
async function timeInterleaved(sessions: ort.InferenceSession[], inputs: Record<string, NdArray>, repeat: number): Promise<{ min: number; median: number; all: number[] }[]> {
  for (const s of sessions) await runSession(s, inputs); // warm-up
  const all: number[][] = sessions.map(() => []);
  for (let r = 0; r < repeat; r++) {
    for (const [i, s] of sessions.entries()) {
      const t0 = performance.now();
      await runSession(s, inputs);
      all[i].push(performance.now() - t0);
    }
  }
  return all.map((a) => { const s = [...a].sort((x, y) => x - y); return { min: s[0], median: s[Math.floor(s.length / 2)], all: a }; });
}

const ms = (x: number): number => Number(x.toFixed(2));

/** Busy (non-idle) time of all cores so far, in ms. */
const machineBusyMs = (): number => cpus().reduce((a, c) => a + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);

/**
 * One case under one session configuration (the same for every model): the dense graph, the
 * patched graph, and the patched graph as lowered before query chunking (`query_chunk=65536`,
 * i.e. one chain per bucket) for comparison.
 */
async function benchAttention(c: Case, repeat: number, cfg: Config): Promise<Record<string, unknown>> {
  const M = c.grid[0] * c.grid[1], N = M + c.text;
  const source = `pattern ${c.name}\ngrid h=${c.grid[0]} w=${c.grid[1]}\ngroup h=${c.group} w=${c.group}\ntext ${c.text} before\nimage attends ${c.image}\nhead_dim ${c.headDim}\ndtype fp32\n`;
  const model = denseAttentionModel(c.heads, N, c.headDim);
  const patched = patchModel(model, { source });
  const unchunked = patchModel(model, { source: `${source}schedule onnx query_chunk=65536\n` });
  if (patched.patched !== 1 || unchunked.patched !== 1) throw new Error(`${c.name}: not patched: ${patched.rows[0]?.note}`);
  const rand = gaussian(3);
  const shape = [1, c.heads, N, c.headDim];
  const mk = (): NdArray => ({ dtype: 'float32', shape, data: Float32Array.from({ length: c.heads * N * c.headDim }, rand) });
  const inputs = { q: mk(), k: mk(), v: mk() };
  const so = { threads: cfg.threads, spinning: cfg.spinning };
  const sessions = [
    await openSession(toBinary(ModelProtoSchema, model), so),
    await openSession(toBinary(ModelProtoSchema, patched.model), so),
    await openSession(toBinary(ModelProtoSchema, unchunked.model), so),
  ];
  const load0 = loadavg()[0], busy0 = machineBusyMs(), own0 = process.cpuUsage(), t0 = performance.now();
  const [dense, sparse, before] = await timeInterleaved(sessions, inputs, repeat);
  const load1 = loadavg()[0], wall = performance.now() - t0, own = process.cpuUsage(own0);
  // cores kept busy by other processes while this row ran (all cores' busy time minus ours)
  const otherCores = Math.max(0, (machineBusyMs() - busy0 - (own.user + own.system) / 1000) / wall);
  // correctness at this size: the patched model against the dense-masked reference
  const sRef = await openSession(toBinary(ModelProtoSchema, patchModel(model, { source }, { lowering: 'dense-mask' }).model));
  const maxDiff = maxAbsDiff((await runSession(sessions[1], inputs)).y, (await runSession(sRef, inputs)).y);
  await Promise.all([...sessions, sRef].map((s) => s.release()));
  const st = patternStats(patched.functions[0].ir);
  const speedup = dense.median / sparse.median, speedupMin = dense.min / sparse.min;
  const target = st.density < 0.2 ? 0.6 / st.density : null;
  return {
    case: c.name, config: configName(cfg), threads: cfg.threads ?? 'default', spinning: cfg.spinning ?? false, tokens: N, imageTokens: M, heads: c.heads, headDim: c.headDim,
    pattern: source.split('\n').slice(1, 5).join('; '),
    density: Number(st.density.toFixed(4)), buckets: patched.functions[0].lowered.buckets,
    denseMs: ms(dense.median), patchedMs: ms(sparse.median), speedup: ms(speedup),
    denseMinMs: ms(dense.min), patchedMinMs: ms(sparse.min), speedupOfMin: ms(speedupMin),
    unchunkedMs: ms(before.median), unchunkedMinMs: ms(before.min), unchunkedSpeedup: ms(dense.median / before.median), unchunkedSpeedupOfMin: ms(dense.min / before.min),
    target: target === null ? null : ms(target), meetsTarget: target === null ? null : speedup >= target, meetsTargetOfMin: target === null ? null : speedupMin >= target,
    loadAverage1m: [ms(load0), ms(load1)], otherProcessesCores: ms(otherCores), maxDiff,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const outAt = args.indexOf('--out');
  const at = args.indexOf('--repeat');
  const repeat = quick ? 3 : at >= 0 ? Number(args[at + 1]) : 15;
  const results: Record<string, unknown>[] = [];
  // onnxruntime's defaults (one intra-op thread per core, idle threads spin); the gratc runtime's
  // (the same without spinning, see runtime/onnx/run.ts); one thread
  const configs: Config[] = [{ spinning: true }, {}, { threads: 1 }];
  for (const c of quick ? CASES.slice(0, 1) : CASES) {
    for (const cfg of configs) {
      const r = await benchAttention(c, c === CASES[0] ? repeat : Math.ceil(repeat / 2), cfg);
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
  const demo = await runDemo({ repeat });
  const demoRow = { case: 'default_dit_model', tokens: demo.tokens, density: demo.density, originalMs: demo.ms.original, patchedMs: demo.ms.patched, speedup: demo.speedup, maxDiff: demo.maxDiff };
  console.log(JSON.stringify(demoRow));
  const report = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) },
    onnxruntime: ort.env.versions?.common ?? 'unknown', ep: 'cpu', repeat,
    statistic: 'median and min of repeat runs after one warm-up; dense, patched and unchunked sessions run interleaved; the first case gets `repeat` runs, the others half',
    loadAverageAtStart: load0, loadAverageAtEnd: loadavg().map((x) => ms(x)),
    attention: results, model: demoRow,
  };
  if (outAt >= 0) writeFileSync(args[outAt + 1], `${JSON.stringify(report, null, 2)}\n`);
}

const load0 = loadavg().map((x) => ms(x));
if (process.argv[1]?.includes("speed")) await main();

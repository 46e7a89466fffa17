/**
 * Patched vs unpatched ONNX models on onnxruntime-node's WebGPU execution provider (issue 22
 * item 4). Per case, the same inputs through:
 *   dense      attention as exporters write it (MatMul → scale → Softmax → MatMul), [1, H, N, D]
 *   mha        com.microsoft MultiHeadAttention (ORT's fused WebGPU attention), [1, N, H·D]
 *   patched    `gratc patch` of `dense` (the ai.grat function, default query chunks)
 *   unchunked  the same with `schedule onnx query_chunk=65536` (one chain per bucket)
 * and the bundled DiT model (`gratc demo`'s default model) unpatched vs patched.
 * Every session is created with the CPU fallback disabled (`session.disable_cpu_ep_fallback`: the
 * session is refused if any node would go to the CPU EP) and with profiling on; the profile's node
 * events give, per run, each node's provider, the kernels dispatched and the bytes each node read
 * (activation + parameter sizes) and wrote (output size). Those counts and the FLOPs do not depend
 * on the device; the wall times here do (lavapipe is a CPU-emulated Vulkan device: a proxy only).
 * `predict` turns the counts into H100/H200 times (see bench/onnx/NOTES.md "WebGPU EP").
 *
 *   npx tsx bench/onnx/webgpu.ts [--quick] [--repeat 5] [--cases dispatch,dit,flux,ditlayer] [--flux 64x64:512:2] [--chain 4] [--out FILE] [--profile-dir DIR]
 * (--chain c: attention layers also timed as c chained attentions: gpuMs = (t_c − t_1)/(c − 1), no transfers)
 * On the GPU machine (no Node there) the bundle runs the same: see bench/webgpu/gpu_run.sh (ORT_PATCHED=1).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, type ModelProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { patternStats } from '../../compiler/stats.js';
import { buildDefaultModel, DEFAULT_CONFIG, DEFAULT_PATTERN, defaultInputs, gaussian } from '../../runtime/onnx/default/model.js';
import { patchModel } from '../../runtime/onnx/patch.js';
import { DT, node, tensorF32, valueInfo } from '../../runtime/onnx/tensor.js';
import { denseAttentionModel } from './speed.js';

/** com.microsoft MultiHeadAttention over [1, N, H·D] (the layout it takes; same math, scale 1/√D). */
export function mhaModel(H: number, N: number, D: number): ModelProto {
  const graph = create(GraphProtoSchema, {
    name: 'mha_attention',
    node: [node('MultiHeadAttention', ['q', 'k', 'v'], ['y'], { num_heads: H }, { name: 'mha', domain: 'com.microsoft' })],
    input: ['q', 'k', 'v'].map((n) => valueInfo(n, DT.FLOAT, [1, N, H * D])),
    output: [valueInfo('y', DT.FLOAT, [1, N, H * D])],
  });
  return create(ModelProtoSchema, {
    irVersion: 8n, producerName: 'gratc-bench', graph,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n }), create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n })],
  });
}

/**
 * `c` copies of an attention graph (inputs q, k, v, output y) chained y_i = f(y_{i-1}, k, v): the
 * GPU time of one attention is (t_c − t_1)/(c − 1), uploads and readback cancelled (as
 * bench/webgpu/bench.ts). Patching the chained dense graph patches every copy.
 */
export function chainModel(m: ModelProto, c: number): ModelProto {
  if (c === 1) return m;
  const out = structuredClone(m);
  const inits = new Set(m.graph!.initializer.map((t) => t.name));
  const keep = (x: string): boolean => x === '' || x === 'k' || x === 'v' || inits.has(x);
  out.graph!.node = Array.from({ length: c }, (_, i) => m.graph!.node.map((n) => {
    const r = structuredClone(n);
    r.name = `${n.name}_${i}`;
    r.input = n.input.map((x) => (x === 'q' ? (i ? `y_${i - 1}` : 'q') : keep(x) ? x : `${x}_${i}`));
    r.output = n.output.map((x) => (x === 'y' && i === c - 1 ? 'y' : `${x}_${i}`));
    return r;
  })).flat();
  return out;
}

type Feeds = Record<string, ort.Tensor>;

/** What one run did on the device, from the profile's node events (the last run of the session). */
export interface RunCounts {
  readonly kernels: number;
  /** Nodes per provider over the whole profile (every run): a CPU entry means a hidden transfer. */
  readonly providers: Record<string, number>;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Per op type: kernels and bytes (read + written) of one run. */
  readonly byOp: Record<string, { kernels: number; bytes: number }>;
}

interface ProfileEvent { cat: string; name: string; dur: number; ts: number; args?: { op_name?: string; provider?: string; output_size?: string; activation_size?: string; parameter_size?: string } }

const VIEWS = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);
const PARTIAL = new Set(['Gather', 'Slice']);

/** Counts of one run: the node events after the last `model_run` event started. */
export function countsFromProfile(events: readonly ProfileEvent[]): RunCounts {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs.length ? runs[runs.length - 1].ts : -Infinity;
  const providers: Record<string, number> = {};
  const byOp: Record<string, { kernels: number; bytes: number }> = {};
  let kernels = 0, read = 0, written = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.args?.provider) continue;
    providers[e.args.provider] = (providers[e.args.provider] ?? 0) + 1;
    if (e.ts < last) continue;
    // Reshape and its kin alias their input on the WebGPU EP (no copy), though the profile lists their sizes
    const view = VIEWS.has(e.args.op_name ?? '');
    // a Gather/Slice reads only the rows it outputs (+ its index tensor), not its whole data input
    const w = view ? 0 : Number(e.args.output_size ?? 0);
    const r = view ? 0 : PARTIAL.has(e.args.op_name ?? '') ? w + Number(e.args.parameter_size ?? 0) : Number(e.args.activation_size ?? 0) + Number(e.args.parameter_size ?? 0);
    kernels++; read += r; written += w;
    const o = (byOp[e.args.op_name ?? '?'] ??= { kernels: 0, bytes: 0 });
    o.kernels++; o.bytes += r + w;
  }
  return { kernels, providers, bytesRead: read, bytesWritten: written, byOp };
}

export interface Timed { readonly name: string; readonly min: number; readonly median: number; readonly counts: RunCounts; readonly y: Float32Array }

/**
 * Opens each model on the WebGPU EP (CPU fallback disabled, profiling on), times them interleaved
 * (a, b, c, a, b, c, ...) after a warm-up, then reads each profile. Wall time per run includes the
 * uploads of the inputs and the readback of the output (the same bytes for every model of a case
 * except mha's, which are the same size).
 */
export async function timeOnWebgpu(models: readonly { name: string; bytes: Uint8Array; feeds: Feeds }[], repeat: number, profileDir: string): Promise<Timed[]> {
  mkdirSync(profileDir, { recursive: true });
  const sessions: ort.InferenceSession[] = [];
  for (const m of models) {
    for (const f of readdirSync(profileDir)) if (f.startsWith(`${m.name}_`)) rmSync(join(profileDir, f));
    sessions.push(await ort.InferenceSession.create(m.bytes, {
      executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3,
      enableProfiling: true, profileFilePrefix: join(profileDir, m.name),
      extra: { session: { disable_cpu_ep_fallback: '1' } },
    }));
  }
  const ys: Float32Array[] = [];
  for (const [i, s] of sessions.entries()) ys.push((await s.run(models[i].feeds)).y.data as Float32Array); // warm-up: shader compiles
  const all: number[][] = models.map(() => []);
  for (let r = 0; r < repeat; r++) {
    for (const [i, s] of sessions.entries()) {
      const t0 = performance.now();
      await s.run(models[i].feeds);
      all[i].push(performance.now() - t0);
    }
  }
  const out: Timed[] = [];
  for (const [i, s] of sessions.entries()) {
    s.endProfiling();
    await s.release();
    const file = readdirSync(profileDir).find((f) => f.startsWith(`${models[i].name}_`) && f.endsWith('.json'));
    const events = file ? JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as ProfileEvent[] : [];
    const sorted = [...all[i]].sort((a, b) => a - b);
    out.push({ name: models[i].name, min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], counts: countsFromProfile(events), y: ys[i] });
  }
  return out;
}

/**
 * Rates of the H100/H200 on onnxruntime's WebGPU EP, from bench/webgpu/NOTES.md (H200, 2026-11-27):
 * ORT's MultiHeadAttention ran 4·D·N² FLOPs at 5.2 TFLOP/s; our WGSL kernel at ~17 TFLOP/s is
 * the SIMT ceiling seen through Dawn. Bandwidth: a plain copy kernel reaches ~70 % of HBM peak
 * (H200 4.8 TB/s, H100 SXM 3.35 TB/s); per dispatch ~15 µs of ORT + Dawn overhead when the
 * queue does not hide it (an assumption, not measured: the device script measures it).
 */
export const CARDS = {
  h200: { bytesPerS: 0.7 * 4.8e12, matmulFlops: 5.2e12, dispatchS: 15e-6 },
  h100: { bytesPerS: 0.7 * 3.35e12, matmulFlops: 5.2e12 * (3.35 / 4.8) ** 0.5, dispatchS: 15e-6 },
} as const;

/**
 * Predicted ms on a card: the matrix products (MatMul, MultiHeadAttention) at the FLOP rate, every
 * other kernel's bytes at the copy bandwidth, plus each kernel's dispatch; ops run one after the
 * other, so the terms add. `heads`: scale a run's bytes and FLOPs (all per head) to other heads.
 */
export function predictMs(c: RunCounts, flops: number, card: keyof typeof CARDS, headScale = 1): number {
  const r = CARDS[card];
  const products = (c.byOp.MatMul?.bytes ?? 0) + (c.byOp.MultiHeadAttention?.bytes ?? 0);
  return 1e3 * (headScale * (flops / r.matmulFlops + (c.bytesRead + c.bytesWritten - products) / r.bytesPerS) + c.kernels * r.dispatchS);
}

function args(): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (!a[i].startsWith('--')) continue;
    const next = a[i + 1];
    if (next !== undefined && !next.startsWith('--')) { out[a[i].slice(2)] = next; i++; } else out[a[i].slice(2)] = true;
  }
  return out;
}

const ms = (x: number): number => Number(x.toFixed(2));
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const bnhdOf = (x: Float32Array, H: number, N: number, D: number): Float32Array => {
  const y = new Float32Array(x.length);
  for (let h = 0; h < H; h++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) y[(n * H + h) * D + d] = x[(h * N + n) * D + d];
  return y;
};

/**
 * One attention layer: dense, MHA, patched, unchunked; counts, FLOPs, predictions, wall times.
 * With `chain` > 1 each is also timed as a chain of `chain` attentions, and `gpuMs` is one
 * attention without the transfers.
 */
async function attentionCase(name: string, source: string, grid: [number, number], text: number, H: number, D: number, repeat: number, profileDir: string, chain = 1): Promise<Record<string, unknown>> {
  const N = grid[0] * grid[1] + text;
  const dense = denseAttentionModel(H, N, D);
  const unchunkedSource = `${source}schedule onnx query_chunk=65536\n`;
  const patched = patchModel(dense, { source, grid });
  const unchunked = patchModel(dense, { source: unchunkedSource, grid });
  if (patched.patched !== 1 || unchunked.patched !== 1) throw new Error(`${name}: not patched: ${patched.rows[0]?.note}`);
  const rand = gaussian(5);
  const mk = (): Float32Array => Float32Array.from({ length: H * N * D }, rand);
  const [q, k, v] = [mk(), mk(), mk()];
  const bhnd: Feeds = Object.fromEntries([['q', q], ['k', k], ['v', v]].map(([n, x]) => [n, new ort.Tensor('float32', x as Float32Array, [1, H, N, D])]));
  const bnhd: Feeds = Object.fromEntries([['q', q], ['k', k], ['v', v]].map(([n, x]) => [n, new ort.Tensor('float32', bnhdOf(x as Float32Array, H, N, D), [1, N, H * D])]));
  const bytes = (m: ModelProto): Uint8Array => toBinary(ModelProtoSchema, m);
  const kinds = (c: number) => {
    const d = chainModel(dense, c);
    const p = (src: string): ModelProto => { const r = patchModel(d, { source: src, grid }); if (r.patched !== c) throw new Error(`${name}: ${r.patched} of ${c} patched`); return r.model; };
    const tag = c === 1 ? '' : `_x${c}`;
    return [
      { name: `${name}_dense${tag}`, bytes: bytes(d), feeds: bhnd },
      { name: `${name}_mha${tag}`, bytes: bytes(chainModel(mhaModel(H, N, D), c)), feeds: bnhd },
      { name: `${name}_patched${tag}`, bytes: bytes(c === 1 ? patched.model : p(source)), feeds: bhnd },
      { name: `${name}_unchunked${tag}`, bytes: bytes(c === 1 ? unchunked.model : p(unchunkedSource)), feeds: bhnd },
    ];
  };
  const all = await timeOnWebgpu([...kinds(1), ...(chain > 1 ? kinds(chain) : [])], repeat, profileDir);
  const t = all.slice(0, 4), tc = chain > 1 ? all.slice(4) : null;
  const st = patternStats(patched.functions[0].ir);
  const computed = patched.functions[0].lowered.computedPairs;
  const flops = { dense: 4 * D * N * N * H, mha: 4 * D * N * N * H, patched: 4 * D * computed * H, unchunked: 4 * D * unchunked.functions[0].lowered.computedPairs * H };
  // the patched function against the dense-masked reference on the same EP
  const ref = await timeOnWebgpu([{ name: `${name}_reference`, bytes: bytes(patchModel(dense, { source, grid }, { lowering: 'dense-mask' }).model), feeds: bhnd }], 1, profileDir);
  const rows = t.map((r) => {
    const kind = r.name.slice(name.length + 1) as keyof typeof flops;
    return {
      model: kind, minMs: ms(r.min), medianMs: ms(r.median),
      gpuMs: tc ? ms((tc[t.indexOf(r)].median - r.median) / (chain - 1)) : null,
      kernels: r.counts.kernels, providers: r.counts.providers,
      mbRead: ms(r.counts.bytesRead / 1e6), mbWritten: ms(r.counts.bytesWritten / 1e6), gflop: ms(flops[kind] / 1e9),
      byOp: Object.fromEntries(Object.entries(r.counts.byOp).map(([o, c]) => [o, { kernels: c.kernels, mb: ms(c.bytes / 1e6) }])),
      predictedMs: { h100: ms(predictMs(r.counts, flops[kind], 'h100')), h200: ms(predictMs(r.counts, flops[kind], 'h200')) },
      // Flux's 8 heads, from this run's per-head counts (the device script runs 8 heads itself)
      predicted8HeadsMs: { h100: ms(predictMs(r.counts, flops[kind], 'h100', 8 / H)), h200: ms(predictMs(r.counts, flops[kind], 'h200', 8 / H)) },
    };
  });
  const by = Object.fromEntries(rows.map((r) => [r.model, r]));
  return {
    case: name, grid, text, tokens: N, heads: H, headDim: D, density: Number(st.density.toFixed(4)),
    target: ms(0.5 / st.density), buckets: patched.functions[0].lowered.buckets,
    maxDiffPatchedVsReference: maxDiff(t[2].y, ref[0].y), maxDiffDenseVsMha: maxDiff(bnhdOf(t[0].y, H, N, D), t[1].y),
    speedup: {
      wall: { overDense: ms(by.dense.medianMs / by.patched.medianMs), overMha: ms(by.mha.medianMs / by.patched.medianMs), unchunkedOverDense: ms(by.dense.medianMs / by.unchunked.medianMs) },
      gpu: tc ? { overDense: ms(by.dense.gpuMs! / by.patched.gpuMs!), overMha: ms(by.mha.gpuMs! / by.patched.gpuMs!), unchunkedOverDense: ms(by.dense.gpuMs! / by.unchunked.gpuMs!), unchunkedOverMha: ms(by.mha.gpuMs! / by.unchunked.gpuMs!) } : null,
      predictedH200: { overDense: ms(by.dense.predictedMs.h200 / by.patched.predictedMs.h200), overMha: ms(by.mha.predictedMs.h200 / by.patched.predictedMs.h200), unchunkedOverMha: ms(by.mha.predictedMs.h200 / by.unchunked.predictedMs.h200) },
      predictedH200at8Heads: { overDense: ms(by.dense.predicted8HeadsMs.h200 / by.patched.predicted8HeadsMs.h200), overMha: ms(by.mha.predicted8HeadsMs.h200 / by.patched.predicted8HeadsMs.h200), unchunkedOverMha: ms(by.mha.predicted8HeadsMs.h200 / by.unchunked.predicted8HeadsMs.h200) },
    },
    rows,
  };
}

/** The bundled DiT model (gratc demo's default) unpatched vs patched, same EP. */
async function ditCase(repeat: number, profileDir: string, withUnchunked: boolean): Promise<Record<string, unknown>> {
  const cfg = DEFAULT_CONFIG;
  const model = buildDefaultModel(cfg);
  const patched = patchModel(model, { source: DEFAULT_PATTERN, grid: [...cfg.grid] });
  const inp = defaultInputs(cfg);
  const feeds: Feeds = { text: new ort.Tensor('float32', inp.text, [1, cfg.text, cfg.channels]), image: new ort.Tensor('float32', inp.image, [1, cfg.grid[0] * cfg.grid[1], cfg.channels]) };
  const ren = (m: ModelProto): Uint8Array => {
    // the timing helper reads output `y`; the default model's output is `image_out`
    const c = structuredClone(m);
    c.graph!.output[0].name = 'y';
    for (const n of c.graph!.node) n.output = n.output.map((o) => (o === 'image_out' ? 'y' : o));
    return toBinary(ModelProtoSchema, c);
  };
  // one chain per bucket (no query chunks): fewer, larger kernels, what a GPU EP may prefer
  const unchunked = patchModel(model, { source: `${DEFAULT_PATTERN}schedule onnx query_chunk=65536\n`, grid: [...cfg.grid] });
  const t = await timeOnWebgpu([
    { name: 'dit_original', bytes: ren(model), feeds }, { name: 'dit_patched', bytes: ren(patched.model), feeds },
    ...(withUnchunked ? [{ name: 'dit_unchunked', bytes: ren(unchunked.model), feeds }] : []),
  ], repeat, profileDir);
  // the patched model on the CPU EP (which the ONNX tests check against the dense-masked reference)
  const cpu = await ort.InferenceSession.create(ren(patched.model), { executionProviders: ['cpu'] });
  const yCpu = (await cpu.run(feeds)).y.data as Float32Array;
  await cpu.release();
  const st = patternStats(patched.functions[0].ir);
  return {
    case: 'default_dit_model', config: cfg, tokens: cfg.grid[0] * cfg.grid[1] + cfg.text, density: Number(st.density.toFixed(4)), target: ms(0.5 / st.density),
    maxDiffPatchedWebgpuVsCpu: maxDiff(t[1].y, yCpu),
    speedup: ms(t[0].median / t[1].median), unchunkedSpeedup: t[2] ? ms(t[0].median / t[2].median) : null,
    rows: t.map((r) => ({ model: r.name, minMs: ms(r.min), medianMs: ms(r.median), kernels: r.counts.kernels, providers: r.counts.providers, mbRead: ms(r.counts.bytesRead / 1e6), mbWritten: ms(r.counts.bytesWritten / 1e6), byOp: r.counts.byOp })),
  };
}

/**
 * Wall time per dispatch of the WebGPU EP: a chain of `n` tiny Adds ([1, 256] floats) minus a
 * chain of 1, over n − 1. What a patched graph's extra kernels cost where the work per kernel is
 * small (the same session.run overhead, uploads and readback cancel).
 */
async function dispatchCase(repeat: number, profileDir: string): Promise<Record<string, unknown>> {
  const chain = (n: number): Uint8Array => {
    const nodes = Array.from({ length: n }, (_, i) => node('Add', [i ? `x${i}` : 'x', 'one'], [i === n - 1 ? 'y' : `x${i + 1}`], {}, { name: `add${i}` }));
    const graph = create(GraphProtoSchema, { name: 'chain', node: nodes, initializer: [tensorF32('one', [1, 256], new Float32Array(256).fill(1))], input: [valueInfo('x', DT.FLOAT, [1, 256])], output: [valueInfo('y', DT.FLOAT, [1, 256])] });
    return toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n, producerName: 'gratc-bench', graph, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })] }));
  };
  const feeds: Feeds = { x: new ort.Tensor('float32', new Float32Array(256), [1, 256]) };
  const n = 400;
  const t = await timeOnWebgpu([{ name: 'chain1', bytes: chain(1), feeds }, { name: `chain${n}`, bytes: chain(n), feeds }], Math.max(repeat, 5), profileDir);
  return { case: 'dispatch_overhead', chain: n, kernels: t[1].counts.kernels, ms1: ms(t[0].median), msChain: ms(t[1].median), usPerDispatch: ms((1e3 * (t[1].median - t[0].median)) / (n - 1)), ok: t[1].y[0] === n };
}

async function main(): Promise<void> {
  const a = args();
  const repeat = a.quick ? 2 : Number(a.repeat ?? 5);
  const profileDir = String(a['profile-dir'] ?? '/tmp/gratc_ort_profile');
  const cases = String(a.cases ?? 'dispatch,dit,flux').split(',');
  const [fg, ft, fh] = String(a.flux ?? '64x64:512:1').split(':');
  const grid = fg.split('x').map(Number) as [number, number];
  const chain = Number(a.chain ?? 1);
  const results: Record<string, unknown>[] = [];
  const log = (r: Record<string, unknown>): void => { console.log(JSON.stringify(r)); results.push(r); };
  if (cases.includes('dispatch')) log(await dispatchCase(repeat, profileDir));
  if (cases.includes('dit')) log(await ditCase(repeat, profileDir, !a['no-unchunked']));
  if (cases.includes('flux')) {
    const flux = readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'flux_grat_b.grat'), 'utf8').replace(/^text .*$/m, `text ${ft} before`).replace(/^dtype .*$/m, 'dtype fp32');
    log(await attentionCase('flux', flux, grid, Number(ft), Number(fh), 128, repeat, profileDir, chain));
  }
  if (cases.includes('ditlayer')) {
    // the default model's attention alone at Flux's head size (8×8 groups: density 0.145)
    const src = DEFAULT_PATTERN.replace(/^head_dim .*$/m, 'head_dim 128');
    log(await attentionCase('ditlayer', src, [64, 64], 64, Number(fh), 128, repeat, profileDir, chain));
  }
  const report = { date: new Date().toISOString(), onnxruntime: ort.env.versions?.common ?? 'unknown', ep: 'webgpu', cpuFallbackDisabled: true, repeat, cards: CARDS, results };
  if (typeof a.out === 'string') writeFileSync(a.out, `${JSON.stringify(report, null, 2)}\n`);
}

if (process.argv[1]?.endsWith('webgpu.ts') || process.argv[1]?.endsWith('onnx_webgpu.mjs')) await main();

/**
 * WGSL kernel benchmark: a GRAT pattern (default Flux GRAT-B) against dense attention on the
 * same device, where "dense" is the same kernel compiled for the full pattern (`image attends
 * all`), plus (optionally, `--onnx`) onnxruntime's WebGPU execution provider running dense
 * attention: ONNX `Attention` (opset 23; onnxruntime 1.30's WebGPU EP has no kernel for it, so the
 * session is refused) and com.microsoft `MultiHeadAttention` (runs on the WebGPU EP). The CPU
 * fallback is disabled and the profiler's node placement is recorded, so a number is only
 * reported when every node ran on WebGPU; `--onnx-op attention,mha`, `--onnx-runs`, `--onnx-chain`
 * (GPU time per op = difference of 1-op and chained graphs, cancelling uploads and readback).
 * Reports per precision: time, GFLOP/s on the computed blocks (4·D·visible pairs per head), the
 * ratio to the card's non-tensor FP32 peak where known, and the speedup over dense against the
 * target 0.7 / density.
 *
 *   npx tsx bench/webgpu/bench.ts --grid 64x64 --heads 1 [--precision f32|f16|both] [--reduction sg16|sg8|shared] [--staging tile|global] [--matrix on|off] [--out FILE]
 *     (--staging global: the -q16k variants, which fit 16 KiB of workgroup storage; --matrix on: only the
 *     subgroup-matrix variant (f16), off: never; default: what the runtime picks. Dawn toggles come from
 *     GRATC_DAWN_TOGGLES, e.g. allow_unsafe_apis,vulkan_enable_f16_on_nvidia: see probe.ts)
 *   npx tsx bench/webgpu/bench.ts --check     (correctness of every variant the device runs, small sizes)
 *
 * Timing: after a warm-up, `--batch-runs` dispatches go in one submit and the wall time until
 * the queue is idle is divided by their count; the median of `--trials` such submits is kept.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../../compiler/check.js';
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { patternStats } from '../../compiler/stats.js';
import { compileWgsl } from '../../codegen/wgsl/source.js';
import { createGratAttention, SUBGROUP_MATRIX_FEATURE, type GratAttention, type GratKernelSource, type Precision, type QStaging, type Reduction } from '../../runtime/webgpu/index.js';
import { nodeGpu, type NodeGpu } from '../../runtime/webgpu/node.js';
import { randomValues, verifyWebgpu } from '../../runtime/webgpu/verify.js';

const EXAMPLES = process.env.GRATC_EXAMPLES ?? join(import.meta.dirname, '..', '..', 'examples');

/** Non-tensor FP32 peaks (FLOP/s) of cards we may meet, by adapter description. */
const FP32_PEAK: [RegExp, number, string][] = [
  [/H100.*PCIe/i, 51.2e12, 'H100 PCIe'],
  [/H100/i, 66.9e12, 'H100 SXM'],
  [/H200/i, 66.9e12, 'H200'],
  [/A100/i, 19.5e12, 'A100'],
];

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

function load(file: string, grid: number[], edit: (s: string) => string = (s) => s): PatternIR {
  const { ir, diagnostics } = checkSource(edit(readFileSync(join(EXAMPLES, file), 'utf8')), { grid, defaultName: 'p' });
  if (!ir) throw new Error(`${file}: ${diagnostics.map((d) => d.message).join('; ')}`);
  return ir;
}

/** The same sizes with every key visible: dense attention through the same kernel. */
const dense = (src: string): string => src.replace(/^pattern .*$/m, 'pattern dense').replace(/^image attends .*$/m, 'image attends all');

async function timeKernel(gpu: NodeGpu, attn: GratAttention, heads: number, valid: number, runs: number, trials: number): Promise<number> {
  const n = heads * attn.tokens * attn.headDim;
  const x = randomValues(n, 1);
  const q = attn.createTensor('bnhd', 1, heads, x), k = attn.createTensor('bnhd', 1, heads, x), v = attn.createTensor('bnhd', 1, heads, x);
  const out = attn.createTensor('bnhd', 1, heads);
  const submit = async (count: number): Promise<number> => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < count; i++) attn.encode(pass, { q, k, v, out, valid });
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / count;
  };
  await submit(1); // warm-up (pipeline compile on some drivers)
  const times: number[] = [];
  for (let t = 0; t < trials; t++) times.push(await submit(runs));
  for (const b of [q, k, v, out]) b.buffer.destroy();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

interface OrtResult {
  /** Median wall time of one session.run with 1 Attention node (CPU feeds in, CPU output back). */
  ms1: number;
  /** Median wall time of one session.run with `chain` Attention nodes (y_i = Attention(y_{i-1}, k, v)). */
  msChain: number;
  chain: number;
  /** (msChain − ms1) / (chain − 1): one Attention on the GPU, uploads and the download cancelled out. */
  ms: number;
  runs: number;
  /** Providers the profiler saw per op type (node events' args.provider), both sessions. */
  placement: Record<string, string[]>;
  cpuFallbackDisabled: boolean;
  maxAbsErrorVsFloat64: number;
  checkedRows: number;
  profileNodeEvents: { name: string; op: string; provider: string; durUs: number }[];
}

/**
 * ONNX `Attention` (opset 23, inputs [1, heads, N, D]) on onnxruntime's WebGPU EP. Evidence that it
 * ran there: the CPU fallback is disabled (`session.disable_cpu_ep_fallback`: session creation fails
 * if any node would need the CPU EP) and the profiler's node events name the provider of each node.
 */
async function onnxAttention(op: 'attention' | 'mha', N: number, D: number, heads: number, runs: number, chain: number, profileDir: string): Promise<OrtResult | { error: string }> {
  try {
    const ort = await import('onnxruntime-node');
    const { create, toBinary } = await import('@bufbuild/protobuf');
    const onnx = await import('onnx-buf');
    const { DT, node, valueInfo } = await import('../../runtime/onnx/tensor.js');
    const { mkdirSync, readdirSync } = await import('node:fs');
    mkdirSync(profileDir, { recursive: true });
    // ONNX Attention (opset 23): [1, heads, N, D]; com.microsoft MultiHeadAttention: [1, N, heads·D] (= bnhd)
    const dims = op === 'attention' ? [1, heads, N, D] : [1, N, heads * D];
    const at = (h: number, r: number, c: number): number => (op === 'attention' ? (h * N + r) * D : (r * heads + h) * D) + c;
    const opType = op === 'attention' ? 'Attention' : 'MultiHeadAttention';
    const attrs: Record<string, number> = op === 'attention' ? {} : { num_heads: heads };
    const ext = op === 'attention' ? { } : { domain: 'com.microsoft' };
    const model = (c: number): Uint8Array => {
      const nodes = Array.from({ length: c }, (_, i) => node(opType, [i ? `y${i - 1}` : 'q', 'k', 'v'], [i === c - 1 ? 'y' : `y${i}`], attrs, { name: `attn${i}`, ...ext }));
      const graph = create(onnx.GraphProtoSchema, {
        name: 'dense_attention', node: nodes,
        input: ['q', 'k', 'v'].map((x) => valueInfo(x, DT.FLOAT, dims)),
        output: [valueInfo('y', DT.FLOAT, dims)],
      });
      return toBinary(onnx.ModelProtoSchema, create(onnx.ModelProtoSchema, { irVersion: 10n, producerName: 'gratc-bench', graph, opsetImport: [create(onnx.OperatorSetIdProtoSchema, { domain: '', version: 23n }), create(onnx.OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n })] }));
    };
    const q = Float32Array.from(randomValues(heads * N * D, 2)), k = Float32Array.from(randomValues(heads * N * D, 3)), v = Float32Array.from(randomValues(heads * N * D, 4));
    const feeds = { q: new ort.Tensor('float32', q, dims), k: new ort.Tensor('float32', k, dims), v: new ort.Tensor('float32', v, dims) };
    const placement: Record<string, Set<string>> = {};
    const events: OrtResult['profileNodeEvents'] = [];
    const time = async (c: number): Promise<{ ms: number; y: Float32Array }> => {
      const prefix = join(profileDir, `ort_${op}_chain${c}`);
      const session = await ort.InferenceSession.create(model(c), {
        executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3,
        enableProfiling: true, profileFilePrefix: prefix,
        extra: { session: { disable_cpu_ep_fallback: '1' } },
      });
      let y = (await session.run(feeds)).y.data as Float32Array; // warm-up (shader compile)
      const all: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        y = (await session.run(feeds)).y.data as Float32Array;
        all.push(performance.now() - t0);
      }
      session.endProfiling();
      await session.release();
      for (const f of readdirSync(profileDir).filter((f) => f.startsWith(`ort_${op}_chain${c}`) && f.endsWith('.json'))) {
        const ev = JSON.parse(readFileSync(join(profileDir, f), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string; provider?: string } }[];
        for (const e of ev) {
          if (e.cat !== 'Node' || !e.args?.provider) continue;
          (placement[e.args.op_name ?? '?'] ??= new Set()).add(e.args.provider);
          if (events.length < 24 && e.name.endsWith('_kernel_time')) events.push({ name: e.name, op: e.args.op_name ?? '?', provider: e.args.provider, durUs: e.dur });
        }
      }
      all.sort((a, b) => a - b);
      return { ms: all[Math.floor(all.length / 2)], y };
    };
    const one = await time(1);
    const many = await time(chain);
    // float64 reference for a few query rows of head 0 and the last head
    const rows: [number, number][] = [[0, 0], [0, N - 1], [heads - 1, N >> 1], [heads - 1, N - 1]];
    let err = 0;
    const scale = 1 / Math.sqrt(D);
    for (const [h, r] of rows) {
      const s = new Float64Array(N);
      let m = -Infinity;
      for (let j = 0; j < N; j++) { let d = 0; for (let c = 0; c < D; c++) d += q[at(h, r, c)] * k[at(h, j, c)]; s[j] = d * scale; m = Math.max(m, s[j]); }
      let l = 0; for (let j = 0; j < N; j++) { s[j] = Math.exp(s[j] - m); l += s[j]; }
      for (let c = 0; c < D; c++) { let o = 0; for (let j = 0; j < N; j++) o += s[j] * v[at(h, j, c)]; err = Math.max(err, Math.abs(o / l - one.y[at(h, r, c)])); }
    }
    return {
      ms1: +one.ms.toFixed(3), msChain: +many.ms.toFixed(3), chain, ms: +((many.ms - one.ms) / (chain - 1)).toFixed(3), runs,
      placement: Object.fromEntries(Object.entries(placement).map(([op, s]) => [op, [...s]])),
      cpuFallbackDisabled: true, maxAbsErrorVsFloat64: err, checkedRows: rows.length, profileNodeEvents: events,
    };
  } catch (e) {
    return { error: (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').slice(0, 600) };
  }
}

function ortVersion(): string {
  try { return (JSON.parse(readFileSync(join(process.env.ORT_DIR ?? join(import.meta.dirname, '..', '..', 'node_modules', 'onnxruntime-node'), 'package.json'), 'utf8')) as { version: string }).version; } catch { return 'unknown'; }
}

/** The subgroup-matrix variant's check (f16 only): runs where the device can run it, else says why not. */
async function checkMatrix(gpu: NodeGpu, name: string, ir: PatternIR, source: GratKernelSource, valid: number | undefined): Promise<boolean> {
  let ok = true;
  for (const layout of ['bhnd', 'bnhd'] as const) {
    try {
      const r = await verifyWebgpu(ir, { precision: 'f16', matrix: true, layout, valid, heads: 2 }, gpu, source);
      ok &&= r.ok;
      console.log(`check ${name} ${r.variant} ${layout} valid=${r.valid}: max |error| ${r.maxAbsError.toExponential(2)} ${r.ok ? 'ok' : 'FAILED'} (worst ${JSON.stringify(r.worst)})`);
    } catch (e) {
      console.log(`check ${name} f16-sgmat ${layout}: not run (${(e as Error).message.slice(0, 400)})`);
    }
  }
  return ok;
}

async function check(gpu: NodeGpu): Promise<boolean> {
  const sg = gpu.device.features.has('subgroups');
  const reductions: Reduction[] = ['shared', ...(sg ? (['sg16', 'sg8'] as const) : [])];
  const cases: [string, PatternIR, number | undefined][] = [
    ['flux_grat_b 20x36', load('flux_grat_b.grat', [20, 36]), 77],
    ['hunyuan_grat_x 5x10x12', load('hunyuan_grat_x.grat', [5, 10, 12]), 0],
    ['sliding_window_1d 300', load('sliding_window_1d.grat', [300]), undefined],
  ];
  let ok = true;
  for (const [name, ir, valid] of cases) {
    const source = compileWgsl(ir).source!;
    ok = (await checkMatrix(gpu, name, ir, source, valid)) && ok;
    for (const precision of ['f32', 'f16'] as const) {
      for (const reduction of reductions) {
        for (const [layout, qStaging] of [['bhnd', 'tile'], ['bnhd', 'tile'], ['bhnd', 'global'], ['bnhd', 'global']] as const) {
          try {
            const r = await verifyWebgpu(ir, { precision, reduction, qStaging, layout, valid, heads: 2, matrix: false }, gpu, source);
            ok &&= r.ok;
            console.log(`check ${name} ${r.variant} ${layout} valid=${r.valid}: max |error| ${r.maxAbsError.toExponential(2)} ${r.ok ? 'ok' : 'FAILED'}`);
          } catch (e) {
            console.log(`check ${name} ${precision}-${reduction}${qStaging === 'global' ? '-q16k' : ''} ${layout}: not run (${(e as Error).message.slice(0, 160)})`);
          }
        }
      }
    }
  }
  return ok;
}

async function main(): Promise<void> {
  const a = args();
  const gpu = await nodeGpu(a.backend === 'vulkan' ? 'vulkan' : 'default');
  const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: Iterable<Record<string, unknown>> };
  const configs = [...(info.subgroupMatrixConfigs ?? [])].map((c) => `${String(c.componentType)}->${String(c.resultComponentType)} ${String(c.M)}x${String(c.N)}x${String(c.K)}`);
  console.log(`device: ${gpu.description}; features: ${[...gpu.device.features].filter((f) => ['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE].includes(f)).join(', ')}; `
    + `workgroup storage ${gpu.device.limits.maxComputeWorkgroupStorageSize} B; subgroups ${info.subgroupMinSize}..${info.subgroupMaxSize}; subgroup matrix configs: ${configs.join(', ') || 'none'}`);
  if (a.check) {
    const ok = await check(gpu);
    if (!a.grid) { process.exitCode = ok ? 0 : 1; return; }
  }
  const grid = String(a.grid ?? '64x64').split('x').map(Number);
  const heads = Number(a.heads ?? 1), runs = Number(a['batch-runs'] ?? 5), trials = Number(a.trials ?? 3);
  const file = String(a.pattern ?? 'flux_grat_b.grat');
  const src = readFileSync(join(EXAMPLES, file), 'utf8');
  const sparseIr = load(file, grid), denseIr = load(file, grid, dense);
  const stats = patternStats(sparseIr), dstats = patternStats(denseIr);
  const N = totalTokens(sparseIr), D = sparseIr.headDim;
  const valid = sparseIr.text?.count ?? 0;
  const density = stats.flopsPerHead / stats.fullFlopsPerHead;
  const peak = FP32_PEAK.find(([re]) => re.test(gpu.description));
  const precisions: Precision[] = a.precision === 'f32' || a.precision === 'f16' ? [a.precision] : gpu.device.features.has('shader-f16') ? ['f32', 'f16'] : ['f32'];
  const sparseSource = compileWgsl(sparseIr).source!, denseSource = compileWgsl(denseIr).source!;
  const rows: Record<string, unknown>[] = [];
  for (const precision of precisions) {
    const reduction = typeof a.reduction === 'string' ? a.reduction as Reduction : undefined;
    const qStaging = typeof a.staging === 'string' ? a.staging as QStaging : undefined;
    const matrix = a.matrix === 'on' ? true : a.matrix === 'off' ? false : undefined;
    const sparse = await createGratAttention(gpu.device, sparseSource, { precision, reduction, qStaging, matrix });
    const full = await createGratAttention(gpu.device, denseSource, { precision, reduction, qStaging, matrix });
    const ts = await timeKernel(gpu, sparse, heads, valid, runs, trials);
    const td = a['no-dense'] ? NaN : await timeKernel(gpu, full, heads, valid, Math.max(1, Math.ceil(runs / 4)), trials);
    const gflops = (stats.flopsPerHead * heads) / (ts * 1e-3) / 1e9;
    const dgflops = (dstats.flopsPerHead * heads) / (td * 1e-3) / 1e9;
    const row = {
      precision,
      variant: sparse.variant.id,
      reason: sparse.reason,
      sparseMs: +ts.toFixed(3),
      denseMs: +td.toFixed(3),
      sparseGflops: +gflops.toFixed(1),
      denseGflops: +dgflops.toFixed(1),
      fp32PeakRatio: peak ? +((gflops * 1e9) / peak[1]).toFixed(4) : null,
      denseFp32PeakRatio: peak ? +((dgflops * 1e9) / peak[1]).toFixed(4) : null,
      speedupOverDense: +(td / ts).toFixed(2),
      targetSpeedup: +(0.7 / density).toFixed(2),
      meetsSpeedupTarget: td / ts >= 0.7 / density,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const ort: Record<string, unknown> = {};
  for (const op of (a.onnx ? String(a['onnx-op'] ?? 'attention,mha').split(',') : []) as ('attention' | 'mha')[]) {
    const r = await onnxAttention(op, N, D, heads, Number(a['onnx-runs'] ?? 5), Number(a['onnx-chain'] ?? 4), String(a['profile-dir'] ?? '/tmp/ort_profile'));
    const name = op === 'attention' ? 'Attention (ONNX opset 23)' : 'MultiHeadAttention (com.microsoft)';
    if ('ms' in r) {
      const g = (dstats.fullFlopsPerHead * heads) / (r.ms * 1e-3) / 1e9;
      ort[op] = { op: name, ...r, gflops: +g.toFixed(1), sparseSpeedupOverOrt: rows.map((x) => +(r.ms / (x.sparseMs as number)).toFixed(2)), fullPatternSpeedupOverOrt: rows.map((x) => +(r.ms / (x.denseMs as number)).toFixed(2)) };
      console.log(`onnxruntime webgpu ${name}: ${r.ms.toFixed(2)} ms per op (1 op ${r.ms1} ms, ${r.chain} ops ${r.msChain} ms, incl. transfers), ${g.toFixed(0)} GFLOP/s; placement ${JSON.stringify(r.placement)}; max |err| ${r.maxAbsErrorVsFloat64.toExponential(2)}`);
    } else {
      ort[op] = { op: name, ...r };
      console.log(`onnxruntime webgpu ${name}: ${r.error}`);
    }
  }
  const result = {
    date: new Date().toISOString(),
    device: gpu.description,
    fp32Peak: peak ? { card: peak[2], flops: peak[1] } : null,
    pattern: sparseIr.name,
    source: file,
    grid,
    tokens: N,
    headDim: D,
    heads,
    batch: 1,
    layout: 'bnhd',
    valid,
    density: +density.toFixed(5),
    flopsPerHead: stats.flopsPerHead,
    denseFlopsPerHead: dstats.flopsPerHead,
    timing: { runsPerSubmit: runs, trials, statistic: 'median of per-dispatch wall time (submit → queue idle) / runs' },
    results: rows,
    onnxruntimeWebgpu: a.onnx ? { version: ortVersion(), cpuFallbackDisabled: true, ...ort } : 'not run (pass --onnx)',
    patternSource: src.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).join('\n'),
  };
  if (typeof a.out === 'string') writeFileSync(a.out, `${JSON.stringify(result, null, 2)}\n`);
}

await main();

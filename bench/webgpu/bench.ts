/**
 * WGSL kernel benchmark: a GRAT pattern (default Flux GRAT-B) against dense attention on the
 * same device, where "dense" is the same kernel compiled for the full pattern (`image attends
 * all`), plus (optionally) onnxruntime's WebGPU execution provider running ONNX `Attention`.
 * Reports per precision: time, GFLOP/s on the computed blocks (4·D·visible pairs per head), the
 * ratio to the card's non-tensor FP32 peak where known, and the speedup over dense against the
 * target 0.7 / density.
 *
 *   npx tsx bench/webgpu/bench.ts --grid 64x64 --heads 1 [--precision f32|f16|both] [--reduction sg16|sg8|shared] [--out FILE]
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
import { createGratAttention, type GratAttention, type Precision, type Reduction } from '../../runtime/webgpu/index.js';
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

async function onnxAttention(N: number, D: number, heads: number, runs: number): Promise<{ ms: number } | { error: string }> {
  try {
    const { timeSession, openSession } = await import('../../runtime/onnx/run.js');
    const { create, toBinary } = await import('@bufbuild/protobuf');
    const onnx = await import('onnx-buf');
    const { DT, node, valueInfo } = await import('../../runtime/onnx/tensor.js');
    const dims = [1, heads, N, D];
    const graph = create(onnx.GraphProtoSchema, {
      name: 'dense_attention',
      node: [node('Attention', ['q', 'k', 'v'], ['y'])],
      input: ['q', 'k', 'v'].map((x) => valueInfo(x, DT.FLOAT, dims)),
      output: [valueInfo('y', DT.FLOAT, dims)],
    });
    const model = create(onnx.ModelProtoSchema, { irVersion: 10n, producerName: 'gratc-bench', graph, opsetImport: [create(onnx.OperatorSetIdProtoSchema, { domain: '', version: 23n })] });
    const session = await openSession(toBinary(onnx.ModelProtoSchema, model), { ep: 'webgpu' });
    const x = Float32Array.from(randomValues(heads * N * D, 2));
    const a = { dtype: 'float32' as const, shape: dims, data: x };
    const t = await timeSession(session, { q: a, k: a, v: a }, runs, 1);
    await session.release();
    return { ms: t.median };
  } catch (e) {
    return { error: (e instanceof Error ? e.message : String(e)).split('\n')[0] };
  }
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
    for (const precision of ['f32', 'f16'] as const) {
      for (const reduction of reductions) {
        for (const layout of ['bhnd', 'bnhd'] as const) {
          try {
            const r = await verifyWebgpu(ir, { precision, reduction, layout, valid, heads: 2 }, gpu, source);
            ok &&= r.ok;
            console.log(`check ${name} ${r.variant} ${layout} valid=${r.valid}: max |error| ${r.maxAbsError.toExponential(2)} ${r.ok ? 'ok' : 'FAILED'}`);
          } catch (e) {
            console.log(`check ${name} ${precision}-${reduction} ${layout}: not run (${(e as Error).message.slice(0, 160)})`);
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
  console.log(`device: ${gpu.description}; features: ${[...gpu.device.features].filter((f) => ['shader-f16', 'subgroups'].includes(f)).join(', ')}; `
    + `workgroup storage ${gpu.device.limits.maxComputeWorkgroupStorageSize} B; subgroup min ${(gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize}`);
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
    const sparse = await createGratAttention(gpu.device, sparseSource, { precision, reduction });
    const full = await createGratAttention(gpu.device, denseSource, { precision, reduction });
    const ts = await timeKernel(gpu, sparse, heads, valid, runs, trials);
    const td = a['no-dense'] ? NaN : await timeKernel(gpu, full, heads, valid, Math.max(1, Math.ceil(runs / 4)), trials);
    const gflops = (stats.flopsPerHead * heads) / (ts * 1e-3) / 1e9;
    const dgflops = (dstats.flopsPerHead * heads) / (td * 1e-3) / 1e9;
    const row = {
      precision,
      variant: sparse.variant.id,
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
  const ort = a.onnx ? await onnxAttention(N, D, heads, 3) : { error: 'not run (pass --onnx)' };
  if ('ms' in ort) console.log(`onnxruntime webgpu Attention (dense): ${ort.ms.toFixed(2)} ms`);
  else console.log(`onnxruntime webgpu Attention: ${ort.error}`);
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
    onnxruntimeWebgpuAttention: ort,
    patternSource: src.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).join('\n'),
  };
  if (typeof a.out === 'string') writeFileSync(a.out, `${JSON.stringify(result, null, 2)}\n`);
}

await main();

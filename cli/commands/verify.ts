/**
 * `gratc verify FILE --backend webgpu|onnx`: runs the pattern's kernel on random inputs and
 * prints the largest |error| against the float64 reference (compiler/reference.ts).
 * webgpu: the WGSL kernel through Dawn (any Vulkan driver: lavapipe in CI, the GPU elsewhere),
 * for each precision the device supports and each layout. onnx: the standalone ONNX model
 * (codegen/onnx) through onnxruntime (CPU or WebGPU execution provider). `--sample N` compares
 * only N query groups' rows (and the text rows), so patterns too big for a float64 reference of
 * every row can be checked too. CUDA kernels are checked on a GPU machine by bench/cuda/run.py
 * (`check`: against the same reference's dense masks; bench/README.md).
 */
import { toBinary } from '@bufbuild/protobuf';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ModelProtoSchema } from 'onnx-buf';
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { samplePairs as referenceSamplePairs, sampleRows, type RowSample } from '../../compiler/reference.js';
import { resolveValids, rowSample } from '../../runtime/webgpu/verify.js';
import { amount, BUDGET, requireAll, verifyWork } from '../../compiler/cost.js';
import { patternStats } from '../../compiler/stats.js';
import { compileWgsl } from '../../codegen/wgsl/source.js';
import { SCHEDULE_KEYS } from '../../codegen/targets.js';
import type { Layout, Precision } from '../../runtime/webgpu/index.js';
import { EXIT, CliError, oneLine, usageError } from '../exit.js';
import { processIo, type CommandContext } from '../io.js';
import { countOf, defaultNameFor, gridOption, loadPattern, parseCount, printDiagnostics, printJson, printSummary, textOption, type SizeFlags } from '../load.js';
import { quietOption, startProgress, type Progress } from '../progress.js';

interface VerifyFlags extends SizeFlags {
  backend: 'webgpu' | 'onnx';
  valid?: number | number[];
  batch: number;
  heads: number;
  layout: Layout | 'both';
  precision: Precision | 'both';
  ep: 'cpu' | 'webgpu';
  seed: number;
  tolerance?: number;
  sample?: number;
  launchSizes?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export interface VerifyRunJson {
  backend: string;
  variant: string;
  /** Why this variant ran (WebGPU: what each faster one lacked on this device); absent for ONNX. */
  reason?: string;
  precision: string;
  layout: string;
  /** The valid text length, or one per sample (--valid 77,0). */
  valid: number | number[];
  maxAbsError: number;
  tolerance: number;
  ok: boolean;
}

export interface VerifyJson {
  pattern: string;
  device: string;
  tokens: number;
  batch: number;
  heads: number;
  /** The image query groups and text rows (0-based in the text) checked under --sample; null: every row. */
  sampled: { groups: number[]; textRows: number[] } | null;
  /** The kernel (model) was built with the pattern's ? sizes taken at launch and run at these sizes (--launch-sizes). */
  launchSizes: boolean;
  runs: VerifyRunJson[];
  ok: boolean;
}

const positive = (v: string): number => {
  const n = parseCount(v);
  if (n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
};
/** `--valid 77` (every sample) or `--valid 77,0` (one per sample, as many as --batch). */
export const parseValid = (v: string): number | number[] => {
  const parts = v.split(',');
  return parts.length === 1 ? parseCount(v) : parts.map((p) => parseCount(p));
};
const tolerance = (v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new InvalidArgumentError('expected a positive number (e.g. 1e-4).');
  return x;
};

type Sampled = VerifyJson['sampled'];
const sampledJson = (s: RowSample | null | undefined): Sampled => (s ? { groups: [...s.groups], textRows: [...s.textRows] } : null);

/** `built`: the IR the kernel or model is built from (the pattern with its ? sizes left to launch, --launch-sizes), else `ir`. */
async function verifyOnnx(ir: PatternIR, flags: VerifyFlags, bar: Progress, built: PatternIR = ir): Promise<{ device: string; runs: VerifyRunJson[]; sampled: Sampled }> {
  let onnx: typeof import('../../codegen/onnx/index.js');
  let run: typeof import('../../runtime/onnx/run.js');
  let tensor: typeof import('../../runtime/onnx/tensor.js');
  let rand: typeof import('../../runtime/webgpu/verify.js');
  try {
    [onnx, run, tensor, rand] = await Promise.all([
      import('../../codegen/onnx/index.js'), import('../../runtime/onnx/run.js'), import('../../runtime/onnx/tensor.js'), import('../../runtime/webgpu/verify.js'),
    ]);
  } catch {
    throw usageError("backend 'onnx' verification is not available in this build");
  }
  const B = flags.batch, H = flags.heads, N = totalTokens(ir), D = ir.headDim, n = B * H * N * D;
  const valid = resolveValids(ir, flags.valid, B);
  bar.update(0, 'building the ONNX model');
  const rt = built.runtime ?? null;
  const { model } = rt ? onnx.standaloneRuntimeModel(built, rt, { elemType: tensor.DT.FLOAT }) : onnx.standaloneModel(ir, { elemType: tensor.DT.FLOAT });
  const q = Float32Array.from(rand.randomValues(n, flags.seed)), k = Float32Array.from(rand.randomValues(n, flags.seed + 1)), v = Float32Array.from(rand.randomValues(n, flags.seed + 2));
  const shape = [B, H, N, D];
  const inputs: Record<string, import('../../runtime/onnx/npy.js').NdArray> = {
    q: { dtype: 'float32', shape, data: q }, k: { dtype: 'float32', shape, data: k }, v: { dtype: 'float32', shape, data: v },
  };
  // one length for all samples is a scalar; per-sample lengths a [batch] tensor (the model takes both)
  if (rt && onnx.needsGridInput(rt)) inputs.grid = { dtype: 'int64', shape: [ir.dims.length], data: BigInt64Array.from(ir.dims.map((d) => BigInt(d.size))) };
  if (ir.text) inputs.text_valid = typeof valid === 'number' ? { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(valid)) } : { dtype: 'int64', shape: [B], data: BigInt64Array.from(valid.map(BigInt)) };
  bar.update(1, `running it with onnxruntime (${flags.ep})`);
  const out = await run.runModel(toBinary(ModelProtoSchema, model), inputs, { ep: flags.ep });
  const got = out.y.data as Float32Array;
  bar.update(2, flags.sample === undefined ? 'the float64 reference' : `the float64 reference of ${flags.sample} query groups`);
  const only = rand.rowSample(ir, flags.sample, flags.seed);
  const want = rand.referencePerSample(ir, q, k, v, { batch: B, heads: H, layout: 'bhnd', valid, only });
  const { max } = rand.maxAbsErrorOver(got, want, only ? sampleRows(ir, only) : null, { batch: B, heads: H, tokens: N, headDim: D, layout: 'bhnd' });
  const tol = flags.tolerance ?? 2e-4;
  return {
    device: `onnxruntime ${flags.ep}`, sampled: sampledJson(only),
    runs: [{ backend: 'onnx', variant: `onnx-${flags.ep}`, precision: 'f32', layout: 'bhnd', valid, maxAbsError: max, tolerance: tol, ok: max <= tol }],
  };
}

async function verifyWebgpuRuns(ir: PatternIR, flags: VerifyFlags, bar: Progress, built: PatternIR = ir): Promise<{ device: string; runs: VerifyRunJson[]; sampled: Sampled }> {
  const { source, diagnostics } = compileWgsl(built);
  if (!source) throw new CliError(`the WGSL backend cannot compile this pattern: ${diagnostics.map((d) => d.message).join('; ')}`, EXIT.diagnostics);
  const { sharedNodeGpu, verifyWebgpu } = await import('../../runtime/webgpu/verify.js');
  let gpu;
  try {
    gpu = await sharedNodeGpu();
  } catch (e) {
    throw usageError(oneLine(e));
  }
  const f16 = gpu.device.features.has('shader-f16');
  const precisions: Precision[] = flags.precision === 'both' ? (f16 ? ['f32', 'f16'] : ['f32']) : [flags.precision];
  if (precisions.includes('f16') && !f16) throw usageError(`this device (${gpu.description}) has no shader-f16: use --precision f32`);
  const layouts: Layout[] = flags.layout === 'both' ? ['bhnd', 'bnhd'] : [flags.layout];
  const runs: VerifyRunJson[] = [];
  let sampled: Sampled = null;
  // three steps a run: compile the shader (the slow one on lavapipe), run, compute the reference
  const steps = 3 * precisions.length * layouts.length;
  bar.setTotal(steps);
  const what = { compile: 'compiling the WGSL shader', run: 'running it', reference: 'the float64 reference' } as const;
  for (const precision of precisions) {
    for (const layout of layouts) {
      const done = 3 * runs.length;
      const onStage = (s: keyof typeof what): void => bar.update(Math.min(steps, done + Object.keys(what).indexOf(s)), `${precision} ${layout}: ${what[s]}`);
      const r = await verifyWebgpu(ir, { batch: flags.batch, heads: flags.heads, layout, precision, valid: flags.valid, seed: flags.seed, tolerance: flags.tolerance, sample: flags.sample, onStage }, gpu, source);
      runs.push({ backend: 'webgpu', variant: r.variant, reason: r.reason, precision, layout, valid: r.valid, maxAbsError: r.maxAbsError, tolerance: r.tolerance, ok: r.ok });
      sampled = sampledJson(r.sampled);
    }
  }
  return { device: gpu.description, runs, sampled };
}

export function register(program: Command, ctx: CommandContext = { io: processIo(), exit: (c) => { process.exitCode = Math.max(Number(process.exitCode ?? 0), c); } }): void {
  program
    .command('verify')
    .description('run a pattern\'s kernel on random inputs and print its largest error against the float64 reference')
    .argument('<file>', 'the .grat file')
    .addOption(new Option('--backend <backend>', 'what runs the pattern').choices(['webgpu', 'onnx']).default('webgpu'))
    .addOption(gridOption())
    .addOption(textOption())
    .addOption(new Option('--valid <n[,n...]>', 'valid text length, one for every sample or one per sample (default: every text token)').argParser(parseValid))
    .addOption(new Option('--batch <n>', 'batch size').argParser(positive).default(1))
    .addOption(new Option('--heads <n>', 'attention heads').argParser(positive).default(1))
    .addOption(new Option('--layout <layout>', 'tensor layout (webgpu)').choices(['bhnd', 'bnhd', 'both']).default('both'))
    .addOption(new Option('--precision <p>', 'element type (webgpu; both = f32 and, with shader-f16, f16)').choices(['f32', 'f16', 'both']).default('both'))
    .addOption(new Option('--ep <ep>', 'onnxruntime execution provider (onnx)').choices(['cpu', 'webgpu']).default('cpu'))
    .addOption(new Option('--seed <n>', 'random seed').argParser(parseCount).default(1))
    .addOption(new Option('--tolerance <x>', 'largest |error| accepted (default 2e-4 for f32, 4e-3 for f16)').argParser(tolerance))
    .addOption(new Option('--sample <n>', 'compare only N query groups and N text rows with the reference').argParser(positive))
    .option('--launch-sizes', 'build the kernel (or model) with the pattern\'s ? sizes taken at launch, as compile does without --grid, and run it at --grid/--text')
    .option('--json', 'print the results as JSON on stdout')
    .addOption(quietOption())
    .addHelpText('after', `
Inputs are uniform in [-1, 1) (seeded), rounded to the kernel's precision; the
reference is float64 attention with the pattern's mask (compiler/reference.ts),
computed on the CPU for every row while that is at most ${amount(BUDGET.verifyMacs)} multiply-adds
(the reference plus an onnxruntime CPU run; larger inputs are refused before any
work). --sample N runs the kernel on the whole input and compares N query groups
and N text query rows (the first, the last and N-2 at random, by --seed).
webgpu runs the WGSL kernel through Dawn on the first adapter (a Vulkan driver;
lavapipe works without a GPU); onnx runs the standalone ONNX model (layout bhnd,
f32) through onnxruntime. CUDA kernels are checked on a GPU machine by
bench/cuda/run.py check (bench/README.md).

Output: one line per run on stdout ("max |error| ... ok" or "... FAILED").
--json prints {pattern, device, tokens, batch, heads, sampled ({groups,
textRows} checked, or null for every row), ok, runs [{backend, variant,
reason (webgpu: why that variant ran), precision, layout, valid, maxAbsError,
tolerance, ok}]}. Progress goes to
stderr on a terminal (-q: none).

Exit status: 0 every run within tolerance, 1 an error above tolerance or errors
in the input file, 2 usage error (bad flags, unreadable file, no GPU adapter).

Each WGSL variant (precision x layout) is a new pipeline, and compiling one
takes lavapipe 10-40 s: name one --precision and --layout for a quick check.
A fixed grid too large for a reference of every row is checked with --sample,
e.g. examples/video_causal_anchor.grat (75,826 tokens) with --sample 4: the
kernel runs on every row (minutes on lavapipe, well under a second on a GPU).

Examples:
  $ gratc verify examples/flux_grat_b.grat --grid 20x36 --valid 17 --precision f32 --layout bhnd
  $ gratc verify examples/flux_grat_b.grat --grid 8x8 --backend onnx --batch 2 --valid 300,0
  $ gratc verify examples/sliding_window_1d.grat --grid 1000 --heads 4 --precision f32 --layout bnhd --json
  $ gratc verify examples/flux_grat_b.grat --grid 8x8 --backend onnx
  $ gratc verify examples/sliding_window_1d.grat --grid 100000 --sample 4 --precision f32 --layout bhnd
  $ gratc verify examples/flux_grat_b.grat --grid 20x36 --launch-sizes --backend onnx --batch 2 --valid 300,0`)
    .action(async (path: string, flags: VerifyFlags) => {
      const { io } = ctx;
      if (Array.isArray(flags.valid) && flags.valid.length !== flags.batch) {
        throw usageError(`--valid gives ${flags.valid.length} lengths for --batch ${flags.batch}: give one per sample, or one for all`);
      }
      const loaded = await loadPattern(io, path, flags);
      printDiagnostics(io, loaded.diagnostics, loaded.file);
      printSummary(io, countOf(loaded.diagnostics));
      const ir = loaded.ir;
      if (ir === null) { ctx.exit(EXIT.diagnostics); return; }
      const N = totalTokens(ir);
      // --launch-sizes: the same file with its ? sizes left to launch (what compile builds without --grid)
      let built: PatternIR = ir;
      if (flags.launchSizes) {
        const { checkSource } = await import('../../compiler/index.js');
        const open = checkSource(loaded.file.text, { defaultName: defaultNameFor(path), schedules: SCHEDULE_KEYS, runtimeSizes: true }).ir;
        if (!open?.runtime) throw usageError(`${path} fixes every size: --launch-sizes needs a ? grid size or text count`);
        built = open;
      }
      // the longest length bounds the work of every sample
      const costValid = Array.isArray(flags.valid) ? Math.max(...flags.valid) : flags.valid;
      // the reference's work and the tensors' size, refused up front (compiler/cost.ts)
      const cpuRuns = flags.backend === 'onnx' && flags.ep === 'cpu' ? 1 : 0;
      // (a sample's pairs are counted exactly: a few groups' keys)
      const samplePairs = (n: number): number => referenceSamplePairs(ir, rowSample(ir, n, flags.seed)!, costValid);
      requireAll(verifyWork(ir, { batch: flags.batch, heads: flags.heads, sample: flags.sample, cpuRuns, gridFromFlag: flags.grid !== undefined, samplePairs }, () => patternStats(ir, costValid).visiblePairs));
      let result: { device: string; runs: VerifyRunJson[]; sampled: Sampled };
      const bar = startProgress(io, flags.backend === 'onnx' ? 3 : 1, 'opening the GPU adapter', flags.quiet);
      try {
        result = flags.backend === 'onnx' ? await verifyOnnx(ir, flags, bar, built) : await verifyWebgpuRuns(ir, flags, bar, built);
      } catch (e) {
        if (e instanceof CliError) throw e;
        throw new CliError(oneLine(e), EXIT.diagnostics);
      } finally {
        bar.stop();
      }
      const ok = result.runs.every((r) => r.ok);
      if (flags.json) {
        const json: VerifyJson = { pattern: ir.name, device: result.device, tokens: N, batch: flags.batch, heads: flags.heads, sampled: result.sampled, launchSizes: built !== ir, runs: result.runs, ok };
        printJson(io, json);
      } else {
        io.out(`${ir.name}: ${N} tokens, batch ${flags.batch}, heads ${flags.heads} on ${result.device}${built !== ir ? ' (sizes taken at launch)' : ''}\n`);
        const s = result.sampled;
        if (s) io.out(`  checked query group${s.groups.length === 1 ? '' : 's'} ${s.groups.join(', ')}${s.textRows.length ? ` and text row${s.textRows.length === 1 ? '' : 's'} ${s.textRows.join(', ')}` : ''} (--sample ${flags.sample})\n`);
        for (const r of result.runs) {
          io.out(`  ${r.backend} ${r.variant} ${r.layout} valid=${r.valid}: max |error| ${r.maxAbsError.toExponential(2)} (tolerance ${r.tolerance.toExponential(0)}) ${r.ok ? 'ok' : 'FAILED'}\n`);
        }
      }
      if (!ok) ctx.exit(EXIT.diagnostics);
    });
}

export const registerVerify = register;

/**
 * `gratc verify FILE --backend webgpu|onnx`: runs the pattern's kernel on random inputs and
 * prints the largest |error| against the float64 reference (compiler/reference.ts).
 * webgpu: the WGSL kernel through Dawn (any Vulkan driver: lavapipe in CI, the GPU elsewhere),
 * for each precision the device supports and each layout. onnx: the standalone ONNX model
 * (codegen/onnx) through onnxruntime (CPU or WebGPU execution provider).
 * For CUDA GPUs, compile with `--target cuda` and run the loader's check instead.
 */
import { toBinary } from '@bufbuild/protobuf';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ModelProtoSchema } from 'onnx-buf';
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { referenceAttention, resolveValid } from '../../compiler/reference.js';
import { compileWgsl } from '../../codegen/wgsl/source.js';
import type { Layout, Precision } from '../../runtime/webgpu/index.js';
import { EXIT, CliError, oneLine, usageError } from '../exit.js';
import { processIo, type CommandContext } from '../io.js';
import { countOf, gridOption, loadPattern, parseCount, printDiagnostics, printJson, printSummary, textOption, type SizeFlags } from '../load.js';

interface VerifyFlags extends SizeFlags {
  backend: 'webgpu' | 'onnx';
  valid?: number;
  batch: number;
  heads: number;
  layout: Layout | 'both';
  precision: Precision | 'both';
  ep: 'cpu' | 'webgpu';
  seed: number;
  tolerance?: number;
  json?: boolean;
}

export interface VerifyRunJson {
  backend: string;
  variant: string;
  precision: string;
  layout: string;
  valid: number;
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
  runs: VerifyRunJson[];
  ok: boolean;
}

const positive = (v: string): number => {
  const n = parseCount(v);
  if (n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
};
const tolerance = (v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new InvalidArgumentError('expected a positive number (e.g. 1e-4).');
  return x;
};

/** Largest tokens × tokens the float64 reference is asked to compute on the CPU. */
const MAX_TOKENS = 20_000;
/** Elements of each of q, k, v (float64 reference copies included: ~1 GB at the limit). */
const MAX_ELEMENTS = 2 ** 25;

async function verifyOnnx(ir: PatternIR, flags: VerifyFlags): Promise<{ device: string; runs: VerifyRunJson[] }> {
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
  const valid = resolveValid(ir, flags.valid);
  const { model } = onnx.standaloneModel(ir, { elemType: tensor.DT.FLOAT });
  const q = Float32Array.from(rand.randomValues(n, flags.seed)), k = Float32Array.from(rand.randomValues(n, flags.seed + 1)), v = Float32Array.from(rand.randomValues(n, flags.seed + 2));
  const shape = [B, H, N, D];
  const inputs: Record<string, import('../../runtime/onnx/npy.js').NdArray> = {
    q: { dtype: 'float32', shape, data: q }, k: { dtype: 'float32', shape, data: k }, v: { dtype: 'float32', shape, data: v },
  };
  if (ir.text) inputs.text_valid = { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(valid)) };
  const out = await run.runModel(toBinary(ModelProtoSchema, model), inputs, { ep: flags.ep });
  const got = out.y.data as Float32Array;
  const want = referenceAttention(ir, q, k, v, { batch: B, heads: H, layout: 'bhnd', valid });
  let max = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= max)) max = Number.isNaN(e) ? Infinity : e;
  }
  const tol = flags.tolerance ?? 2e-4;
  return { device: `onnxruntime ${flags.ep}`, runs: [{ backend: 'onnx', variant: `onnx-${flags.ep}`, precision: 'f32', layout: 'bhnd', valid, maxAbsError: max, tolerance: tol, ok: max <= tol }] };
}

async function verifyWebgpuRuns(ir: PatternIR, flags: VerifyFlags): Promise<{ device: string; runs: VerifyRunJson[] }> {
  const { source, diagnostics } = compileWgsl(ir);
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
  for (const precision of precisions) {
    for (const layout of layouts) {
      const r = await verifyWebgpu(ir, { batch: flags.batch, heads: flags.heads, layout, precision, valid: flags.valid, seed: flags.seed, tolerance: flags.tolerance }, gpu, source);
      runs.push({ backend: 'webgpu', variant: r.variant, precision, layout, valid: r.valid, maxAbsError: r.maxAbsError, tolerance: r.tolerance, ok: r.ok });
    }
  }
  return { device: gpu.description, runs };
}

export function register(program: Command, ctx: CommandContext = { io: processIo(), exit: (c) => { process.exitCode = Math.max(Number(process.exitCode ?? 0), c); } }): void {
  program
    .command('verify')
    .description('run a pattern\'s kernel on random inputs and print its largest error against the float64 reference')
    .argument('<file>', 'the .grat file')
    .addOption(new Option('--backend <backend>', 'what runs the pattern').choices(['webgpu', 'onnx']).default('webgpu'))
    .addOption(gridOption())
    .addOption(textOption())
    .addOption(new Option('--valid <n>', 'valid text length (default: every text token)').argParser(parseCount))
    .addOption(new Option('--batch <n>', 'batch size').argParser(positive).default(1))
    .addOption(new Option('--heads <n>', 'attention heads').argParser(positive).default(1))
    .addOption(new Option('--layout <layout>', 'tensor layout (webgpu)').choices(['bhnd', 'bnhd', 'both']).default('both'))
    .addOption(new Option('--precision <p>', 'element type (webgpu; both = f32 and, with shader-f16, f16)').choices(['f32', 'f16', 'both']).default('both'))
    .addOption(new Option('--ep <ep>', 'onnxruntime execution provider (onnx)').choices(['cpu', 'webgpu']).default('cpu'))
    .addOption(new Option('--seed <n>', 'random seed').argParser(parseCount).default(1))
    .addOption(new Option('--tolerance <x>', 'largest |error| accepted (default 2e-4 for f32, 4e-3 for f16)').argParser(tolerance))
    .option('--json', 'print the results as JSON on stdout')
    .addHelpText('after', `
Inputs are uniform in [-1, 1) (seeded), rounded to the kernel's precision; the
reference is float64 attention with the pattern's mask (compiler/reference.ts).
webgpu runs the WGSL kernel through Dawn on the first adapter (a Vulkan driver;
lavapipe works without a GPU); onnx runs the standalone ONNX model (layout bhnd,
f32) through onnxruntime. For CUDA, compile with --target cuda and run the
loader's check on the GPU machine.

Output: one line per run on stdout ("max |error| ... ok" or "... FAILED").
--json prints {pattern, device, tokens, batch, heads, ok, runs [{backend,
variant, precision, layout, valid, maxAbsError, tolerance, ok}]}.

Exit status: 0 every run within tolerance, 1 an error above tolerance or errors
in the input file, 2 usage error (bad flags, unreadable file, no GPU adapter).

Examples:
  $ gratc verify examples/flux_grat_b.grat --grid 20x36 --text 40 --valid 17
  $ gratc verify examples/sliding_window_1d.grat --grid 1000 --layout bnhd --heads 4 --json
  $ gratc verify examples/flux_grat_b.grat --grid 8x8 --text 16 --backend onnx`)
    .action(async (path: string, flags: VerifyFlags) => {
      const { io } = ctx;
      const loaded = await loadPattern(io, path, flags);
      printDiagnostics(io, loaded.diagnostics, loaded.file);
      printSummary(io, countOf(loaded.diagnostics));
      const ir = loaded.ir;
      if (ir === null) { ctx.exit(EXIT.diagnostics); return; }
      const N = totalTokens(ir);
      if (N > MAX_TOKENS) throw usageError(`${N} tokens is too many for the float64 reference on the CPU (limit ${MAX_TOKENS}); pass a smaller --grid`);
      const elements = flags.batch * flags.heads * N * ir.headDim;
      if (elements > MAX_ELEMENTS) throw usageError(`--batch ${flags.batch} × --heads ${flags.heads} × ${N} tokens × head_dim ${ir.headDim} is ${elements.toExponential(2)} elements per tensor; at most ${MAX_ELEMENTS.toLocaleString('en-US')}`);
      let result: { device: string; runs: VerifyRunJson[] };
      try {
        result = flags.backend === 'onnx' ? await verifyOnnx(ir, flags) : await verifyWebgpuRuns(ir, flags);
      } catch (e) {
        if (e instanceof CliError) throw e;
        throw new CliError(oneLine(e), EXIT.diagnostics);
      }
      const ok = result.runs.every((r) => r.ok);
      if (flags.json) {
        const json: VerifyJson = { pattern: ir.name, device: result.device, tokens: N, batch: flags.batch, heads: flags.heads, runs: result.runs, ok };
        printJson(io, json);
      } else {
        io.out(`${ir.name}: ${N} tokens, batch ${flags.batch}, heads ${flags.heads} on ${result.device}\n`);
        for (const r of result.runs) {
          io.out(`  ${r.backend} ${r.variant} ${r.layout} valid=${r.valid}: max |error| ${r.maxAbsError.toExponential(2)} (tolerance ${r.tolerance.toExponential(0)}) ${r.ok ? 'ok' : 'FAILED'}\n`);
        }
      }
      if (!ok) ctx.exit(EXIT.diagnostics);
    });
}

export const registerVerify = register;

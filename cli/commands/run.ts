/**
 * `gratc run MODEL --input name=x.npy ... [--output out.npy | name=out.npy ...]`: runs a model
 * with onnxruntime-node (CPU, or `--ep webgpu`), reading inputs from and writing outputs to .npy.
 * Files go through runtime/files.ts: inputs are regular files under a size cap; outputs are
 * written together, never onto the model, its external data or an input.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadModel } from '../../runtime/onnx/model.js';
import { MAX_NPY_BYTES, parseNpy, toNpy, type NdArray } from '../../runtime/onnx/npy.js';
import { EPS, MAX_THREADS, openSession, runSession, type Ep } from '../../runtime/onnx/run.js';
import { FileError, readInput } from '../../runtime/files.js';
import { inputError, terminalSafe, usageError } from '../exit.js';
import { fileStep, outputsFor } from '../fsutil.js';
import type { CommandContext } from '../io.js';
import { parseCount, printJson } from '../load.js';
import { quietOption, startProgress } from '../progress.js';
import { onnxStep } from './patch.js';

interface RunFlags {
  input?: [string, string][];
  output?: [string | null, string][];
  ep: Ep;
  threads?: number;
  json?: boolean;
  quiet?: boolean;
}

const pair = (nameRequired: boolean) => (value: string, prev: [string | null, string][] = []): [string | null, string][] => {
  const i = value.indexOf('=');
  if (i < 0 && nameRequired) throw new InvalidArgumentError(`expected NAME=FILE.npy, got '${value}'`);
  const name = i < 0 ? null : value.slice(0, i), file = i < 0 ? value : value.slice(i + 1);
  if ((name !== null && name.length === 0) || file.length === 0) throw new InvalidArgumentError(`expected ${nameRequired ? 'NAME=FILE.npy' : '[NAME=]FILE.npy'}, got '${value}'`);
  return [...prev, [name, file]];
};

/** `--threads n`: 0 (onnxruntime's choice) to MAX_THREADS; more would only start idle threads. */
export function parseThreads(value: string): number {
  const n = parseCount(value);
  if (n > MAX_THREADS) throw new InvalidArgumentError(`at most ${MAX_THREADS}.`);
  return n;
}

export interface OutputSummary {
  /** Smallest and largest value that is not NaN; null when there is none. */
  min: number | null;
  max: number | null;
  /** Mean of the values that are not NaN; null when there are none. */
  mean: number | null;
  /** How many values are NaN. */
  nan: number;
}

export interface RunJson {
  model: string;
  ep: Ep;
  ms: number;
  outputs: ({ name: string; dtype: string; shape: number[]; file: string | null } & OutputSummary)[];
}

/** min, max and mean over the values that are not NaN, and the NaN count (a NaN never compares). */
export function summary(a: NdArray): OutputSummary {
  let min = Infinity, max = -Infinity, sum = 0, nan = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = Number(a.data[i]);
    if (Number.isNaN(x)) { nan++; continue; }
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  const n = a.data.length - nan;
  return n === 0 ? { min: null, max: null, mean: null, nan } : { min, max, mean: sum / n, nan };
}

const num = (x: number | null): string => (x === null ? '-' : x.toPrecision(5));

export function registerRun(program: Command, ctx: CommandContext): void {
  program
    .command('run')
    .description('run an ONNX model (original or patched) with onnxruntime on .npy inputs')
    .argument('<model>', 'the .onnx model')
    .option('--input <name=file.npy>', 'an input (repeat for each model input)', pair(true))
    .option('--output <[name=]file.npy>', 'write an output (no name: the first output; repeatable)', pair(false))
    .addOption(new Option('--ep <ep>', 'execution provider').choices([...EPS]).default('cpu'))
    .addOption(new Option('--threads <n>', `intra-op threads, at most ${MAX_THREADS} (default: all cores)`).argParser(parseThreads))
    .option('--json', 'print outputs (shape, min, max, mean, NaN count) and timing as JSON')
    .addOption(quietOption())
    .addHelpText('after', `
Without --output, prints each output's shape and min/max/mean (over the values
that are not NaN; NaNs are counted).
Inputs: regular .npy files of at most ${(MAX_NPY_BYTES / 2 ** 30).toFixed(0)} GiB, headers as numpy writes them.
A model of gratc's (compile --target onnx, or patched) may take text_valid
(int64: one length, or one per sample [batch]) and, where the pattern's grid is
taken at run time, grid (int64 [rank], outermost first).
Outputs are written together (all or none), each to a new file or over an
existing regular file: never onto a link, a device, a FIFO, the model, its
external data or an input.
The WebGPU provider needs a Vulkan driver (lavapipe works without a GPU).

Exit status: 0 ok, 1 bad model or input file or runtime failure, 2 usage
(including an output path that may not be written).

gratc demo --save writes the embedded model, its patched copy and their inputs
for the examples to run.

Examples:
  $ gratc demo --save build/demo
  $ gratc run build/demo/default.grat.onnx --input text=build/demo/text.npy --input image=build/demo/image.npy --output build/y.npy
  $ gratc run build/demo/default.grat.onnx --input text=build/demo/text.npy --input image=build/demo/image.npy --ep webgpu --json`)
    .action(async (modelPath: string, flags: RunFlags) => {
      const { io } = ctx;
      const outputs = await outputsFor(io, []);
      const inputs: Record<string, NdArray> = {};
      for (const [name, file] of flags.input ?? []) {
        if (name! in inputs) throw usageError(`input '${name}' is given twice`);
        let read;
        try {
          read = await readInput(resolve(io.cwd, file), file, { bytes: MAX_NPY_BYTES, what: 'a .npy input' });
        } catch (e) {
          if (e instanceof FileError) throw inputError(e.message);
          throw e;
        }
        outputs.input(read.id, file);
        inputs[name!] = await onnxStep(async () => parseNpy(read.bytes, file));
      }
      const abs = resolve(io.cwd, modelPath);
      const bar = startProgress(io, 3, `reading ${terminalSafe(modelPath)}`, flags.quiet);
      const { outputs: results, ms } = await onnxStep(async () => {
        // regular files only, external data inside the model's folder (runtime/files.ts), before onnxruntime reads them
        const loaded = await loadModel(abs, modelPath);
        for (const f of loaded.files) outputs.input(f.id, f.shownAs);
        bar.update(1, `opening an onnxruntime session (${flags.ep})`);
        const session = await openSession(abs, { ep: flags.ep, threads: flags.threads });
        try {
          bar.update(2, 'running');
          const t0 = performance.now();
          const outputs = await runSession(session, inputs);
          return { outputs, ms: performance.now() - t0 };
        } finally {
          await session.release();
        }
      }).finally(() => bar.stop());
      const names = Object.keys(results);
      const files = new Map<string, string>();
      for (const [name, file] of flags.output ?? []) {
        const n = name ?? names[0];
        if (!(n in results)) throw inputError(`the model has no output '${n}' (it has ${names.join(', ')})`);
        if (files.has(n)) throw usageError(`output '${n}' is given twice`);
        files.set(n, file);
      }
      await fileStep(() => outputs.transaction(async (o) => {
        for (const [n, file] of files) await o.stage(resolve(io.cwd, file), file, toNpy(results[n]));
      }));
      const report: RunJson = {
        model: modelPath, ep: flags.ep, ms,
        outputs: names.map((n) => ({ name: n, dtype: results[n].dtype, shape: [...results[n].shape], ...summary(results[n]), file: files.get(n) ?? null })),
      };
      if (flags.json) { printJson(io, report); return; }
      for (const o of report.outputs) {
        const nan = o.nan > 0 ? ` (${o.nan.toLocaleString('en-US')} NaN)` : '';
        io.out(`${terminalSafe(o.name)}: ${o.dtype}[${o.shape.join(', ')}] min ${num(o.min)} max ${num(o.max)} mean ${num(o.mean)}${nan}${o.file ? ` → ${terminalSafe(o.file)}` : ''}\n`);
      }
      io.out(`ran in ${ms.toFixed(1)} ms (${flags.ep})\n`);
    });
}

/**
 * `gratc run MODEL --input name=x.npy ... [--output out.npy | name=out.npy ...]`: runs a model
 * with onnxruntime-node (CPU, or `--ep webgpu`), reading inputs from and writing outputs to .npy.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadModel } from '../../runtime/onnx/model.js';
import { parseNpy, toNpy, type NdArray } from '../../runtime/onnx/npy.js';
import { EPS, openSession, runSession, type Ep } from '../../runtime/onnx/run.js';
import { inputError, usageError } from '../exit.js';
import { writeAtomic } from '../fsutil.js';
import type { CommandContext } from '../io.js';
import { parseCount, printJson } from '../load.js';
import { onnxStep } from './patch.js';

interface RunFlags {
  input?: [string, string][];
  output?: [string | null, string][];
  ep: Ep;
  threads?: number;
  json?: boolean;
}

const pair = (nameRequired: boolean) => (value: string, prev: [string | null, string][] = []): [string | null, string][] => {
  const i = value.indexOf('=');
  if (i < 0 && nameRequired) throw new InvalidArgumentError(`expected NAME=FILE.npy, got '${value}'`);
  const name = i < 0 ? null : value.slice(0, i), file = i < 0 ? value : value.slice(i + 1);
  if ((name !== null && name.length === 0) || file.length === 0) throw new InvalidArgumentError(`expected ${nameRequired ? 'NAME=FILE.npy' : '[NAME=]FILE.npy'}, got '${value}'`);
  return [...prev, [name, file]];
};

export interface RunJson {
  model: string;
  ep: Ep;
  ms: number;
  outputs: { name: string; dtype: string; shape: number[]; min: number; max: number; mean: number; file: string | null }[];
}

function summary(a: NdArray): { min: number; max: number; mean: number } {
  let min = Infinity, max = -Infinity, sum = 0;
  for (let i = 0; i < a.data.length; i++) { const x = Number(a.data[i]); if (x < min) min = x; if (x > max) max = x; sum += x; }
  return { min, max, mean: a.data.length ? sum / a.data.length : NaN };
}

export function registerRun(program: Command, ctx: CommandContext): void {
  program
    .command('run')
    .description('run an ONNX model (original or patched) with onnxruntime on .npy inputs')
    .argument('<model>', 'the .onnx model')
    .option('--input <name=file.npy>', 'an input (repeat for each model input)', pair(true))
    .option('--output <[name=]file.npy>', 'write an output (no name: the first output; repeatable)', pair(false))
    .addOption(new Option('--ep <ep>', 'execution provider').choices([...EPS]).default('cpu'))
    .addOption(new Option('--threads <n>', 'intra-op threads (default: all cores)').argParser(parseCount))
    .option('--json', 'print outputs (shape, min, max, mean) and timing as JSON')
    .addHelpText('after', `
Without --output, prints each output's shape and min/max/mean.
The WebGPU provider needs a Vulkan driver (lavapipe works without a GPU).

Exit status: 0 ok, 1 bad model or input file or runtime failure, 2 usage.

Examples:
  $ gratc run model.grat.onnx --input x=x.npy --output y.npy
  $ gratc run model.grat.onnx --input text=t.npy --input image=i.npy --ep webgpu --json`)
    .action(async (modelPath: string, flags: RunFlags) => {
      const { io } = ctx;
      const inputs: Record<string, NdArray> = {};
      for (const [name, file] of flags.input ?? []) {
        if (name! in inputs) throw usageError(`input '${name}' is given twice`);
        let buf: Buffer;
        try { buf = await readFile(resolve(io.cwd, file)); } catch { throw inputError(`cannot read input file '${file}'`); }
        inputs[name!] = await onnxStep(async () => parseNpy(buf, file));
      }
      const abs = resolve(io.cwd, modelPath);
      const { outputs, ms } = await onnxStep(async () => {
        await loadModel(abs, modelPath); // one-line errors for corrupt files and missing external data
        const session = await openSession(abs, { ep: flags.ep, threads: flags.threads });
        try {
          const t0 = performance.now();
          const outputs = await runSession(session, inputs);
          return { outputs, ms: performance.now() - t0 };
        } finally {
          await session.release();
        }
      });
      const names = Object.keys(outputs);
      const files = new Map<string, string>();
      for (const [name, file] of flags.output ?? []) {
        const n = name ?? names[0];
        if (!(n in outputs)) throw inputError(`the model has no output '${n}' (it has ${names.join(', ')})`);
        files.set(n, file);
      }
      for (const [n, file] of files) await writeAtomic(resolve(io.cwd, file), toNpy(outputs[n]), file);
      const report: RunJson = {
        model: modelPath, ep: flags.ep, ms,
        outputs: names.map((n) => ({ name: n, dtype: outputs[n].dtype, shape: [...outputs[n].shape], ...summary(outputs[n]), file: files.get(n) ?? null })),
      };
      if (flags.json) { printJson(io, report); return; }
      for (const o of report.outputs) {
        io.out(`${o.name}: ${o.dtype}[${o.shape.join(', ')}] min ${o.min.toPrecision(5)} max ${o.max.toPrecision(5)} mean ${o.mean.toPrecision(5)}${o.file ? ` → ${o.file}` : ''}\n`);
      }
      io.out(`ran in ${ms.toFixed(1)} ms (${flags.ep})\n`);
    });
}

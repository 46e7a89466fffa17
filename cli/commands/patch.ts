/**
 * `gratc patch MODEL --pattern P.grat --out OUT`: replaces every attention of an ONNX model with
 * the pattern's sparse attention (runtime/onnx/patch.ts) and prints what it found. The input is
 * never modified; the output is written atomically, and not at all when nothing was patched.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { OnnxError } from '../../runtime/onnx/model.js';
import { formatRows, patchFile, PatternError, type PatchRow } from '../../runtime/onnx/patch.js';
import { EXIT, inputError, usageError } from '../exit.js';
import type { CommandContext } from '../io.js';
import { countOf, defaultNameFor, gridOption, loadPattern, printDiagnostics, printJson, printSummary, textOption, UNBOUND_TEXT, type SizeFlags } from '../load.js';

interface PatchFlags extends SizeFlags {
  pattern: string;
  out: string;
  json?: boolean;
  denseMask?: boolean;
  only?: string[];
}

export interface PatchJson {
  model: string;
  out: string | null;
  pattern: string;
  patched: number;
  attentions: PatchRow[];
  functions: string[];
  bytes: number | null;
}

/** Runs an ONNX step; its input problems become exit-1 errors. */
export async function onnxStep<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof OnnxError) throw inputError(e.message.replace(/\s*\n\s*/g, ' '));
    throw e;
  }
}

export function registerPatch(program: Command, ctx: CommandContext): void {
  program
    .command('patch')
    .description('replace every attention of an ONNX model with a pattern\'s sparse attention')
    .argument('<model>', 'the .onnx model (never modified)')
    .requiredOption('--pattern <file>', 'the .grat pattern')
    .requiredOption('--out <file>', 'the patched model to write')
    .addOption(gridOption())
    .addOption(textOption())
    .option('--only <node...>', 'patch only the attentions whose first node has one of these names')
    .option('--dense-mask', 'lower to the O(N²) dense-masked reference instead (for checking)')
    .option('--json', 'print what was found and patched as JSON on stdout')
    .addHelpText('after', `
Attention forms found: MatMul(Q,Kᵀ) → scale → [mask Add] → Softmax → MatMul(V) as
PyTorch's TorchScript (opset 17) and dynamo (18+) exporters write it; ONNX
opset-23 Attention; com.microsoft MultiHeadAttention and Attention. Each must
have a static sequence length equal to the pattern's grid + text (a 'text ?'
left unbound takes the rest). Per-key additive masks are combined; others are
refused. The pattern goes into a model-local function in the ai.grat domain.

Exit status: 0 some attention patched, 1 bad model or pattern or nothing
patched (nothing is written), 2 usage.

Examples:
  $ gratc patch model.onnx --pattern examples/flux_grat_b.grat --grid 64x64 --out model.grat.onnx
  $ gratc patch model.onnx --pattern p.grat --grid 32x32 --text 77 --out p.onnx --json`)
    .action(async (modelPath: string, flags: PatchFlags) => {
      const { io } = ctx;
      const inAbs = resolve(io.cwd, modelPath), outAbs = resolve(io.cwd, flags.out);
      if (inAbs === outAbs) throw usageError('--out must differ from the input model (the input is never modified)');
      const loaded = await loadPattern(io, flags.pattern, flags, true);
      const errs = loaded.diagnostics.filter((d) => d.severity === 'error' && !(d.code === UNBOUND_TEXT && flags.text === undefined));
      if (errs.length > 0) {
        printDiagnostics(io, loaded.diagnostics, loaded.file);
        printSummary(io, countOf(loaded.diagnostics));
        ctx.exit(EXIT.diagnostics);
        return;
      }
      const spec = { source: loaded.file.text, name: defaultNameFor(flags.pattern), grid: flags.grid, text: flags.text };
      let result;
      try {
        result = await onnxStep(() => patchFile(inAbs, outAbs, spec, { lowering: flags.denseMask ? 'dense-mask' : 'sparse', only: flags.only }));
      } catch (e) {
        if (e instanceof PatternError) throw inputError(e.message);
        throw e;
      }
      const json: PatchJson = {
        model: modelPath, out: result.saved ? flags.out : null, pattern: loaded.ir?.name ?? spec.name, patched: result.patched,
        attentions: [...result.rows], functions: result.functions.map((f) => f.name), bytes: result.saved?.bytes ?? null,
      };
      if (flags.json) printJson(io, json);
      else if (result.rows.length > 0) io.out(`${formatRows(result.rows)}\n`);
      if (result.rows.length === 0) throw inputError(`no attention found in '${modelPath}'; nothing was written`);
      if (result.patched === 0) throw inputError(`no attention of '${modelPath}' could be patched (see the table); nothing was written`);
      if (!flags.json) io.out(`patched ${result.patched} of ${result.rows.length} attention${result.rows.length > 1 ? 's' : ''} → ${flags.out} (${result.saved!.bytes.toLocaleString('en-US')} bytes)\n`);
    });
}

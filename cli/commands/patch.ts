/**
 * `gratc patch MODEL --pattern P.grat --out OUT`: replaces every attention of an ONNX model with
 * the pattern's sparse attention (runtime/onnx/patch.ts) and prints what it found and every file
 * it wrote. No file it reads (the model, its external data, the pattern) is ever written, by
 * whatever path it is named; the output is written atomically, and not at all when nothing was
 * patched.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { FileError } from '../../runtime/files.js';
import { OnnxError } from '../../runtime/onnx/model.js';
import { formatRows, patchFile, PatternError, type PatchRow } from '../../runtime/onnx/patch.js';
import { EXIT, inputError, terminalSafe, usageError } from '../exit.js';
import { outputsFor } from '../fsutil.js';
import type { CommandContext } from '../io.js';
import {
  countOf, defaultNameFor, diagnosticJson, gridOption, loadPattern, printDiagnostics, printJson, printSummary, textOption, UNBOUND_TEXT,
  type DiagnosticJson, type SizeFlags,
} from '../load.js';
import { quietOption, startProgress } from '../progress.js';
import { modelWinsWarnings, statedIn } from '../stated.js';

interface PatchFlags extends SizeFlags {
  pattern: string;
  out: string;
  json?: boolean;
  denseMask?: boolean;
  only?: string[];
  quiet?: boolean;
}

export interface PatchJson {
  model: string;
  out: string | null;
  pattern: string;
  patched: number;
  attentions: PatchRow[];
  functions: string[];
  /** Size of the model written (null when nothing was). */
  bytes: number | null;
  /** Every file written, the model last: paths as given (the data file beside --out). */
  files: { path: string; role: 'model' | 'external data'; bytes: number }[];
  /** The pattern's diagnostics: W0801 where its head_dim, dtype or scale is not the model's. */
  diagnostics: DiagnosticJson[];
}

/**
 * Runs an ONNX step; its input problems become exit-1 errors, an output it may not write
 * (runtime/files.ts) a usage error (exit 2).
 */
export async function onnxStep<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof PatternError && e.diagnostics.length > 0) throw e; // shown as diagnostics by the caller
    if (e instanceof OnnxError) throw inputError(e.message.replace(/\s*\n\s*/g, ' '));
    if (e instanceof FileError) throw usageError(e.message);
    throw e;
  }
}

export function registerPatch(program: Command, ctx: CommandContext): void {
  program
    .command('patch')
    .description('replace every attention of an ONNX model with a pattern\'s sparse attention')
    .argument('<model>', 'the .onnx model (never modified)')
    .requiredOption('--pattern <file>', 'the .grat pattern')
    .requiredOption('--out <file>', 'the patched model to write (and OUT.data beside it when needed)')
    .addOption(gridOption())
    .addOption(textOption())
    .option('--only <node...>', 'patch only the attentions whose first node has one of these names')
    .option('--dense-mask', 'lower to the O(N²) dense-masked reference instead (for checking)')
    .option('--json', 'print what was found and patched as JSON on stdout')
    .addOption(quietOption())
    .addHelpText('after', `
Attention forms found: MatMul(Q,Kᵀ) → scale → [mask Add] → Softmax → MatMul(V) as
PyTorch's TorchScript (opset 17) and dynamo (18+) exporters write it; ONNX
opset-23 Attention; com.microsoft MultiHeadAttention and Attention. Each must
have a head_dim that is static. A static sequence length must equal the
pattern's grid + text (a 'text ?' left unbound takes the rest). A symbolic one
(a model exported with a dynamic sequence axis) is patched with the pattern's
unbound '?' sizes taken at run time, so one patched model serves every
resolution: they come from the sequence length when one size is open, else
from a new model input 'grid' (int64 [rank], outermost first); sizes that do
not add up fail in onnxruntime. Per-key additive masks are combined; others
are refused. The pattern goes into a model-local function in the ai.grat
domain.

The model's head_dim, dtype and scale are kept: a patch changes which keys each
query sees, not the arithmetic. The pattern's own head_dim, dtype and scale
(which compile uses) are ignored here, with warning W0801 where they differ
from the model's. For a static sequence length the grid must be bound (--grid
for 'grid h=? w=?').

Files: the model and its external data must be regular files, the data inside
the model's folder (symbolic links that leave it are refused). When --out is
in the model's folder, the patched model refers to the same external data.
Otherwise every external tensor is copied into OUT.data (e.g. p.onnx.data),
named after the output so that two outputs in one folder never share a data
file; a model over 2 GB also has its large initializers moved there. OUT.data
replaces an existing file only together with an existing OUT. --out may be a
new file or an existing regular file, never a link, a device, a FIFO, or a
file patch reads (compared by device and inode, whatever the path). Every file
written is listed; on failure none is written or replaced.

Exit status: 0 some attention patched, 1 bad model or pattern or nothing
patched (nothing is written), 2 usage (including an output that may not be
written).

--json prints {model, out, pattern, patched, attentions [{nodes, form, heads,
headDim, seq, scale, dtype, mask, patched, note}], functions, bytes, files
[{path, role: model | external data, bytes}], diagnostics [as check --json]}.

gratc demo --save writes the embedded model (64 text tokens before a 64x64 grid)
for the examples to patch.

Examples:
  $ gratc demo --save build/demo
  $ gratc patch build/demo/default.onnx --pattern examples/dit_grat_b.grat --grid 64x64 --out build/model.grat.onnx
  $ gratc patch build/demo/default.onnx --pattern examples/dit_grat_b.grat --grid 64x64 --only /blocks.0.attn.qk --out build/first.onnx --json`)
    .action(async (modelPath: string, flags: PatchFlags) => {
      const { io } = ctx;
      const inAbs = resolve(io.cwd, modelPath), outAbs = resolve(io.cwd, flags.out);
      if (inAbs === outAbs) throw usageError('--out must differ from the input model (the input is never modified)');
      // the model's own files are added by patchFile; any other path to them is caught by inode
      const outputs = await outputsFor(io, [flags.pattern]);
      // `?` sizes nothing binds: taken at run time where an attention's sequence length is not
      // static; for a static one an unbound grid is an error (positioned, with its hint, from the
      // patch below) and an unbound text takes the rest
      const loaded = await loadPattern(io, flags.pattern, flags, false, true);
      const shown = loaded.diagnostics.filter((d) => !(d.code === UNBOUND_TEXT && flags.text === undefined));
      if (shown.some((d) => d.severity === 'error')) {
        printDiagnostics(io, shown, loaded.file);
        printSummary(io, countOf(shown));
        ctx.exit(EXIT.diagnostics);
        return;
      }
      const spec = { source: loaded.file.text, name: defaultNameFor(flags.pattern), grid: flags.grid, text: flags.text };
      let result;
      const bar = startProgress(io, 1, `reading, patching and writing ${terminalSafe(modelPath)}`, flags.quiet);
      try {
        result = await onnxStep(() => patchFile(inAbs, outAbs, spec, { lowering: flags.denseMask ? 'dense-mask' : 'sparse', only: flags.only, outputs, shownAs: flags.out, inputShownAs: modelPath }));
      } catch (e) {
        bar.stop();
        if (e instanceof PatternError && e.diagnostics.length > 0) {
          // sizes bound per attention (the text from its sequence length) can still fail: shown like
          // check; an unbound text is not one of them (it takes the rest)
          const ds = e.diagnostics.filter((d) => !(d.code === UNBOUND_TEXT && flags.text === undefined));
          printDiagnostics(io, ds, loaded.file);
          printSummary(io, countOf(ds));
          ctx.exit(EXIT.diagnostics);
          return;
        }
        if (e instanceof PatternError) throw inputError(e.message);
        throw e;
      } finally {
        bar.stop();
      }
      const patchedRows = result.rows.filter((r) => r.patched);
      const warnings = [...shown, ...modelWinsWarnings(statedIn(loaded.file.text), {
        headDims: patchedRows.map((r) => r.headDim), dtypes: patchedRows.map((r) => r.dtype), scales: patchedRows.map((r) => r.scale),
      })];
      if (!flags.json) {
        printDiagnostics(io, warnings, loaded.file);
        printSummary(io, countOf(warnings));
      }
      const json: PatchJson = {
        model: modelPath, out: result.saved ? flags.out : null, pattern: loaded.ir?.name ?? spec.name, patched: result.patched,
        attentions: [...result.rows], functions: result.functions.map((f) => f.name), bytes: result.saved?.bytes ?? null,
        files: (result.saved?.written ?? []).map((w) => ({ path: w.shownAs, role: w.path === result.saved!.path ? 'model' : 'external data', bytes: w.bytes })),
        diagnostics: warnings.map((d) => diagnosticJson(d, loaded.file.text)),
      };
      if (flags.json) printJson(io, json);
      else if (result.rows.length > 0) io.out(`${formatRows(result.rows)}\n`);
      if (result.rows.length === 0) throw inputError(`no attention found in '${modelPath}'; nothing was written`);
      if (result.patched === 0) throw inputError(`no attention of '${modelPath}' could be patched (see the table); nothing was written`);
      if (flags.json) return;
      io.out(`patched ${result.patched} of ${result.rows.length} attention${result.rows.length > 1 ? 's' : ''} → ${terminalSafe(flags.out)} (${result.saved!.bytes.toLocaleString('en-US')} bytes)\n`);
      for (const f of json.files) io.out(`wrote ${terminalSafe(f.path)} (${f.role}, ${f.bytes.toLocaleString('en-US')} bytes)\n`);
    });
}

/**
 * `gratc check FILE...`: diagnostics only. Sizes left as `?` need no binding here: the
 * checker's "unbound size" errors are dropped unless a size flag was given.
 */
import type { Command } from 'commander';
import { CliError, EXIT, terminalSafe } from '../exit.js';
import type { CommandContext } from '../io.js';
import {
  addCounts, countOf, diagnosticJson, gridOption, loadPattern, printDiagnostics, printJson, printSummary,
  summaryLine, textOption, type Counts, type DiagnosticJson, type SizeFlags,
} from '../load.js';

interface CheckFlags extends SizeFlags { json?: boolean }

export interface CheckFileJson {
  path: string;
  ok: boolean;
  diagnostics: DiagnosticJson[];
  /** Only when the file could not be read. */
  error?: string;
}

export function registerCheck(program: Command, ctx: CommandContext): void {
  program
    .command('check')
    .description('check .grat files and print their diagnostics')
    .argument('<files...>', '.grat files to check')
    .addOption(gridOption())
    .addOption(textOption())
    .option('--json', 'print the results as JSON on stdout instead of rendered diagnostics')
    .addHelpText('after', `
Sizes left as ? are not required for check: unbound-size errors (E0301 grid,
E0302 text) are reported only when --grid or --text is given (then for both,
as compile would).

Output: rendered diagnostics (file:line:col) and a summary line on stderr;
"FILE: ok" on stdout for each file without errors.

--json prints to stdout:
  {"files": [{"path", "ok", "diagnostics": [{"severity", "code", "message",
     "line", "col", "endLine", "endCol", "hint", "notes": [{"message", "line",
     "col", "endLine", "endCol"}]}], "error"?: "only if the file was unreadable"}]}
  Lines and columns are 1-based; null when a diagnostic has no location.

Exit status: 0 no errors (warnings allowed), 1 errors in a file, 2 usage error
or unreadable file.

Examples:
  $ gratc check examples/flux_grat_b.grat
  $ gratc check --grid 128x128 examples/flux_grat_*.grat
  $ gratc check --json examples/*.grat`)
    .action(async (files: string[], flags: CheckFlags) => {
      const { io } = ctx;
      const results: CheckFileJson[] = [];
      let total: Counts = { errors: 0, warnings: 0 };
      for (const path of files) {
        try {
          // with any size bound, check as compile would: every `?` left unbound is an error
          const loaded = await loadPattern(io, path, flags, flags.grid === undefined && flags.text === undefined);
          const counts = countOf(loaded.diagnostics);
          total = addCounts(total, counts);
          const ok = counts.errors === 0;
          if (!ok) ctx.exit(EXIT.diagnostics);
          if (flags.json) {
            results.push({ path, ok, diagnostics: loaded.diagnostics.map((d) => diagnosticJson(d, loaded.file.text)) });
          } else {
            printDiagnostics(io, loaded.diagnostics, loaded.file);
            if (ok) io.out(`${terminalSafe(path)}: ok${counts.warnings > 0 ? ` (${summaryLine(counts).split(', ')[1]})` : ''}\n`);
          }
        } catch (e) {
          if (!(e instanceof CliError)) throw e;
          // an unreadable file: say so, keep checking the others
          io.err(`gratc: error: ${terminalSafe(e.message)}\n`);
          ctx.exit(e.exitCode);
          results.push({ path, ok: false, diagnostics: [], error: e.message });
        }
      }
      if (flags.json) printJson(io, { files: results });
      else printSummary(io, total);
    });
}

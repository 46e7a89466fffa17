/**
 * The gratc program: commander setup, one module per command, and the one place errors become
 * exit codes. `runCli` never throws and never prints a stack trace; tests call it in-process.
 */
import { Command, CommanderError } from 'commander';
import { registerCheck } from './commands/check.js';
import { registerCompile } from './commands/compile.js';
import { registerDemo } from './commands/demo.js';
import { registerInspect } from './commands/inspect.js';
import { registerPatch } from './commands/patch.js';
import { registerRun } from './commands/run.js';
import { register as registerVerify } from './commands/verify.js';
import { WorkRefused } from '../compiler/cost.js';
import { CliError, EXIT, oneLine, terminalSafe } from './exit.js';
import { version, type CommandContext, type Io } from './io.js';
import { stopAllProgress } from './progress.js';

export function buildProgram(ctx: CommandContext): Command {
  const program = new Command('gratc');
  // settings before .command() so every subcommand inherits them
  program
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.out(s),
      writeErr: (s) => ctx.io.err(s),
      outputError: (s, write) => write(`gratc: ${s}`),
    })
    .showHelpAfterError('(add --help for usage)')
    .description('Compile structured sparse (GRAT-style) attention patterns written in .grat files.')
    .version(version(), '-V, --version', 'print the gratc version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .addHelpText('after', `
Exit status: 0 ok, 1 errors in an input file, 2 usage error (bad flags, missing
or unreadable file, bad --grid value, unavailable target).
Colour: diagnostics are coloured only when stderr is a terminal and NO_COLOR is unset.

Progress: commands that can take more than a few seconds draw a bar on stderr
when it is a terminal (never on stdout, pipes or files); -q/--quiet turns it off.

The examples run from the repository root.

Examples:
  $ gratc demo
  $ gratc check examples/flux_grat_b.grat
  $ gratc inspect examples/flux_grat_b.grat --grid 128x128 --png mask.png
  $ gratc compile examples/flux_grat_b.grat --grid 64x64 --target cuda --out build/flux
  $ gratc demo --save build/demo
  $ gratc patch build/demo/default.onnx --pattern examples/dit_grat_b.grat --grid 64x64 --out build/model.grat.onnx`);
  registerCheck(program, ctx);
  registerInspect(program, ctx);
  registerCompile(program, ctx);
  registerPatch(program, ctx);
  registerRun(program, ctx);
  registerDemo(program, ctx);
  registerVerify(program, ctx);
  return program;
}

/** Runs gratc with the given arguments (without `node` and the script path); returns the exit code. */
export async function runCli(args: readonly string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  const ctx: CommandContext = { io, exit: (c) => { code = Math.max(code, c); } };
  try {
    await buildProgram(ctx).parseAsync([...args], { from: 'user' });
    return code;
  } catch (e) {
    stopAllProgress(); // before the message: a command that threw may have left its bar drawn
    if (e instanceof CommanderError) {
      // help and version exit 0; every other commander error is a usage error (already printed)
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof CliError) {
      io.err(`gratc: error: ${terminalSafe(e.message)}\n`);
      return Math.max(code, e.exitCode);
    }
    // work the cost model refused (compiler/cost.ts), from whichever stage asked it: one line, exit 1
    if (e instanceof WorkRefused) {
      io.err(`gratc: error: ${terminalSafe(e.message)}\n`);
      return Math.max(code, EXIT.diagnostics);
    }
    io.err(`gratc: error: internal error: ${terminalSafe(oneLine(e))}\n`);
    return EXIT.usage;
  }
}

/**
 * `gratc demo`: the main job on the embedded default model (runtime/onnx/demo.ts): patch it with
 * an example pattern, run original, patched and dense-masked reference, and print the max
 * difference, the density and the speedup, with progress on a terminal. The model is built to
 * fit the sizes the pattern fixes (a pattern's `text 512 before` gets 512 text tokens).
 */
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_CONFIG, DEFAULT_PATTERN } from '../../runtime/onnx/default/model.js';
import { demoInputs, runDemo, STAGES, STAGE_TEXT, type DemoResult } from '../../runtime/onnx/demo.js';
import { toNpy } from '../../runtime/onnx/npy.js';
import { formatRows, PatternError } from '../../runtime/onnx/patch.js';
import { EPS, MAX_THREADS, type Ep } from '../../runtime/onnx/run.js';
import { EXIT, inputError, terminalSafe, usageError } from '../exit.js';
import { makeDir, outputsFor, writeOutputs } from '../fsutil.js';
import type { CommandContext } from '../io.js';
import { defaultNameFor, parseCount, parseGrid, printJson, readSource } from '../load.js';
import { quietOption, startProgress } from '../progress.js';
import { statedIn } from '../stated.js';
import { onnxStep } from './patch.js';
import { parseThreads } from './run.js';

/** Largest demo model (grid + text tokens): its dense attention holds N² scores per head. */
export const MAX_DEMO_TOKENS = 16_384;
export const MAX_DEMO_REPEAT = 1000;

interface DemoFlags {
  pattern?: string;
  grid?: number[];
  text?: number;
  ep: Ep;
  repeat: number;
  threads?: number;
  reference: boolean;
  save?: string;
  json?: boolean;
  progress: boolean;
  quiet?: boolean;
}

/**
 * The model's grid and text count: the flags, else the sizes the pattern fixes, else the default
 * model's. A flag that contradicts a fixed size is refused with the flag to pass instead.
 */
export function demoSizes(pattern: string | undefined, path: string | undefined, flags: { grid?: number[]; text?: number }): { grid: number[]; text: number } {
  const st = pattern === undefined ? null : statedIn(pattern);
  const fixedGrid = st?.grid && st.grid.sizes.every((s) => s !== null) ? (st.grid.sizes as number[]) : null;
  if (st?.grid && st.grid.sizes.length !== 2) throw inputError(`the demo model has a 2-D image grid (HxW); ${path} has a ${st.grid.sizes.length}-D grid`);
  if (fixedGrid && flags.grid && fixedGrid.join('x') !== flags.grid.join('x')) {
    throw inputError(`${path} fixes the grid at ${fixedGrid.join('x')}: pass --grid ${fixedGrid.join('x')} (or leave --grid out)`);
  }
  const fixedText = st ? (st.text === null ? 0 : st.text.count) : null;
  if (fixedText !== null && flags.text !== undefined && flags.text !== fixedText) {
    throw inputError(`${path} fixes ${fixedText} text tokens: pass --text ${fixedText} (or leave --text out)`);
  }
  const grid = flags.grid ?? fixedGrid ?? [...DEFAULT_CONFIG.grid];
  if (grid.length !== 2) throw inputError('--grid: the default model has a 2-D grid (HxW)');
  return { grid, text: flags.text ?? fixedText ?? DEFAULT_CONFIG.text };
}

export function registerDemo(program: Command, ctx: CommandContext): void {
  program
    .command('demo')
    .description('patch the embedded DiT-like model with a pattern, run it, and report error, density and speedup')
    .option('--pattern <file>', 'the .grat pattern (default: GRAT-B, 8x8 groups, 3x3 neighbours + text)')
    .addOption(new Option('--grid <HxW>', `the model's image grid (default: the pattern's, else ${DEFAULT_CONFIG.grid.join('x')})`).argParser(parseGrid))
    .addOption(new Option('--text <n>', `the model's text tokens (default: the pattern's, else ${DEFAULT_CONFIG.text})`).argParser(parseCount))
    .addOption(new Option('--ep <ep>', 'execution provider').choices([...EPS]).default('cpu'))
    .addOption(new Option('--repeat <n>', 'timed runs of each model (median)').argParser(parseCount).default(3))
    .addOption(new Option('--threads <n>', `intra-op threads, at most ${MAX_THREADS} (default: all cores)`).argParser(parseThreads))
    .option('--no-reference', 'skip the O(N²) dense-masked reference (large grids)')
    .option('--save <dir>', 'also write default.onnx, default.grat.onnx and their inputs text.npy, image.npy there')
    .addOption(new Option('--no-progress', 'the same as --quiet').hideHelp())
    .addOption(quietOption())
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
The default model: ${DEFAULT_CONFIG.layers} DiT blocks, ${DEFAULT_CONFIG.channels} channels, ${DEFAULT_CONFIG.heads} heads, joint attention over
${DEFAULT_CONFIG.text} text tokens before a ${DEFAULT_CONFIG.grid.join('x')} grid; weights from seed ${DEFAULT_CONFIG.seed}. The default pattern:
${DEFAULT_PATTERN.trim().split('\n').map((l) => `  ${l}`).join('\n')}

Exit status: 0 ok, 1 the patched model differs from the reference by more
than 1e-4 or the pattern does not fit, 2 usage.

Examples:
  $ gratc demo
  $ gratc demo --pattern examples/flux_grat_x.grat --json
  $ gratc demo --pattern examples/cuda_dit_b.grat --save build/demo`)
    .action(async (flags: DemoFlags) => {
      const { io } = ctx;
      const src = flags.pattern ? (await readSource(io, flags.pattern)).text : undefined;
      const { grid, text } = demoSizes(src, flags.pattern, flags);
      // the original model runs dense attention (N² scores per head): absurd sizes are refused, not allocated
      const tokens = grid[0] * grid[1] + text;
      if (tokens > MAX_DEMO_TOKENS) throw usageError(`--grid ${grid.join('x')} with ${text} text tokens is ${tokens.toLocaleString('en-US')} tokens; the demo runs dense attention on at most ${MAX_DEMO_TOKENS.toLocaleString('en-US')}`);
      if (flags.repeat > MAX_DEMO_REPEAT) throw usageError(`--repeat ${flags.repeat}: at most ${MAX_DEMO_REPEAT}`);
      const bar = startProgress(io, STAGES.length, STAGE_TEXT[STAGES[0]], flags.quiet === true || !flags.progress);
      if (flags.save) await makeDir(resolve(io.cwd, flags.save), flags.save);
      const outputs = await outputsFor(io, flags.pattern ? [flags.pattern] : []);
      let r: DemoResult;
      try {
        r = await onnxStep(() => runDemo({
          pattern: src, patternName: flags.pattern ? defaultNameFor(flags.pattern) : undefined, ep: flags.ep, repeat: Math.max(1, flags.repeat),
          threads: flags.threads, noReference: !flags.reference, saveDir: flags.save ? resolve(io.cwd, flags.save) : undefined, outputs,
          model: { grid: [grid[0], grid[1]], text },
        }, (s) => bar.update(STAGES.indexOf(s), STAGE_TEXT[s])));
      } catch (e) {
        if (e instanceof PatternError) throw inputError(e.message);
        if (e instanceof Error && /patched no attention/.test(e.message)) throw inputError(e.message);
        throw e;
      } finally {
        bar.stop();
      }
      // the inputs too, so that `gratc run` can run the saved models as the demo ran them
      const saved: string[] = [];
      if (flags.save) {
        const at = (f: string): string => join(flags.save!, f);
        const inp = demoInputs({ ...DEFAULT_CONFIG, grid: [grid[0], grid[1]], text });
        await writeOutputs(io, flags.pattern ? [flags.pattern] : [], [{ path: at('text.npy'), data: toNpy(inp.text) }, { path: at('image.npy'), data: toNpy(inp.image) }]);
        saved.push(...['default.onnx', 'default.grat.onnx', 'text.npy', 'image.npy'].map(at));
      }
      if (flags.json) printJson(io, r);
      else {
        io.out(`${formatRows(r.rows)}\n\n`);
        io.out(`model      default DiT: ${r.model.layers} blocks, ${r.model.heads} heads, ${r.model.text} text + ${r.model.grid.join('x')} image = ${r.tokens} tokens\n`);
        io.out(`pattern    ${r.pattern}: density ${r.density.toFixed(4)} (at most ${r.speedupBound.toFixed(2)}x less attention work)\n`);
        io.out(r.maxDiff === null ? 'max diff   (reference skipped)\n'
          : `max diff   ${r.maxDiff.toExponential(2)} vs the dense-masked reference (tolerance ${r.tolerance.toExponential(0)}) ${r.ok ? 'ok' : 'TOO LARGE'}\n`);
        io.out(`time       original ${r.ms.original.toFixed(1)} ms, patched ${r.ms.patched.toFixed(1)} ms (${r.ep}, median of ${Math.max(1, flags.repeat)})\n`);
        io.out(`speedup    ${r.speedup.toFixed(2)}x\n`);
        if (saved.length > 0) io.out(`saved      ${saved.map(terminalSafe).join(', ')}\n`);
      }
      if (!r.ok) ctx.exit(EXIT.diagnostics);
    });
}

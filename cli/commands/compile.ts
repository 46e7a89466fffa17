/**
 * `gratc compile FILE --target T --out DIR`: runs a backend and writes its files plus
 * `DIR/manifest.json`. Only files whose bytes changed are rewritten, so downstream builds can
 * cache on modification times; the manifest has no timestamps, so it is deterministic too.
 */
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { Option, type Command } from 'commander';
import { hasRuntimeSizes, type PatternIR, type RuntimeSizes } from '../../compiler/ir.js';
import { TARGETS, type Target } from '../../codegen/targets.js';
import { patternStats, type PatternStats } from '../../compiler/stats.js';
import { compileWork, requireAll } from '../../compiler/cost.js';
import type { EmittedFile } from '../../codegen/backend.js';
import { EXIT, terminalSafe, usageError } from '../exit.js';
import { fileStep, makeDir, outputsFor } from '../fsutil.js';
import { version, type CommandContext } from '../io.js';
import { countOf, gridOption, loadPattern, printDiagnostics, printJson, printSummary, textOption, type SizeFlags } from '../load.js';
import { quietOption, startProgress } from '../progress.js';

interface CompileFlags extends SizeFlags {
  target: Target;
  out: string;
  json?: boolean;
  quiet?: boolean;
}

export const MANIFEST = 'manifest.json';

export interface ManifestFile { path: string; role: string; bytes: number; sha256: string }

export interface Manifest {
  gratc: string;
  pattern: string;
  target: Target;
  /** null: a size taken at launch (see runtime). */
  grid: (number | null)[];
  group: number[];
  text: { count: number | null; place: string } | null;
  /** Sizes taken at launch and their limits (the checker proved 32-bit safety up to them); null: none. */
  runtime: RuntimeSizes | null;
  order: string;
  headDim: number;
  dtype: string;
  files: ManifestFile[];
  info: Readonly<Record<string, unknown>>;
  /** null where sizes are taken at launch (the statistics need them: `inspect --grid`). */
  stats: PatternStats | null;
}

export interface CompileJson {
  pattern: string;
  target: Target;
  out: string;
  files: (ManifestFile & { status: 'written' | 'unchanged' })[];
  manifest: { path: string; status: 'written' | 'unchanged' };
  /** Sizes taken at launch and their limits (as in the manifest); null: none. */
  runtime: RuntimeSizes | null;
}

/**
 * Checks an emitted path and returns it normalized ('/'-separated): relative, no '..', no
 * empty or '.' segments, no backslashes, not the manifest. A bad path is a backend bug.
 */
export function safeRelativePath(p: string, outDir: string): string {
  const bad = (why: string): never => { throw usageError(`the backend emitted '${p}', which ${why}; nothing was written`); };
  if (p.length === 0) bad('is empty');
  if (p.includes('\\') || p.includes('\0')) bad('has a backslash or NUL');
  if (isAbsolute(p) || p.startsWith('/')) bad('is absolute');
  const segs = p.split('/');
  if (segs.some((s) => s === '..')) bad('escapes the output folder');
  const norm = segs.filter((s) => s !== '' && s !== '.').join('/');
  if (norm === '') bad('names no file');
  if (norm === MANIFEST) bad(`collides with ${MANIFEST}`);
  const full = resolve(outDir, norm), rel = relative(outDir, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || !full.startsWith(outDir.endsWith(sep) ? outDir : outDir + sep)) bad('escapes the output folder');
  return norm;
}

const bytesOf = (c: string | Uint8Array): Uint8Array => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
/** In 64 MiB pieces: one update of more than 2 GiB throws ("data is too long"). */
const sha256 = (b: Uint8Array): string => {
  const h = createHash('sha256');
  for (let i = 0; i < b.length; i += 2 ** 26) h.update(b.subarray(i, i + 2 ** 26));
  return h.digest('hex');
};

/** `h, w (each <= 4096; <= 16,777,728 tokens)`: the run-time sizes and their limits. */
function runtimeLine(ir: PatternIR): string {
  const rt = ir.runtime!;
  const names = ir.dims.flatMap((d, a) => (rt.dims[a] ? [`${terminalSafe(d.name)} <= ${rt.max.dims[a].toLocaleString('en-US')}`] : []));
  if (rt.text) names.push(`text count <= ${rt.max.text.toLocaleString('en-US')}`);
  return `${names.join(', ')} (at most ${rt.max.tokens.toLocaleString('en-US')} tokens, ${rt.max.groups.toLocaleString('en-US')} query groups)`;
}

export function buildManifest(ir: PatternIR, target: Target, files: readonly { path: string; role: string; data: Uint8Array }[], info: Readonly<Record<string, unknown>>): Manifest {
  const rt = hasRuntimeSizes(ir) ? ir.runtime! : null;
  return {
    gratc: version(),
    pattern: ir.name,
    target,
    grid: ir.dims.map((d, a) => (rt?.dims[a] ? null : d.size)),
    group: ir.dims.map((d) => d.group),
    text: ir.text ? { count: rt?.text ? null : ir.text.count, place: ir.text.place } : null,
    runtime: rt,
    order: ir.order,
    headDim: ir.headDim,
    dtype: ir.dtype,
    files: files.map((f) => ({ path: f.path, role: f.role, bytes: f.data.length, sha256: sha256(f.data) })),
    info,
    stats: rt ? null : patternStats(ir),
  };
}

export function registerCompile(program: Command, ctx: CommandContext): void {
  program
    .command('compile')
    .description('generate code for a pattern (CUDA, WGSL or ONNX) into a folder, with a manifest')
    .argument('<file>', 'the .grat file')
    .addOption(new Option('--target <target>', 'code generation target').choices([...TARGETS]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output folder (created if missing)')
    .addOption(gridOption())
    .addOption(textOption())
    .option('--json', 'print what was written as JSON on stdout')
    .addOption(quietOption())
    .addHelpText('after', () => `
A target known to the language but not built in fails with exit status 2.

Writes the backend's files under DIR (paths that would leave DIR are refused)
and DIR/${MANIFEST}:
  {gratc, pattern, target, grid [sizes], group [sizes], text {count, place} | null,
   runtime, order, headDim, dtype, files [{path, role, bytes, sha256}], info
   (backend facts), stats (as in inspect --json)}
A grid size or text count left as ? and not bound by --grid/--text is taken at
launch, by every target: cuda as kernel arguments, wgsl in a uniform, onnx from
the sequence length (one open size) or a \`grid\` int64 input (several). In the
manifest: null in grid/text; runtime: {dims [bool], text bool, max {dims, text,
tokens, groups}}, the limits the kernels accept; stats null.
Files whose contents did not change are not rewritten.

--json prints {pattern, target, out, files [{path, role, bytes, sha256,
status: written | unchanged}], manifest {path, status}, runtime (as in the manifest)}.

Examples:
  $ gratc compile examples/flux_grat_b.grat --target cuda --out build/flux
  $ gratc compile examples/flux_grat_b.grat --grid 64x64 --target cuda --out build/flux64
  $ gratc compile examples/hunyuan_grat_x.grat --grid 8x48x80 --target wgsl --out web/gen --json
  $ gratc compile examples/sliding_window_1d.grat --grid 4096 --target onnx --out build/window`)
    .action(async (path: string, flags: CompileFlags) => {
      const { io } = ctx;
      // the code generators load only when a compile runs (ts-morph and the templates are slow to load)
      const { backendFor, knownBackends } = await import('../../codegen/all.js');
      const backend = backendFor(flags.target);
      if (!backend) {
        const have = knownBackends().map((b) => b.target).sort();
        throw usageError(`target '${flags.target}' is not available in this build (available: ${have.join(', ') || 'none'})`);
      }
      // `?` sizes no flag binds are taken at launch where the backend can (else E0301/E0302)
      const loaded = await loadPattern(io, path, flags, false, backend.runtimeSizes === true);
      const ir = loaded.ir;
      let diags = loaded.diagnostics;
      if (ir === null) {
        printDiagnostics(io, diags, loaded.file);
        printSummary(io, countOf(diags));
        ctx.exit(EXIT.diagnostics);
        return;
      }
      // refused up front when the manifest's statistics or the target's output would not fit (compiler/cost.ts)
      requireAll(compileWork(ir, flags.target));
      // the emit and the manifest's statistics are the slow parts of a big compile (seconds)
      let bar = startProgress(io, 1, `emitting ${flags.target}`, flags.quiet);
      const result = backend.emit(ir);
      bar.stop();
      diags = [...diags, ...result.diagnostics];
      printDiagnostics(io, diags, loaded.file);
      printSummary(io, countOf(diags));
      if (countOf(result.diagnostics).errors > 0) { ctx.exit(EXIT.diagnostics); return; }

      const outDir = resolve(io.cwd, flags.out);
      // validate every path before writing anything
      const seen = new Set<string>();
      const files = result.files.map((f: EmittedFile) => {
        const rel = safeRelativePath(f.path, outDir);
        if (seen.has(rel)) throw usageError(`the backend emitted '${rel}' twice; nothing was written`);
        seen.add(rel);
        return { path: rel, role: f.role, data: bytesOf(f.contents) };
      });
      bar = startProgress(io, 2, 'the manifest\'s statistics', flags.quiet);
      const manifest = buildManifest(ir, flags.target, files, result.info);
      bar.update(1, `writing ${files.length + 1} files`);
      await makeDir(outDir, flags.out);
      const shown = (rel: string): string => `${flags.out.replace(/[/\\]+$/, '')}/${rel}`;
      const report: CompileJson = { pattern: ir.name, target: flags.target, out: flags.out, files: [], manifest: { path: shown(MANIFEST), status: 'unchanged' }, runtime: manifest.runtime };
      const mBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
      // one transaction (runtime/files.ts): unchanged files are left alone (never read unless
      // regular), nothing lands on the .grat read, a link, a device or a FIFO, or leaves DIR
      // through a symlinked subfolder; on a failure nothing is replaced
      const outputs = await outputsFor(io, [path]);
      const status = await fileStep(() => outputs.transaction(async (o) => {
        const st: ('staged' | 'unchanged')[] = [];
        for (const f of [...files, { path: MANIFEST, data: mBytes }]) {
          const full = resolve(outDir, f.path);
          await makeDir(dirname(full), shown(dirname(f.path)));
          st.push(await o.stage(full, shown(f.path), f.data, { ifChanged: true, within: outDir }));
        }
        return st.map((x) => (x === 'unchanged' ? 'unchanged' as const : 'written' as const));
      }));
      files.forEach((_, i) => report.files.push({ ...manifest.files[i], status: status[i] }));
      report.manifest.status = status[files.length];
      bar.stop();

      if (flags.json) { printJson(io, report); return; }
      if (manifest.runtime) io.out(`sizes taken at launch: ${runtimeLine(ir)}\n`);
      for (const f of report.files) io.out(`${f.status === 'written' ? 'wrote    ' : 'unchanged'} ${terminalSafe(shown(f.path))} (${f.role}, ${f.bytes.toLocaleString('en-US')} bytes)\n`);
      io.out(`${report.manifest.status === 'written' ? 'wrote    ' : 'unchanged'} ${terminalSafe(report.manifest.path)}\n`);
    });
}

/**
 * Hostile command lines and injection safety of the generated code.
 *
 *  - flag values (--grid, --text, --valid, --query, --query-at, --target, --batch, --heads,
 *    --repeat, --out) from a hostile vocabulary and random strings: every run ends in exit 0, 1
 *    or 2 with a message, never an internal error, within a time bound, without allocating for
 *    absurd sizes;
 *  - names from file names, `pattern NAME`, --out paths: every emitted file name is a plain
 *    identifier stem, no hostile fragment (quotes, newlines, `*\/`, `"""`, backticks, `${`) reaches
 *    CUDA, Python, WGSL, TypeScript or ONNX output, and names that are reserved words or collide
 *    with the runtime's own still give code that parses / type-checks (TypeScript via the
 *    compiler API, Python via `ast.parse`, WGSL via Tint on Dawn's null device);
 *  - two `gratc compile` processes into one folder at once both succeed and leave identical,
 *    complete files.
 */
import fc from 'fast-check';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { emitWgsl } from '../codegen/wgsl/index.js';
import { backendFor } from '../codegen/registry.js';
import { safeRelativePath } from '../cli/commands/compile.js';
import '../codegen/all.js';
import { validateWgsl } from '../runtime/webgpu/node.js';
import { gratcIn, MAIN, ROOT } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'gratc-rel-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterAll(() => console.log(`reliability figures (hostile command lines): ${JSON.stringify(COUNTS)}`));

const BODY = 'grid h=8 w=8\ngroup h=4 w=4\ntext 4 before\nimage attends neighbors(1) + text\nhead_dim 64\n';
const SYMBOLIC = 'grid h=? w=?\ngroup h=4 w=4\ntext ? before\nimage attends neighbors(1) + text\nhead_dim 64\n';
writeFileSync(join(dir, 'fixed.grat'), BODY);
writeFileSync(join(dir, 'sym.grat'), SYMBOLIC);
writeFileSync(join(dir, 'line.grat'), 'grid x=?\ngroup x=8\nimage attends neighbors(2)\nhead_dim 64\n');

/** Counted for docs/reliability.md (printed at the end). */
export const COUNTS = { flagCases: 0, hostileNames: 0 };

/** Flag values an attacker or a typo would give. */
const HOSTILE_VALUES = [
  '', ' ', '0', '-1', '1', '8', '8x8', '8X8', '8×8', '8,8', '8x8x8', '8x8x8x8', 'x', '8x', 'x8', '8xx8', '0x8', '8x0', '-8x8',
  '1e3', '0x10', '1_000', '1.5', '10^9', '1000000000', '1000000000x1000000000', '46341x46341', '65536x65536x65536',
  '4294967297', '9007199254740993', '1234567890123456789012345678901234567890', 'NaN', 'Infinity', '-0', '+8',
  '８', '٨', '8\n8', '8\u00008', '8;rm -rf ~', '$(id)', '`id`', '${x}', '"8"', "'8'", '\\', '../../etc/passwd',
  'cuda', 'wgsl', 'onnx', 'CUDA', 'metal', 'cuda,wgsl', '__proto__', 'constructor',
];
const FLAGS = ['--grid', '--text', '--valid', '--query', '--query-at', '--gpus', '--heads', '--target'] as const;

/** One CLI run in-process, bounded in time, never an internal error. */
async function runBounded(args: string[], cwd = dir, budgetMs = 5000): Promise<{ code: number; stdout: string; stderr: string }> {
  const t0 = performance.now();
  const r = await gratcIn(args, cwd);
  const ms = performance.now() - t0;
  expect(ms, `${JSON.stringify(args)} took ${ms.toFixed(0)} ms`).toBeLessThan(budgetMs);
  expect(r.stderr, JSON.stringify(args)).not.toMatch(/internal error|at .*\.(ts|js):\d+/);
  expect([0, 1, 2], `${JSON.stringify(args)}: ${r.stderr}`).toContain(r.code);
  if (r.code !== 0) expect(r.stderr.trim().length, `${JSON.stringify(args)}: a message`).toBeGreaterThan(0);
  COUNTS.flagCases++;
  return r;
}

describe('reliability: hostile flag values', () => {
  it('every hostile value for every size flag of inspect/check/compile ends with a message, fast', async () => {
    for (const value of HOSTILE_VALUES) {
      for (const flag of FLAGS) {
        const file = flag === '--grid' || flag === '--text' ? 'sym.grat' : 'fixed.grat';
        const cmd = flag === '--target' ? ['compile', file, '--out', 'o', flag, value] : ['inspect', file, '--json', flag, value];
        const r = await runBounded(cmd);
        // a value that is not a plain non-negative decimal integer (or grid of them) is a usage error
        if (flag !== '--target' && flag !== '--grid' && flag !== '--query-at' && !/^\s*\d+\s*$/.test(value)) expect(r.code, `${flag} ${JSON.stringify(value)}`).toBe(2);
        if (flag === '--target' && !['cuda', 'wgsl', 'onnx'].includes(value)) expect(r.code, `--target ${JSON.stringify(value)}`).toBe(2);
      }
      await runBounded(['check', 'sym.grat', '--grid', value, '--text', value]);
    }
  }, 120_000);

  it('absurd sizes are refused with a message, not allocated (--grid 10^9, 40-digit numbers, 2^31 tokens)', async () => {
    const absurd: [string[], RegExp][] = [
      [['inspect', 'sym.grat', '--grid', '1000000000x1000000000', '--text', '0'], /overflows 32-bit token indices/],
      [['inspect', 'line.grat', '--grid', '1000000000'], /query groups is more than gratc supports/],
      [['inspect', 'sym.grat', '--grid', '8x8', '--text', '1234567890123456789012345678901234567890'], /non-negative integer/],
      [['inspect', 'sym.grat', '--grid', '46341x46341', '--text', '0'], /overflows 32-bit token indices/],
      [['inspect', 'sym.grat', '--grid', '8x8', '--text', '2147483647'], /overflow 32-bit token indices|out of range/],
      [['inspect', 'fixed.grat', '--query', '9007199254740991'], /out of range/],
      [['inspect', 'fixed.grat', '--query-at', '9007199254740991,0'], /outside the grid/],
      [['verify', 'fixed.grat', '--backend', 'onnx', '--batch', '100000000', '--heads', '100000'], /elements per q\/k\/v tensor \(limit/],
      [['demo', '--grid', '10000x10000', '--no-reference', '--no-progress'], /demo runs dense attention on at most/],
      [['demo', '--grid', '8x8', '--repeat', '100000000000000', '--no-progress'], /--repeat .*at most 1000/],
      [['compile', 'sym.grat', '--target', 'onnx', '--out', 'o', '--grid', '100000x100000', '--text', '0'], /overflows 32-bit token indices/],
    ];
    for (const [args, re] of absurd) {
      const r = await runBounded(args, dir, 8000);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  }, 120_000);

  it('random flag strings (fast-check, 300 runs)', async () => {
    const value = fc.oneof(
      fc.constantFrom(...HOSTILE_VALUES),
      fc.string({ unit: 'binary', maxLength: 24 }),
      fc.array(fc.oneof(fc.nat({ max: 2 ** 40 }).map(String), fc.constantFrom('x', ',', '×', ' ', '-', '0')), { maxLength: 7 }).map((a) => a.join('')),
    );
    await fc.assert(fc.asyncProperty(fc.constantFrom(...FLAGS), value, value, async (flag, v, w) => {
      const cmd = flag === '--target'
        ? ['compile', 'fixed.grat', '--out', 'o', flag, v]
        : ['inspect', flag === '--grid' || flag === '--text' ? 'sym.grat' : 'fixed.grat', '--json', flag, v, ...(flag === '--grid' ? ['--text', w] : flag === '--text' ? ['--grid', w] : [])];
      await runBounded(cmd);
    }), { numRuns: 300 });
  }, 120_000);
});

// ---- names ----

/** Hostile fragments that must never appear in any generated file. */
const FRAGMENTS = ['"Zq1', '\nZq2', '`Zq3`', '${Zq4}', '"""Zq5', "'''Zq5", '*\\Zq6', '名前', 'ü', '\u202e', ';Zq9'];
/** File names (without .grat) built from the fragments; `pattern` is omitted so the file name is the default name. */
const HOSTILE_FILES = ['a"Zq1', 'x\nZq2', '`Zq3`', '${Zq4}', '\'\'\'"""Zq5', 'c*\\Zq6', 'ü-名前', 'evil\u202eZq8', 'a;Zq9 -rf ~', '9lives', ' ', '-rf', '..', '.hidden'];

function allOutputs(out: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const f of readdirSync(out, { recursive: true, withFileTypes: true })) if (f.isFile()) files.set(join(f.parentPath, f.name), readFileSync(join(f.parentPath, f.name)));
  return files;
}

describe('reliability: names from file names, patterns and --out reach the output only as identifiers', () => {
  it('hostile file names (the default pattern name) through every target', async () => {
    for (const stem of HOSTILE_FILES) {
      const file = `${stem}.grat`;
      writeFileSync(join(dir, file), BODY);
      for (const target of ['cuda', 'wgsl', 'onnx']) {
        const out = mkdtempSync(join(dir, 'out-'));
        const r = await runBounded(['compile', `./${file}`, '--target', target, '--out', out, '--json']);
        COUNTS.hostileNames++;
        expect(r.code, `${JSON.stringify(file)} ${target}: ${r.stderr}`).toBe(0);
        const report = JSON.parse(r.stdout) as { pattern: string; files: { path: string }[] };
        expect(report.pattern).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/);
        // plain names, or '/'-separated ones (the CUDA target's package folder), never '.' or '..'
        for (const f of report.files) expect(f.path, `${JSON.stringify(file)} ${target}`).toMatch(/^(?!(?:.*\/)?\.\.?(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/);
        for (const [path, bytes] of allOutputs(out)) {
          for (const frag of FRAGMENTS) expect(bytes.includes(Buffer.from(frag)), `${JSON.stringify(frag)} in ${path} (from ${JSON.stringify(file)})`).toBe(false);
        }
      }
    }
  }, 120_000);

  it('terminal injection: comments inside a continued term, hostile file names in diagnostics', async () => {
    // a term continued over lines (`+` at a line end) carries a comment with escape sequences
    writeFileSync(join(dir, 'esc.grat'), 'grid h=8 w=8\ngroup h=4 w=4\nimage attends where(dh + # \u001b[2J\u001b[31m */ """ ${x}\n 0 == 0)\nhead_dim 64\n');
    const r = await runBounded(['inspect', 'esc.grat']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\u001b|\*\/|"""|\$\{x\}/);
    expect(r.stdout).toContain('where(dh + 0 == 0)');
    const j = await runBounded(['inspect', 'esc.grat', '--json']);
    expect((JSON.parse(j.stdout) as { image: { terms: { origin: string }[] } }).image.terms[0].origin).toBe('where(dh + 0 == 0)');
    // a file name with ESC and a newline: the diagnostics show it escaped
    const evil = 'e\u001b[2Jvil\nname.grat';
    writeFileSync(join(dir, evil), 'grid h=8 w=8\nimage attends nowhere\n');
    const c = await runBounded(['check', evil]);
    expect(c.code).toBe(1);
    expect(c.stderr).not.toMatch(/\u001b/);
    expect(c.stderr).toContain('e\\u001b[2Jvil\\u000aname.grat:');
  });

  it('a pattern name longer than 64 characters is a positioned diagnostic, not a failed write', async () => {
    writeFileSync(join(dir, 'long.grat'), `pattern ${'a'.repeat(300)}\n${BODY}`);
    for (const target of ['cuda', 'wgsl', 'onnx']) {
      const r = await runBounded(['compile', 'long.grat', '--target', target, '--out', 'long-out']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/long\.grat:1:9: error\[E0208\]: the pattern name is 300 characters long/);
    }
    expect(checkSource(`pattern ${'a'.repeat(64)}\n${BODY}`).ir).not.toBeNull();
  });

  it('hostile --out paths: written where asked, or one clear usage error', async () => {
    writeFileSync(join(dir, 'afile'), 'x');
    for (const out of ['a"b\n${x}`id`', 'deep/er/than/this', ' spaced out ', '-dash']) {
      const r = await runBounded(['compile', 'fixed.grat', '--target', 'onnx', `--out=${out}`]);
      expect(r.code, `${JSON.stringify(out)}: ${r.stderr}`).toBe(0);
      expect(readdirSync(join(dir, out)).sort()).toEqual(['fixed.onnx', 'manifest.json']);
    }
    // (/proc: Node 20's recursive mkdir used to spin forever there)
    for (const out of ['afile', 'afile/sub', '/proc/gratc-cannot-write-here', '/proc/gratc/a/b']) {
      const r = await runBounded(['compile', 'fixed.grat', '--target', 'onnx', '--out', out]);
      expect(r.code, `${out}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  it('the output folder may be the file-system root (no false "escapes the output folder")', () => {
    expect(safeRelativePath('x.onnx', '/')).toBe('x.onnx');
    expect(() => safeRelativePath('../x.onnx', '/')).toThrow(/escapes the output folder/);
  });

  // names that are reserved words in an output language, or collide with the runtime's own names
  const NAMES = ['grat', 'grat_attention', 'grat_kernel_source', 'class', 'def', 'None', 'import', 'lambda', '__init__', '__proto__',
    'constructor', 'prototype', 'Promise', 'default', 'await', 'undefined', 'fn', 'let', 'var', 'struct', 'main', 'int', 'void',
    '__global__', '_', '__', 'X9', 'a'.repeat(64)];

  it('reserved and colliding pattern names: the TypeScript modules type-check (strict)', () => {
    const tsDir = mkdtempSync(join(dir, 'ts-'));
    for (const name of NAMES) {
      const ir = checkSource(`pattern ${name}\n${BODY}`).ir!;
      const r = emitWgsl(ir);
      expect(r.diagnostics.filter((d) => d.severity === 'error'), name).toEqual([]);
      for (const f of r.files) if (f.path.endsWith('.ts')) writeFileSync(join(tsDir, f.path), f.contents as string);
    }
    const files = readdirSync(tsDir).map((f) => join(tsDir, f));
    const program = ts.createProgram(files, {
      strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      typeRoots: [join(ROOT, 'node_modules')], types: [], skipLibCheck: true,
    });
    const diags = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diags).toEqual([]);
  }, 60_000);

  it('a pattern named like the WGSL runtime file is a diagnostic (exit 1), not a clobbered runtime', async () => {
    writeFileSync(join(dir, 'rt.grat'), `pattern gratc_webgpu_runtime\n${BODY}`);
    const r = await runBounded(['compile', 'rt.grat', '--target', 'wgsl', '--out', 'rt-out']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E0922/);
  });

  it('reserved and colliding pattern names: the Python loaders parse, the WGSL validates, CUDA names are identifiers', async () => {
    const pyDir = mkdtempSync(join(dir, 'py-'));
    for (const name of NAMES) {
      const ir = checkSource(`pattern ${name}\n${BODY}`).ir!;
      for (const f of emitCuda(ir).files) {
        // pyproject.toml and the package grat_<pattern>/ of kernels and Python files
        expect(f.path).toMatch(/^(pyproject\.toml|grat_[A-Za-z0-9_]+\/(grat_[A-Za-z0-9_]+\.(cu|h)|[A-Za-z_]+\.py))$/);
        if (f.path.endsWith('.py')) writeFileSync(join(pyDir, f.path.replace('/', '__')), f.contents as string);
      }
    }
    const py = spawnSync('python3', ['-c', 'import ast, sys, pathlib\nfor p in sorted(pathlib.Path(sys.argv[1]).glob("*.py")):\n    ast.parse(p.read_text(), str(p))\nprint("ok")', pyDir], { encoding: 'utf8' });
    if (py.error) console.warn('python3 not found: the loaders were not parsed');
    else expect(`${py.stdout}${py.stderr}`.trim()).toBe('ok');
    // one shader per name through Tint (names only reach WGSL inside the kernel name and comments)
    for (const name of ['fn', 'main', 'struct', 'let', 'var']) {
      const src = emitWgsl(checkSource(`pattern ${name}\n${BODY}`).ir!).files.find((f) => f.path.endsWith('.f32-shared.wgsl'))!;
      const msgs = await validateWgsl(src.contents as string);
      expect(msgs.filter((m) => m.type === 'error'), name).toEqual([]);
    }
    // ONNX: the function name is the pattern name + a hash; graph and docstring carry only the identifier
    const onnx = backendFor('onnx')!.emit(checkSource(`pattern __proto__\n${BODY}`).ir!);
    expect(onnx.files[0].path).toBe('__proto__.onnx');
  }, 60_000);
});

describe('reliability: concurrent gratc compile into one folder', () => {
  it('two processes at once (into a new, then an existing folder) both succeed and leave identical, complete files (every target)', async () => {
    const run = (out: string, target: string): Promise<{ code: number; stderr: string }> => new Promise((done) => {
      const p = spawn(process.execPath, [MAIN, 'compile', 'fixed.grat', '--target', target, '--out', out], { cwd: dir });
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      p.on('close', (code) => done({ code: code ?? -1, stderr }));
    });
    for (const target of ['cuda', 'wgsl', 'onnx']) {
      const shared = join(dir, `race-${target}`), solo = join(dir, `solo-${target}`);
      for (let round = 0; round < 2; round++) {
        const rs = await Promise.all([run(shared, target), run(shared, target)]);
        for (const r of rs) expect(r.code, r.stderr).toBe(0);
      }
      expect((await run(solo, target)).code).toBe(0);
      const a = allOutputs(shared), b = allOutputs(solo);
      // no temp files left, the same names and the same bytes as a lone run
      expect([...a.keys()].map((p) => p.slice(shared.length))).toEqual([...b.keys()].map((p) => p.slice(solo.length)));
      for (const [p, bytes] of a) expect(bytes.equals(b.get(p.replace(shared, solo))!), p).toBe(true);
      const manifest = JSON.parse(readFileSync(join(shared, 'manifest.json'), 'utf8')) as { files: { path: string; bytes: number }[] };
      for (const f of manifest.files) expect(readFileSync(join(shared, f.path)).length, f.path).toBe(f.bytes);
    }
  }, 120_000);
});

mkdirSync(join(dir, 'o'), { recursive: true });

/**
 * The layers run one way: dsl → compiler → codegen → runtime → cli (docs/architecture.md). Every
 * .ts file outside node_modules/, dist/ and test/ is read with the TypeScript compiler's import
 * scanner (static, type-only, `export … from` and dynamic `import()` alike) and placed in a layer
 * by its top folder. A module may import its own layer and the layers before it; bench/ and
 * examples/ may import any layer; nothing but root tooling (vitest.config.ts) imports test/, so
 * dist/ never ships a module that needs a devDependency. Shipped modules import only packages
 * listed in `dependencies`. And there are no import cycles, within a layer or across.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';

const LAYERS = ['dsl', 'compiler', 'codegen', 'runtime', 'cli'] as const;
/** Folders whose modules may import every layer (never test/). */
const FREE = new Set(['bench', 'examples']);
const SKIP = new Set(['node_modules', 'dist', 'test', '.git', '.gen', 'build']);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const rel = (p: string): string => relative(ROOT, p).split(sep).join('/');
const top = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '');

interface Graph { readonly edges: Map<string, string[]>; readonly packages: Map<string, string[]> }

/** file → the repository files it imports (`.js` specifiers resolved to their `.ts` source), and its bare imports. */
function importGraph(): Graph {
  const edges = new Map<string, string[]>(), packages = new Map<string, string[]>();
  for (const abs of sourceFiles(ROOT)) {
    const file = rel(abs);
    const info = ts.preProcessFile(readFileSync(abs, 'utf8'), true, true);
    const local: string[] = [], bare: string[] = [];
    for (const { fileName: spec } of info.importedFiles) {
      if (spec.startsWith('.')) local.push(rel(resolve(dirname(abs), spec.replace(/\.js$/, '.ts'))));
      else bare.push(spec);
    }
    edges.set(file, local);
    packages.set(file, bare);
  }
  return { edges, packages };
}

/** Why an import from `from` to `to` breaks the layering, or null. */
function layerViolation(from: string, to: string): string | null {
  const a = top(from), b = top(to);
  if (b === 'test') return a === '' ? null : 'imports test/';
  if (a === '' || FREE.has(a)) return null;
  const i = LAYERS.indexOf(a as (typeof LAYERS)[number]), j = LAYERS.indexOf(b as (typeof LAYERS)[number]);
  if (i < 0) return `is in no layer (${LAYERS.join(', ')}, ${[...FREE].join(', ')})`;
  if (j < 0) return `imports ${b || 'a root file'}/, which is in no layer`;
  return j > i ? `is a back edge (${a} → ${b})` : null;
}

/** Every cycle's files (strongly connected components of more than one file, or a self-import). */
function cycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

describe('import graph', () => {
  const { edges, packages } = importGraph();

  it('reads the whole tree', () => {
    for (const layer of LAYERS) expect([...edges.keys()].some((f) => top(f) === layer), layer).toBe(true);
    expect(edges.get('cli/main.ts')?.length).toBeGreaterThan(0);
  });

  it('every import goes down the layers (dsl → compiler → codegen → runtime → cli), and nothing but tooling imports test/', () => {
    const bad: string[] = [];
    for (const [from, tos] of edges) {
      for (const to of tos) {
        const why = layerViolation(from, to);
        if (why) bad.push(`${from} → ${to} ${why}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(edges).map((c) => c.join(' ↔ '))).toEqual([]);
  });

  it('shipped modules import only node builtins and packages in dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
    const name = (spec: string): string => spec.replace(/^node:/, '').split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
    const bad: string[] = [];
    for (const [from, specs] of packages) {
      if (top(from) === '' || top(from) === 'examples') continue; // tooling and browser examples are not shipped
      for (const s of specs) if (!allowed.has(name(s))) bad.push(`${from} imports '${s}'`);
    }
    expect(bad).toEqual([]);
  });

  it('the checks catch a back edge, an import of test/ and a cycle', () => {
    expect(layerViolation('codegen/onnx/lower.ts', 'runtime/onnx/tensor.ts')).toMatch(/back edge \(codegen → runtime\)/);
    expect(layerViolation('compiler/check.ts', 'dsl/parse.ts')).toBeNull();
    expect(layerViolation('bench/cuda/cases.ts', 'test/support/arb_pattern.ts')).toBe('imports test/');
    expect(layerViolation('bench/cuda/cases.ts', 'cli/main.ts')).toBeNull();
    expect(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]))).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', []]]))).toEqual([]);
  });
});

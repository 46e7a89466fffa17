/**
 * The typed TypeScript module of a compiled pattern, built with ts-morph: the pattern's
 * constants, the shapes q/k/v/out accept (literal token count and head_dim in tuple types), the
 * kernel source (every variant's WGSL) and `create<Pattern>(device)`. It imports the runtime
 * from a file emitted next to it (RUNTIME_FILE, a copy of runtime.ts in this folder), so the
 * output folder is self-contained: it type-checks and runs in a bundler, in Node or as plain
 * ES modules in a browser after `tsc`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IndentationText, Project, QuoteKind, StructureKind, VariableDeclarationKind } from 'ts-morph';
import type { GratKernelSource } from './runtime.js';
import type { WgslSpec } from './spec.js';

/** File stem of the runtime copy emitted next to each typed module. */
export const RUNTIME_FILE = 'gratc_webgpu_runtime';

/** The runtime's source text (codegen/wgsl/runtime.ts), found from the source tree or dist/. */
export function runtimeSource(): string {
  const candidates = [new URL('./runtime.ts', import.meta.url), new URL('../../../codegen/wgsl/runtime.ts', import.meta.url)];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new Error('codegen/wgsl/runtime.ts not found');
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `flux_grat_b` → `FluxGratB` (an identifier). */
export function pascalName(pattern: string): string {
  const p = pattern.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  const name = /^[A-Za-z_]/.test(p) ? p : `P${p}`;
  if (!IDENT.test(name)) throw new Error(`not an identifier: ${name}`);
  return name;
}

/** `flux_grat_b` → `FLUX_GRAT_B`. */
export const constName = (pattern: string): string => pascalName(pattern).replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

export interface ModuleInput {
  readonly spec: WgslSpec;
  readonly source: GratKernelSource;
  readonly dtype: string;
  /** Module specifier of the runtime (default `./gratc_webgpu_runtime.js`). */
  readonly runtimeImport?: string;
}

/** Names the module imports from the runtime: the pattern's own names must never shadow them. */
const RUNTIME_IMPORTS = ['createGratAttention', 'GratAttention', 'GratCreateOptions', 'GratKernelSource', 'GratRunArgs', 'GratTensor', 'Layout', 'ShapeOf'];

/** `pascalName`, suffixed with `Pattern` when a name built from it would shadow an import (pattern `grat` → `GratTensor`). */
export function modulePascalName(pattern: string): string {
  const P = pascalName(pattern);
  const built = ['Tokens', 'HeadDim', 'Shape', 'Tensor', 'RunArgs', 'Attention'].map((s) => `${P}${s}`).concat(`create${P}`);
  return built.some((n) => RUNTIME_IMPORTS.includes(n)) ? `${P}Pattern` : P;
}

/** The module's text (deterministic). */
export function typedModule(input: ModuleInput): string {
  const { spec, source } = input;
  const P = modulePascalName(spec.pattern), C = constName(spec.pattern);
  // sizes taken at launch: the sequence length is a number, not a literal type
  const N = source.runtime ? 'number' : String(source.tokens), D = source.headDim;
  const project = new Project({
    useInMemoryFileSystem: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single },
  });
  const file = project.createSourceFile(`${spec.pattern}.ts`, '');
  file.addImportDeclaration({
    moduleSpecifier: input.runtimeImport ?? `./${RUNTIME_FILE}.js`,
    namedImports: ['createGratAttention'].map((name) => ({ name })),
  });
  file.addImportDeclaration({
    isTypeOnly: true,
    moduleSpecifier: input.runtimeImport ?? `./${RUNTIME_FILE}.js`,
    namedImports: ['GratAttention', 'GratCreateOptions', 'GratKernelSource', 'GratRunArgs', 'GratTensor', 'Layout', 'ShapeOf'].map((name) => ({ name })),
  });
  const lit = (v: unknown): string => JSON.stringify(v);
  const info = {
    pattern: spec.pattern,
    kernel: source.kernel,
    grid: source.runtime ? source.runtime.grid : spec.dims.map((d) => d.size), // null: taken at launch
    group: spec.dims.map((d) => d.group),
    order: spec.order,
    text: source.runtime ? source.runtime.text : spec.text,
    tokens: source.runtime ? null : source.tokens,
    ...(source.runtime ? { max: source.runtime.max } : {}),
    headDim: D,
    scale: spec.scale,
    dtype: input.dtype,
  };
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ['The pattern\'s sizes: grid and group shape (outermost first), token order, text segment, tokens, head_dim.'],
    declarations: [{ name: C, initializer: `${lit(info)} as const` }],
  });
  file.addTypeAliases([
    { isExported: true, name: `${P}Tokens`, type: N, docs: ['Sequence length: grid tokens + text tokens.'] },
    { isExported: true, name: `${P}HeadDim`, type: String(D) },
    { isExported: true, name: `${P}Shape`, typeParameters: [{ name: 'L', constraint: 'Layout', default: 'Layout' }], type: `ShapeOf<L, ${N}, ${D}>`, docs: ['The shape q, k, v and out have: [B, H, N, D] (bhnd) or [B, N, H, D] (bnhd).'] },
    { isExported: true, name: `${P}Tensor`, typeParameters: [{ name: 'L', constraint: 'Layout', default: 'Layout' }], type: `GratTensor<${N}, ${D}, L>`, docs: ['A GPU buffer typed with this pattern\'s shape.'] },
    { isExported: true, name: `${P}RunArgs`, typeParameters: [{ name: 'L', constraint: 'Layout', default: 'Layout' }], type: `GratRunArgs<${N}, ${D}, L>` },
    { isExported: true, name: `${P}Attention`, type: `GratAttention<${N}, ${D}>` },
  ]);
  const variants = source.variants.map((v) => `    ${lit(v)}`).join(',\n');
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ['The compiled kernel: every variant\'s WGSL (f32/f16 × subgroup reductions or workgroup memory × query tile staged or re-read: 32 or 16 KiB; f16 on subgroup matrices).'],
    declarations: [{
      name: `${P.charAt(0).toLowerCase()}${P.slice(1)}Source`,
      type: `GratKernelSource<${N}, ${D}>`,
      initializer: `{\n  kernel: ${lit(source.kernel)},\n  pattern: ${lit(source.pattern)},\n  tokens: ${source.tokens},\n  headDim: ${D},\n  textCount: ${source.textCount},\n  gridTiles: ${source.gridTiles},\n${source.textSplit ? `  textSplit: ${lit(source.textSplit)},\n` : ''}${source.runtime ? `  runtime: ${lit(source.runtime)},\n` : ''}  scale: ${lit(source.scale)},\n  preferred: ${lit(source.preferred)},\n  variants: [\n${variants},\n  ],\n}`,
    }],
  });
  file.addFunction({
    kind: StructureKind.Function,
    isExported: true,
    name: `create${P}`,
    docs: [`Builds (once per device) the pipeline of ${spec.pattern} and returns its typed attention object.`],
    parameters: [{ name: 'device', type: 'GPUDevice' }, { name: 'options', type: 'GratCreateOptions', hasQuestionToken: true }],
    returnType: `Promise<${P}Attention>`,
    statements: [`return createGratAttention(device, ${P.charAt(0).toLowerCase()}${P.slice(1)}Source, options);`],
  });
  // the triple-slash reference must be the file's first line (ts-morph puts imports first)
  const header = `/// <reference types="@webgpu/types" />\n/**\n * ${spec.pattern}: gratc WGSL kernels (${source.kernel}) and their typed entry point.\n`
    + ' * Generated by gratc from the pattern\'s IR; do not edit (regenerate instead).\n */\n';
  return header + file.getFullText();
}

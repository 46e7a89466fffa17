/**
 * The WGSL backend: emitted files and names, Tint validation of every variant (Dawn's null
 * backend: no GPU needed) and the generated typed module's types (checked by the TypeScript
 * compiler through ts-morph, with vitest's expectTypeOf and @ts-expect-error lines).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Project } from 'ts-morph';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { backendFor } from '../codegen/all.js';
import { compileWgsl, emitWgsl } from '../codegen/wgsl/index.js';
import { printPredicate } from '../codegen/clike.js';
import { validateWgsl } from '../runtime/webgpu/node.js';

const ROOT = join(import.meta.dirname, '..');

function example(name: string, grid?: number[]): PatternIR {
  const { ir, diagnostics } = checkSource(readFileSync(join(ROOT, 'examples', `${name}.grat`), 'utf8'), { grid, defaultName: name });
  if (!ir) throw new Error(`${name}: ${diagnostics.map((d) => d.message).join('; ')}`);
  return ir;
}

function pattern(text: string): PatternIR {
  const { ir, diagnostics } = checkSource(text, { defaultName: 'p' });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return ir;
}

/** Patterns that reach every branch of the geometry printer. */
const SYNTHETIC: Record<string, string> = {
  predicates: `pattern preds
grid h=13 w=21
group h=4 w=8
text 9 after
image attends where(dh % 2 == 0 && |dh| <= 2 && dw / 2 == 0) + where(kh == 0 || min(kw, qw) > max(1, nw - 3)) + neighbors(1)
text attends text
head_dim 64
dtype fp32`,
  shift3d: `pattern shift3d
grid t=5 h=7 w=9
group t=2 h=3 w=4
order grouped
border shift
image attends neighbors(t=1, h=2, w=1)
head_dim 128
dtype fp16`,
  lines: `pattern lines
grid t=4 h=6 w=10
group t=2 h=2 w=4
image attends crisscross(lines) + text
text 5 before
text attends grid
head_dim 64`,
};

const EXAMPLES: [string, number[] | undefined][] = [
  ['flux_grat_b', [64, 64]],
  ['flux_grat_x', [40, 72]],
  ['hunyuan_grat_b', [8, 24, 40]],
  ['hunyuan_grat_x', [8, 24, 40]],
  ['sliding_window_1d', [1000]],
  ['video_causal_anchor', undefined],
];

describe('wgsl backend: emitted files', () => {
  it('is registered for --target wgsl', () => {
    expect(backendFor('wgsl')?.target).toBe('wgsl');
  });

  it('emits thirteen shaders (six SIMT ones that fit 16 KiB of workgroup storage, one on subgroup matrices), the typed module and the runtime, deterministically', () => {
    const ir = example('flux_grat_b', [64, 64]);
    const a = emitWgsl(ir), b = emitWgsl(ir);
    expect(a.diagnostics).toEqual([]);
    const kernel = a.info.kernel as string;
    expect(kernel).toMatch(/^grat_flux_grat_b_[0-9a-f]{12}$/);
    expect(a.files.map((f) => f.path).sort()).toEqual([
      ...['f16-sg16', 'f16-sg8', 'f16-shared', 'f32-sg16', 'f32-sg8', 'f32-shared'].flatMap((v) => [`${kernel}.${v}.wgsl`, `${kernel}.${v}-q16k.wgsl`]),
      `${kernel}.f16-sgmat16x16x16.wgsl`,
      'flux_grat_b.ts',
      'gratc_webgpu_runtime.ts',
    ].sort());
    expect(b.files).toEqual(a.files);
    // the name is a function of the specialization: another grid, another kernel
    expect(emitWgsl(example('flux_grat_b', [64, 80])).info.kernel).not.toBe(kernel);
  });

  it('refuses head dims it has no kernel for, with a hint', () => {
    const r = emitWgsl(pattern('grid n=64\ngroup n=16\nimage attends neighbors(1)\nhead_dim 96'));
    expect(r.files).toEqual([]);
    expect(r.diagnostics[0]).toMatchObject({ severity: 'error', code: 'E0921' });
    expect(r.diagnostics[0].hint).toMatch(/pad/);
  });

  it('prints predicates with floor division/modulo, booleans as booleans', () => {
    const ir = pattern(SYNTHETIC.predicates);
    const t = ir.image.terms[0];
    if (t.kind !== 'predicate') throw new Error('expected a predicate');
    expect(printPredicate(t.expr, [4, 3])).toBe(
      '(((floor_mod((k[0] - q[0]), 2) == 0) && (abs((k[0] - q[0])) <= 2)) && (floor_div((k[1] - q[1]), 2) == 0))',
    );
  });

  it('puts only the values it validated into the shader text', () => {
    const { source } = compileWgsl(example('sliding_window_1d', [1000]));
    const code = source!.variants.find((v) => v.id === 'f32-shared')!.code;
    expect(code).not.toMatch(/\{\{|\}\}|undefined|NaN|\[object/);
    expect(code).toContain('const TILES_PER_GROUP: u32 = 2u;');
  });
});

describe('wgsl backend: Tint accepts every variant (Dawn null backend)', () => {
  const cases: [string, PatternIR][] = [
    ...EXAMPLES.map(([n, g]): [string, PatternIR] => [n, example(n, g)]),
    ...Object.entries(SYNTHETIC).map(([n, t]): [string, PatternIR] => [n, pattern(t)]),
    // the same with every ? size taken at launch (the Geom uniform, tile counts in Params)
    ...EXAMPLES.filter(([, g]) => g !== undefined).map(([n]): [string, PatternIR] => {
      const { ir } = checkSource(readFileSync(join(ROOT, 'examples', `${n}.grat`), 'utf8'), { runtimeSizes: true, defaultName: n });
      return [`${n}, sizes at launch`, ir!];
    }),
    ...Object.entries(SYNTHETIC).map(([n, t]): [string, PatternIR] => [`${n}, sizes at launch`, checkSource(t.replace(/^(grid .*)$/m, (l) => l.replace(/=\d+/g, '=?')), { runtimeSizes: true }).ir!]),
  ];
  it.each(cases)('%s', async (name, ir) => {
    const { source, diagnostics } = compileWgsl(ir);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(source!.runtime !== undefined, 'sizes taken at launch').toBe(name.endsWith('sizes at launch'));
    for (const v of source!.variants) {
      const msgs = await validateWgsl(v.code);
      expect(msgs.filter((m) => m.type === 'error'), `${v.id}`).toEqual([]);
      // the null device has WebGPU's default limits (16 KiB of workgroup storage): the -q16k variants fit them
      if (v.qStaging === 'global') expect(msgs.filter((m) => m.type === 'limit'), `${v.id}`).toEqual([]);
      // ... and so does the subgroup-matrix variant at head_dim 64 (24 KiB at 128)
      if (v.matrix) expect(msgs.filter((m) => m.type === 'limit').length, `${v.id}`).toBe(v.workgroupStorage > 16384 ? 1 : 0);
    }
    // one subgroup-matrix variant, checked by Tint with the feature on (the null adapter offers it under allow_unsafe_apis)
    expect(source!.variants.filter((v) => v.matrix).map((v) => v.id)).toEqual(['f16-sgmat16x16x16']);
  });

  it('Tint refuses the subgroup-matrix variant where the matrix builtins are misused (the check can fail)', async () => {
    const { source } = compileWgsl(example('sliding_window_1d', [1000]));
    const code = source!.variants.find((v) => v.matrix)!.code;
    // a subgroup matrix op whose offset depends on the invocation (not uniform) is an error
    const broken = code.replace('subgroupMatrixStore<row_major>(&ss, r0 * SS + c0, acc, SS);', 'subgroupMatrixStore<row_major>(&ss, lid, acc, SS);');
    expect(broken).not.toBe(code);
    expect((await validateWgsl(broken)).some((m) => m.type === 'error' && /uniform/.test(m.message))).toBe(true);
  });

  it('reports Tint\'s messages for broken WGSL', async () => {
    const msgs = await validateWgsl('@compute @workgroup_size(1) fn main() { let x: i32 = 1.5; }');
    expect(msgs.some((m) => m.type === 'error' && m.line === 1)).toBe(true);
  });
});

describe('wgsl backend: the generated module\'s types', () => {
  // inside node_modules so that `vitest` and `@webgpu/types` resolve from the generated files
  const dir = join(ROOT, 'node_modules', '.cache', `gratc-wgsl-types-${process.pid}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('type-checks a pattern whose grid is taken at launch: tokens a number, grid and per-sample lengths per call', () => {
    const rdir = join(dir, 'rt');
    mkdirSync(rdir, { recursive: true });
    const { ir } = checkSource('pattern open\ngrid h=? w=?\ngroup h=4 w=4\ntext 8 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64', { runtimeSizes: true });
    for (const f of emitWgsl(ir!).files) {
      if (f.path.endsWith('.ts')) writeFileSync(join(rdir, f.path), f.contents);
    }
    writeFileSync(join(rdir, 'use.ts'), `/// <reference types="@webgpu/types" />
import { expectTypeOf } from 'vitest';
import { createOpen, OPEN, openSource, type OpenShape } from './open.js';

expectTypeOf(OPEN.tokens).toEqualTypeOf<null>();
expectTypeOf(OPEN.grid).toEqualTypeOf<readonly [null, null]>();
expectTypeOf(OPEN.max.grid).toEqualTypeOf<readonly [4096, 4096]>();
expectTypeOf<OpenShape<'bhnd'>>().toEqualTypeOf<readonly [batch: number, heads: number, tokens: number, headDim: 64]>();
expectTypeOf(openSource.runtime!.geom).toEqualTypeOf<readonly string[]>();

export async function use(device: GPUDevice, lengths: GPUBuffer): Promise<Float32Array> {
  const attn = await createOpen(device, { precision: 'f32' });
  const q = attn.createTensor('bhnd', 2, 4, undefined, 8 + 48 * 64);
  attn.run({ q, k: q, v: q, out: q, grid: [48, 64], valid: [77, 0] });
  attn.run({ q, k: q, v: q, out: q, grid: [48, 64], valid: lengths });
  // @ts-expect-error the grid is numbers
  attn.run({ q, k: q, v: q, out: q, grid: ['48', 64] });
  return attn.read(q);
}
`);
    const project = new Project({
      compilerOptions: { strict: true, target: 9 /* ES2022 */, module: 199 /* NodeNext */, moduleResolution: 99 /* NodeNext */, skipLibCheck: true, noEmit: true, types: [] },
    });
    project.addSourceFilesAtPaths(join(rdir, '*.ts'));
    const diags = project.getPreEmitDiagnostics().map((d) => {
      const msg = d.getMessageText();
      return `${d.getSourceFile()?.getBaseName()}:${d.getLineNumber()}: ${typeof msg === 'string' ? msg : msg.getMessageText()}`;
    });
    expect(diags).toEqual([]);
  });

  it('type-checks, and carries the pattern\'s sizes in its types', () => {
    mkdirSync(dir, { recursive: true });
    for (const f of emitWgsl(example('flux_grat_b', [64, 64])).files) {
      if (f.path.endsWith('.ts')) writeFileSync(join(dir, f.path), f.contents);
    }
    writeFileSync(join(dir, 'use.ts'), `/// <reference types="@webgpu/types" />
import { expectTypeOf } from 'vitest';
import type { GratTensor } from './gratc_webgpu_runtime.js';
import { createFluxGratB, FLUX_GRAT_B, fluxGratBSource, type FluxGratBAttention, type FluxGratBShape, type FluxGratBTensor } from './flux_grat_b.js';

expectTypeOf(FLUX_GRAT_B.tokens).toEqualTypeOf<4608>();
expectTypeOf(FLUX_GRAT_B.headDim).toEqualTypeOf<128>();
expectTypeOf(FLUX_GRAT_B.text.place).toEqualTypeOf<'before'>();
expectTypeOf(FLUX_GRAT_B.grid).toEqualTypeOf<readonly [64, 64]>();
expectTypeOf(fluxGratBSource.tokens).toEqualTypeOf<4608>();
expectTypeOf<FluxGratBShape<'bhnd'>>().toEqualTypeOf<readonly [batch: number, heads: number, tokens: 4608, headDim: 128]>();
expectTypeOf<FluxGratBShape<'bnhd'>>().toEqualTypeOf<readonly [batch: number, tokens: 4608, heads: number, headDim: 128]>();
expectTypeOf(createFluxGratB).parameter(0).toEqualTypeOf<GPUDevice>();
expectTypeOf(createFluxGratB).returns.resolves.toEqualTypeOf<FluxGratBAttention>();

export async function use(device: GPUDevice): Promise<Float32Array> {
  const attn = await createFluxGratB(device, { precision: 'f32' });
  const q = attn.createTensor('bnhd', 1, 24);
  expectTypeOf(q).toEqualTypeOf<FluxGratBTensor<'bnhd'>>();
  expectTypeOf(q.shape[1]).toEqualTypeOf<4608>();
  const out = attn.createTensor('bnhd', 1, 24);
  attn.run({ q, k: q, v: q, out, valid: 77 });
  const other = attn.createTensor('bhnd', 1, 24);
  // @ts-expect-error q and out have different layouts
  attn.run({ q, k: q, v: q, out: other });
  const alien = null as unknown as GratTensor<4096, 128, 'bnhd'>;
  // @ts-expect-error a tensor of another token count is refused
  attn.run({ q: alien, k: q, v: q, out });
  // @ts-expect-error no such layout
  attn.createTensor('nbhd', 1, 24);
  // @ts-expect-error no such precision
  await createFluxGratB(device, { precision: 'bf16' });
  return attn.read(out);
}
`);
    const project = new Project({
      compilerOptions: { strict: true, target: 9 /* ES2022 */, module: 199 /* NodeNext */, moduleResolution: 99 /* NodeNext */, skipLibCheck: true, noEmit: true, types: [] },
    });
    project.addSourceFilesAtPaths(join(dir, '*.ts'));
    const diags = project.getPreEmitDiagnostics().map((d) => {
      const msg = d.getMessageText();
      return `${d.getSourceFile()?.getBaseName()}:${d.getLineNumber()}: ${typeof msg === 'string' ? msg : msg.getMessageText()}`;
    });
    expect(diags).toEqual([]);
  });
});

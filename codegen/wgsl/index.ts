/**
 * The WGSL backend: PatternIR → WgslSpec (spec.ts) → one compute shader per variant
 * (templates/attention.wgsl.hbs; f32/f16 × subgroup or workgroup-memory row reductions), a typed
 * TypeScript module (module.ts, ts-morph) and a copy of the WebGPU runtime it imports.
 *   <kernel>.<variant>.wgsl     the shaders (role 'kernel')
 *   <pattern>.ts                 constants, shapes, kernel source, create<Pattern>(device) (role 'types')
 *   gratc_webgpu_runtime.ts      runtime.ts, verbatim (role 'runtime')
 */
import type { Backend, EmitResult, EmittedFile } from '../backend.js';
import { TARGET } from './target.js';
import type { PatternIR } from '../../compiler/ir.js';
import { diag } from '../../dsl/diagnostics.js';
import { RUNTIME_FILE, runtimeSource, typedModule } from './module.js';
import { compileWgsl } from './source.js';
import { canonicalSpec, isBound, specHash, wgslLaunch } from './spec.js';

export { planWgsl, kernelName, wgslLaunch, allVariants, variantOf, type WgslSpec, type WgslVariant } from './spec.js';
export { renderVariant } from './render.js';
export { compileWgsl, kernelSource } from './source.js';

export function emitWgsl(ir: PatternIR): EmitResult {
  const { spec, source, diagnostics } = compileWgsl(ir);
  if (!spec || !source) return { files: [], diagnostics, info: {} };
  if (spec.pattern === RUNTIME_FILE) {
    // the typed module would overwrite the runtime copy it imports
    return { files: [], diagnostics: [...diagnostics, diag('E0922', `the WGSL backend cannot name a pattern '${RUNTIME_FILE}': its module would replace the runtime file of that name`, null, { hint: 'rename the pattern (pattern NAME)' })], info: {} };
  }
  const files: EmittedFile[] = source.variants.map((v) => ({ path: `${source.kernel}.${v.id}.wgsl`, contents: v.code, role: 'kernel' }));
  files.push({ path: `${spec.pattern}.ts`, contents: typedModule({ spec, source, dtype: ir.dtype }), role: 'types' });
  files.push({ path: `${RUNTIME_FILE}.ts`, contents: runtimeSource(), role: 'runtime' });
  return {
    files,
    diagnostics,
    info: {
      kernel: source.kernel,
      specHash: specHash(spec),
      spec: JSON.parse(canonicalSpec(spec)) as unknown,
      module: `${spec.pattern}.ts`,
      variants: source.variants.map(({ code: _code, ...v }) => v),
      // sizes taken at launch: the workgroups are counted per launch (the runtime's launchOf)
      dispatch: { workgroups: isBound(spec) ? wgslLaunch(spec).workgroups : null, perDimension: 'x (then y) = tiles, z = batch * heads', threads: source.variants[0].threads },
      ...(source.runtime ? { runtime: spec.runtime } : {}),
    },
  };
}

export const wgslBackend: Backend = {
  target: TARGET.name,
  description: 'WGSL compute shaders for WebGPU (f32/f16, subgroups or workgroup memory) with a typed TypeScript module',
  runtimeSizes: true,
  emit: emitWgsl,
};


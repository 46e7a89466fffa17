/**
 * The runtime's view of a compiled pattern (GratKernelSource: sizes + every variant's WGSL),
 * without the typed-module generator, so Node tools (verify, tests, the benchmark bundle) need
 * no TypeScript compiler at run time.
 */
import type { PatternIR } from '../../compiler/ir.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import type { GratKernelSource } from './runtime.js';
import { renderVariant } from './render.js';
import { allVariants, BLOCK_Q, kernelName, planWgsl, wgslLaunch, type WgslSpec } from './spec.js';

/** The runtime's view of a spec: sizes and every variant's WGSL. */
export function kernelSource(spec: WgslSpec): GratKernelSource {
  const f = wgslLaunch(spec);
  return {
    kernel: kernelName(spec),
    pattern: spec.pattern,
    tokens: spec.layout.tokens,
    headDim: spec.headDim,
    textCount: spec.layout.textCount,
    gridTiles: f.workgroups,
    ...(f.textSplits > 1 ? { textSplit: { splits: f.textSplits, rows: f.textTiles * BLOCK_Q } } : {}),
    scale: spec.scale,
    preferred: spec.preferred,
    variants: allVariants(spec).map((v) => ({
      id: v.id,
      precision: v.precision,
      reduction: v.reduction,
      lanes: v.lanes,
      threads: v.threads,
      workgroupStorage: v.workgroupStorage,
      features: v.features,
      minSubgroupSize: v.minSubgroupSize,
      code: renderVariant(spec, v),
    })),
  };
}

/** Plans and renders a pattern for the runtime (Node: verify, tests, benchmarks). */
export function compileWgsl(ir: PatternIR): { source: GratKernelSource | null; spec: WgslSpec | null; diagnostics: readonly Diagnostic[] } {
  const { spec, diagnostics } = planWgsl(ir);
  return { source: spec ? kernelSource(spec) : null, spec, diagnostics };
}


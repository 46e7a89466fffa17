/**
 * The runtime's view of a compiled pattern (GratKernelSource: sizes + every variant's WGSL),
 * without the typed-module generator, so Node tools (verify, tests, the benchmark bundle) need
 * no TypeScript compiler at run time.
 */
import type { PatternIR } from '../../compiler/ir.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import type { GratKernelSource, GratRuntimeSizes } from './runtime.js';
import { geomFields } from '../cursor.js';
import { renderVariant } from './render.js';
import { allVariants, BLOCK_K, BLOCK_Q, isBound, kernelName, MAX_TEXT_SPLITS, MIN_TILES_PER_SPLIT, planWgsl, tilesPerGroup, wgslLaunch, type WgslSpec } from './spec.js';

/** What the runtime computes per launch for a spec that takes sizes at launch (its limits, the Geom fields). */
function runtimeSizes(spec: WgslSpec & { readonly runtime: NonNullable<WgslSpec['runtime']> }): GratRuntimeSizes {
  const rt = spec.runtime, text = spec.text;
  const count = text?.count;
  return {
    grid: spec.dims.map((d) => (typeof d.size === 'number' ? d.size : d.size.kind === 'fixed' ? d.size.value : null)),
    group: spec.dims.map((d) => d.group),
    max: { grid: rt.max.dims, text: rt.max.text, tokens: rt.max.tokens, groups: rt.max.groups },
    text: text ? { place: text.place, count: typeof count === 'number' ? count : count?.kind === 'fixed' ? count.value : null } : null,
    textQueries: spec.textQueries,
    tilesPerGroup: tilesPerGroup(spec),
    blockQ: BLOCK_Q,
    splitKeys: MIN_TILES_PER_SPLIT * BLOCK_K,
    maxSplits: MAX_TEXT_SPLITS,
    geom: geomFields(spec),
  };
}

/** The runtime's view of a spec: sizes and every variant's WGSL. */
export function kernelSource(spec: WgslSpec): GratKernelSource {
  // sizes taken at launch: tokens and text count are the limits, the tiles are counted per launch
  const sizes = isBound(spec)
    ? (() => {
      const f = wgslLaunch(spec);
      return {
        tokens: spec.layout.tokens, textCount: spec.layout.textCount, gridTiles: f.workgroups,
        ...(f.textSplits > 1 ? { textSplit: { splits: f.textSplits, rows: f.textTiles * BLOCK_Q } } : {}),
      };
    })()
    : { tokens: spec.runtime.max.tokens, textCount: spec.runtime.max.text, gridTiles: 0, runtime: runtimeSizes(spec) };
  return {
    kernel: kernelName(spec),
    pattern: spec.pattern,
    headDim: spec.headDim,
    ...sizes,
    scale: spec.scale,
    preferred: spec.preferred,
    variants: allVariants(spec).map((v) => ({
      id: v.id,
      precision: v.precision,
      reduction: v.reduction,
      qStaging: v.qStaging,
      lanes: v.lanes,
      threads: v.threads,
      workgroupStorage: v.workgroupStorage,
      features: v.features,
      minSubgroupSize: v.minSubgroupSize,
      ...(v.matrix ? { matrix: v.matrix } : {}),
      code: renderVariant(spec, v),
    })),
  };
}

/** Plans and renders a pattern for the runtime (Node: verify, tests, benchmarks). */
export function compileWgsl(ir: PatternIR): { source: GratKernelSource | null; spec: WgslSpec | null; diagnostics: readonly Diagnostic[] } {
  const { spec, diagnostics } = planWgsl(ir);
  return { source: spec ? kernelSource(spec) : null, spec, diagnostics };
}


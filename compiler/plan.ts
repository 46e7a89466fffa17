/**
 * The kernel plan: computed once from the checked IR and consumed by every kernel backend (CUDA,
 * WGSL) and by the multi-GPU planner. It holds what every kernel of a pattern computes, normalised
 * so emitted 32-bit integer arithmetic cannot overflow (finite term windows), and the layout facts
 * the kernels, hosts and loaders share (token counts and offsets, query groups, which terms are
 * walked as runs of whole image rows). Backends add only their tiling and variants; the hash that
 * names a kernel (or an ONNX function) is over the plan's identity, those additions and the
 * generator's version (`artefactIdentity`).
 *
 * The IR is trusted here: the checker guarantees concrete sizes, 32-bit token indices and 32-bit
 * literals, so nothing is re-checked.
 */
import { createHash } from 'node:crypto';
import type { AxisRange, Border, BoolExpr, ImageTerm, Order, PatternIR, TextPlace } from './ir.js';
import { groupCount, imageOffset, imageTokens, textOffset } from './ir.js';
import { identifierOf, KERNEL_NAME_CHARS } from './identifier.js';

export type PlanTerm =
  | { readonly kind: 'box'; readonly axes: readonly AxisRange[]; readonly border: Border }
  | { readonly kind: 'predicate'; readonly bounds: readonly AxisRange[]; readonly expr: BoolExpr };

export interface PlanDim {
  readonly size: number;
  readonly group: number;
  readonly groups: number;
}

/** Derived sizes every kernel, host and loader of the pattern uses (one place, not five). */
export interface PlanLayout {
  readonly tokens: number; // grid + text
  readonly imageTokens: number;
  readonly imageOffset: number; // first grid token in the sequence
  readonly textOffset: number; // first text token in the sequence
  readonly textCount: number;
  readonly queryGroups: number;
  readonly maxGroupTokens: number; // tokens of a full (non-edge) group
  readonly groupExtent: readonly number[]; // tokens of a full group along each axis: min(group, size)
  readonly groupsLast: number; // groups along the last axis (a row of the group grid)
}

/** What every kernel of a pattern computes, independent of the target. */
export interface KernelPlan {
  readonly pattern: string; // an identifier
  readonly dims: readonly PlanDim[];
  readonly order: Order;
  readonly text: { readonly count: number; readonly place: TextPlace } | null;
  readonly terms: readonly PlanTerm[];
  readonly imageSeesText: boolean;
  readonly textQueries: { readonly grid: boolean; readonly text: boolean } | null;
  readonly headDim: number;
  readonly scale: number;
  readonly layout: PlanLayout;
  /**
   * Per term: the first axis of its whole-row runs, or null (walked group by group). A run is
   * every group of the trailing axes runAxis..D-1 at once; in raster order those tokens are whole
   * image rows (or planes of whole rows), so its key tiles are plain contiguous boxes. Only where
   * the term spans those axes whole ('all'), and every earlier term's ownership does not depend
   * on them (their axes there are 'all' too), so the visibility of a run's first group is that of
   * every group in it.
   */
  readonly runAxes: readonly (number | null)[];
}

/** A delta beyond ±groups selects nothing more: clamp so emitted 32-bit arithmetic never overflows. */
export function finiteRange(r: AxisRange, groups: number): AxisRange {
  if (r.kind === 'all') return r;
  if (r.lo > r.hi) return { kind: 'offset', lo: 1, hi: 0 };
  const lo = Math.max(r.lo, -groups), hi = Math.min(r.hi, groups);
  return lo > hi ? { kind: 'offset', lo: 1, hi: 0 } : { kind: 'offset', lo, hi };
}

function planTerm(t: ImageTerm, ir: PatternIR): PlanTerm {
  const g = ir.dims.map((d) => d.groups);
  if (t.kind === 'box') return { kind: 'box', axes: t.axes.map((a, i) => finiteRange(a, g[i])), border: t.border };
  return { kind: 'predicate', bounds: t.bounds.map((a, i) => finiteRange(a, g[i])), expr: t.expr };
}

/** The window a term scans along each axis, and its border (a predicate's bounds are clipped). */
export const termAxes = (t: PlanTerm): readonly AxisRange[] => (t.kind === 'box' ? t.axes : t.bounds);
export const termBorder = (t: PlanTerm): Border => (t.kind === 'box' ? t.border : 'clip');

function runAxesOf(order: Order, terms: readonly PlanTerm[], D: number): (number | null)[] {
  return terms.map((t, i) => {
    if (order !== 'raster' || D < 2 || D > 3 || t.kind !== 'box') return null;
    let c0 = D;
    while (c0 > 0 && t.axes[c0 - 1].kind === 'all') c0--;
    if (c0 === D) return null;
    for (let j = 0; j < i; j++) {
      const e = terms[j];
      if (e.kind !== 'box') return null;
      for (let a = c0; a < D; a++) if (e.axes[a].kind !== 'all') return null;
    }
    return c0;
  });
}

/** The plan of a checked IR. */
export function kernelPlan(ir: PatternIR): KernelPlan {
  const dims = ir.dims.map((d) => ({ size: d.size, group: d.group, groups: d.groups }));
  const terms = ir.image.terms.map((t) => planTerm(t, ir));
  const groupExtent = dims.map((d) => Math.min(d.group, d.size));
  return {
    pattern: identifierOf(ir.name, KERNEL_NAME_CHARS),
    dims,
    order: ir.order,
    text: ir.text ? { count: ir.text.count, place: ir.text.place } : null,
    terms,
    imageSeesText: ir.image.text && ir.text !== null,
    textQueries: ir.textQueries ? { grid: ir.textQueries.grid, text: ir.textQueries.text } : null,
    headDim: ir.headDim,
    scale: ir.scale,
    layout: {
      tokens: imageTokens(ir) + (ir.text?.count ?? 0),
      imageTokens: imageTokens(ir),
      imageOffset: imageOffset(ir),
      textOffset: textOffset(ir),
      textCount: ir.text?.count ?? 0,
      queryGroups: groupCount(ir),
      maxGroupTokens: groupExtent.reduce((n, e) => n * e, 1),
      groupExtent,
      groupsLast: dims[dims.length - 1].groups,
    },
    runAxes: runAxesOf(ir.order, terms, dims.length),
  };
}

/** Query tiles of `blockQ` rows: per image query group (edge groups may use fewer), of the text, in all. */
export interface QueryTiling {
  readonly blockQ: number;
  readonly tilesPerGroup: number;
  readonly textTiles: number;
  readonly gridTiles: number; // textTiles + queryGroups * tilesPerGroup
}
export function queryTiling(plan: KernelPlan, blockQ: number): QueryTiling {
  const tilesPerGroup = Math.ceil(plan.layout.maxGroupTokens / blockQ);
  const textTiles = plan.textQueries ? Math.ceil(plan.layout.textCount / blockQ) : 0;
  return { blockQ, tilesPerGroup, textTiles, gridTiles: textTiles + plan.layout.queryGroups * tilesPerGroup };
}

/**
 * The part of a plan that names a kernel: what the pattern computes (derived facts follow from
 * it and are left out, so a kernel's name does not move when a derived fact is added).
 */
export function planIdentity(plan: KernelPlan): Record<string, unknown> {
  const { layout: _layout, runAxes: _runAxes, ...identity } = plan;
  return identity;
}

/**
 * The generator of an artefact, `<target>/<version>`. It is part of every artefact's identity:
 * bump a backend's version when it emits something else for the same plan, so the new output
 * gets a new name (and a stale build or pipeline cache entry is never taken for it).
 */
export type Generator = `${string}/${number}`;

/**
 * What names an artefact (a CUDA or WGSL kernel, an ONNX function): the generator, the plan's
 * identity and the backend's own additions (its tiling, variant, options). Nothing else: not the
 * text's formatting, not another target's schedule (the plan holds neither).
 */
export function artefactIdentity(generator: Generator, plan: KernelPlan, additions: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return { ...planIdentity(plan), ...additions, generator };
}

/** JSON with sorted keys: byte-stable, so equal specializations hash equally. */
export function canonicalJson(v: unknown): string {
  const sortKeys = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sortKeys);
    if (x !== null && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
    }
    return x;
  };
  return JSON.stringify(sortKeys(v));
}

export const specHashOf = (spec: unknown): string => createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);

/** `grat_<pattern>_<hash12>`: an identifier, a file stem and the build/pipeline-cache key. */
export const kernelNameOf = (pattern: string, identity: unknown): string => `grat_${pattern}_${specHashOf(identity).slice(0, 12)}`;

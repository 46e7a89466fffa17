/**
 * The kernel plan: computed once from the checked IR and consumed by every kernel backend (CUDA,
 * WGSL) and by the multi-GPU planner. It holds what every kernel of a pattern computes, normalised
 * so emitted 32-bit integer arithmetic cannot overflow (finite term windows), and the layout facts
 * the kernels, hosts and loaders share (token counts and offsets, query groups, which terms are
 * walked as runs of whole image rows). Backends add only their tiling and variants; the hash that
 * names a kernel (or an ONNX function) is over the plan's identity, those additions and the
 * generator's version (`artefactIdentity`).
 *
 * The IR is trusted here: the checker guarantees 32-bit token indices (at the run-time maxima
 * where sizes are left to launch) and 32-bit literals, so nothing is re-checked.
 */
import { createHash } from 'node:crypto';
import type { AxisRange, Border, BoolExpr, ImageTerm, Order, PatternIR, TextPlace } from './ir.js';
import { identifierOf, KERNEL_NAME_CHARS } from './identifier.js';

export type PlanTerm =
  | { readonly kind: 'box'; readonly axes: readonly AxisRange[]; readonly border: Border }
  | { readonly kind: 'predicate'; readonly bounds: readonly AxisRange[]; readonly expr: BoolExpr };

/**
 * A grid size or text count: compiled in (kernels specialise on it) or taken at launch (kernels
 * read it from their parameters; `max` is the largest the checker proved 32-bit safe).
 */
export type PlanSize = { readonly kind: 'fixed'; readonly value: number } | { readonly kind: 'runtime'; readonly max: number };
export const fixedSize = (value: number): PlanSize => ({ kind: 'fixed', value });
/** The size's largest value: a fixed size's value, a run-time size's maximum. */
export const sizeMax = (s: PlanSize): number => (s.kind === 'fixed' ? s.value : s.max);

export interface PlanDim {
  readonly size: PlanSize;
  readonly group: number;
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

/** Which sizes a plan leaves to launch and their limits (the spec JSON's "runtime"). */
export interface PlanRuntime {
  readonly dims: readonly boolean[];
  readonly text: boolean;
  readonly max: { readonly dims: readonly number[]; readonly text: number; readonly tokens: number; readonly groups: number };
}

/**
 * What every kernel of a pattern computes, independent of the target, with each size typed as
 * compiled in or taken at launch. `bindPlan` gives the plan at concrete sizes (BoundPlan): what
 * the cursor interpreter, the multi-GPU planner and backends without run-time sizes read.
 */
export interface KernelPlan {
  readonly pattern: string; // an identifier
  readonly dims: readonly PlanDim[];
  readonly order: Order;
  readonly text: { readonly count: PlanSize; readonly place: TextPlace } | null;
  readonly terms: readonly PlanTerm[];
  readonly imageSeesText: boolean;
  readonly textQueries: { readonly grid: boolean; readonly text: boolean } | null;
  readonly headDim: number;
  readonly scale: number;
  /** null: every size is fixed. */
  readonly runtime: PlanRuntime | null;
  /**
   * Per term: the first axis of its whole-row runs, or null (walked group by group). A run is
   * every group of the trailing axes runAxis..D-1 at once; in raster order those tokens are whole
   * image rows (or planes of whole rows), so its key tiles are plain contiguous boxes. Only where
   * the term spans those axes whole ('all'), and every earlier term's ownership does not depend
   * on them (their axes there are 'all' too), so the visibility of a run's first group is that of
   * every group in it. (Independent of the sizes.)
   */
  readonly runAxes: readonly (number | null)[];
}

export interface BoundDim {
  readonly size: number;
  readonly group: number;
  readonly groups: number;
}

/** A plan at concrete sizes (a fixed plan's own, or a launch's): every size a number, and the layout. */
export interface BoundPlan extends Omit<KernelPlan, 'dims' | 'text'> {
  readonly dims: readonly BoundDim[];
  readonly text: { readonly count: number; readonly place: TextPlace } | null;
  readonly layout: PlanLayout;
}

/** The sizes of one launch: grid sizes outermost first, and the text count (0 without text). */
export interface LaunchSizes {
  readonly grid: readonly number[];
  readonly text: number;
}

/** A delta beyond ±groups selects nothing more: clamp so emitted 32-bit arithmetic never overflows. */
export function finiteRange(r: AxisRange, groups: number): AxisRange {
  if (r.kind === 'all') return r;
  if (r.lo > r.hi) return { kind: 'offset', lo: 1, hi: 0 };
  const lo = Math.max(r.lo, -groups), hi = Math.min(r.hi, groups);
  return lo > hi ? { kind: 'offset', lo: 1, hi: 0 } : { kind: 'offset', lo, hi };
}

/** Clamped at the (largest) group counts: a run-time axis never has more groups than its maximum's. */
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

/** The plan of a checked IR (its run-time sizes, ir.runtime, typed as such). */
export function kernelPlan(ir: PatternIR): KernelPlan {
  const rt = ir.runtime ?? null;
  const sizeOf = (value: number, runtime: boolean): PlanSize => (runtime ? { kind: 'runtime', max: value } : fixedSize(value));
  const dims = ir.dims.map((d, a) => ({ size: sizeOf(d.size, rt?.dims[a] ?? false), group: d.group }));
  const terms = ir.image.terms.map((t) => planTerm(t, ir));
  const runtime = rt && (rt.text || rt.dims.some((x) => x))
    ? { dims: [...rt.dims], text: rt.text, max: { dims: [...rt.max.dims], text: rt.max.text, tokens: rt.max.tokens, groups: rt.max.groups } }
    : null;
  return {
    pattern: identifierOf(ir.name, KERNEL_NAME_CHARS),
    dims,
    order: ir.order,
    text: ir.text ? { count: sizeOf(ir.text.count, rt?.text ?? false), place: ir.text.place } : null,
    terms,
    imageSeesText: ir.image.text && ir.text !== null,
    textQueries: ir.textQueries ? { grid: ir.textQueries.grid, text: ir.textQueries.text } : null,
    headDim: ir.headDim,
    scale: ir.scale,
    runtime,
    runAxes: runAxesOf(ir.order, terms, dims.length),
  };
}

/** The fixed sizes of a plan; null when some size is taken at launch. */
export function fixedSizes(plan: KernelPlan): LaunchSizes | null {
  if (plan.runtime) return null;
  return { grid: plan.dims.map((d) => sizeMax(d.size)), text: plan.text ? sizeMax(plan.text.count) : 0 };
}

/**
 * Why a launch's sizes do not fit the plan (a fixed size differs, a run-time size is out of its
 * range, too many tokens or groups), or null when they fit: the check every host makes.
 */
export function launchSizesError(plan: KernelPlan, s: LaunchSizes): string | null {
  const D = plan.dims.length;
  if (s.grid.length !== D) return `the grid has ${D} dims, got ${s.grid.length} sizes`;
  for (let a = 0; a < D; a++) {
    const d = plan.dims[a].size, v = s.grid[a];
    if (!Number.isSafeInteger(v) || v < 1) return `grid size ${a} must be a positive integer, got ${v}`;
    if (d.kind === 'fixed' && v !== d.value) return `grid size ${a} is compiled as ${d.value}, got ${v}`;
    if (d.kind === 'runtime' && v > d.max) return `grid size ${a} is ${v}, past the limit ${d.max}`;
  }
  const t = plan.text?.count;
  if (!Number.isSafeInteger(s.text) || s.text < 0) return `the text count must be >= 0, got ${s.text}`;
  if (!t && s.text !== 0) return `the pattern has no text, got a text count of ${s.text}`;
  if (t?.kind === 'fixed' && s.text !== t.value) return `the text count is compiled as ${t.value}, got ${s.text}`;
  if (t?.kind === 'runtime' && s.text > t.max) return `the text count is ${s.text}, past the limit ${t.max}`;
  if (plan.runtime) {
    const tokens = s.grid.reduce((n, x) => n * x, 1) + s.text;
    if (tokens > plan.runtime.max.tokens) return `${tokens} tokens, past the limit ${plan.runtime.max.tokens}`;
    const groups = s.grid.reduce((n, x, a) => n * Math.ceil(x / plan.dims[a].group), 1);
    if (groups > plan.runtime.max.groups) return `${groups} query groups, past the limit ${plan.runtime.max.groups}`;
  }
  return null;
}

/** The plan at a launch's sizes (default: its fixed sizes). Throws on sizes that do not fit (launchSizesError). */
export function bindPlan(plan: KernelPlan, sizes?: LaunchSizes): BoundPlan {
  const s = sizes ?? fixedSizes(plan);
  if (!s) throw new Error(`plan ${plan.pattern}: sizes are taken at launch; bindPlan needs them`);
  const err = launchSizesError(plan, s);
  if (err) throw new Error(`plan ${plan.pattern}: ${err}`);
  const dims = plan.dims.map((d, a) => ({ size: s.grid[a], group: d.group, groups: Math.ceil(s.grid[a] / d.group) }));
  const groupExtent = dims.map((d) => Math.min(d.group, d.size));
  const imageTokens = dims.reduce((n, d) => n * d.size, 1);
  const place = plan.text?.place;
  return {
    ...plan,
    dims,
    text: plan.text ? { count: s.text, place: plan.text.place } : null,
    layout: {
      tokens: imageTokens + s.text,
      imageTokens,
      imageOffset: place === 'before' ? s.text : 0,
      textOffset: place === 'before' ? 0 : imageTokens,
      textCount: s.text,
      queryGroups: dims.reduce((n, d) => n * d.groups, 1),
      maxGroupTokens: groupExtent.reduce((n, e) => n * e, 1),
      groupExtent,
      groupsLast: dims[dims.length - 1].groups,
    },
  };
}

/** The plan at its fixed sizes, or null when some size is taken at launch. */
export const fixedPlan = (plan: KernelPlan): BoundPlan | null => (plan.runtime ? null : bindPlan(plan));

/**
 * Tokens of a full group along each axis: min(group, size); on a run-time axis the group (no
 * group is longer), so kernels' "full group" fast paths and tile counts hold at every size.
 */
export const groupExtents = (plan: KernelPlan): number[] =>
  plan.dims.map((d) => (d.size.kind === 'fixed' ? Math.min(d.group, d.size.value) : d.group));

/** Query tiles of `blockQ` rows a full group needs (an edge group's missing tiles end at once). */
export const tilesPerGroupOf = (plan: KernelPlan, blockQ: number): number => Math.ceil(groupExtents(plan).reduce((n, e) => n * e, 1) / blockQ);

/** Query tiles of `blockQ` rows: per image query group (edge groups may use fewer), of the text, in all. */
export interface QueryTiling {
  readonly blockQ: number;
  readonly tilesPerGroup: number;
  readonly textTiles: number;
  readonly gridTiles: number; // textTiles + queryGroups * tilesPerGroup
}
export function queryTiling(plan: BoundPlan, blockQ: number): QueryTiling {
  const tilesPerGroup = Math.ceil(plan.layout.maxGroupTokens / blockQ);
  const textTiles = plan.textQueries ? Math.ceil(plan.layout.textCount / blockQ) : 0;
  return { blockQ, tilesPerGroup, textTiles, gridTiles: textTiles + plan.layout.queryGroups * tilesPerGroup };
}

/**
 * The part of a plan that names a kernel: what the pattern computes (derived facts follow from
 * it and are left out, so a kernel's name does not move when a derived fact is added).
 */
export function planIdentity(plan: KernelPlan | BoundPlan): Record<string, unknown> {
  const { runAxes: _runAxes, runtime, ...rest } = plan;
  const { layout: _layout, ...identity } = rest as typeof rest & { layout?: unknown };
  // a fixed size is written as it always was ({size, group, groups}, a text count), so kernels
  // of fixed patterns keep their names; a run-time size as {runtime: max}, with the limits
  const size = (s: PlanSize | number): number | { runtime: number } => (typeof s === 'number' ? s : s.kind === 'fixed' ? s.value : { runtime: s.max });
  const dims = plan.dims.map((d) => {
    const sz = size(d.size);
    return typeof sz === 'number' ? { size: sz, group: d.group, groups: Math.ceil(sz / d.group) } : { size: sz, group: d.group };
  });
  const text = plan.text ? { count: size(plan.text.count), place: plan.text.place } : null;
  return { ...identity, dims, text, ...(runtime ? { runtime } : {}) };
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
export function artefactIdentity(generator: Generator, plan: KernelPlan | BoundPlan, additions: Readonly<Record<string, unknown>>): Record<string, unknown> {
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

/**
 * The pattern IR: small, closed, concrete (every size bound) and validated once by `check`,
 * so everything downstream trusts it. It says *which* key groups a query group sees in closed
 * form (terms over group coordinates); `keys.ts` turns that into token runs on demand, and
 * `reference.ts` defines the dense mask and float64 attention every backend is tested against.
 */

export type Dtype = 'bf16' | 'fp16' | 'fp32';
export type Order = 'raster' | 'grouped';
export type Border = 'clip' | 'shift';
export type TextPlace = 'before' | 'after';

/** One grid dimension, outermost first. `groups = ceil(size / group)`; the last group may be smaller. */
export interface Dim {
  readonly name: string;
  readonly size: number;
  readonly group: number;
  readonly groups: number;
}

export interface TextSegment {
  readonly count: number; // >= 0; a run-time `valid` <= count says how many are real
  readonly place: TextPlace;
}

/**
 * The key-group coordinates a term allows along one axis, relative to the query group's
 * coordinate q: `offset` = [q+lo, q+hi] (cut or shifted at the edge by the term's border),
 * `all` = every group along the axis.
 */
export type AxisRange =
  | { readonly kind: 'offset'; readonly lo: number; readonly hi: number }
  | { readonly kind: 'all' };

/** A product of per-axis ranges: neighbors() is one box; crisscross is one box per axis. */
export interface BoxTerm {
  readonly kind: 'box';
  readonly axes: readonly AxisRange[]; // one per grid dim
  readonly border: Border;
  readonly origin: string; // the source text it came from, for display
}

/**
 * Predicates over group coordinates, typed: an integer expression and a condition are distinct
 * types, so a comparison of conditions or `where(dh + 1)` cannot be built. `q`, `k`: the query
 * and key group's coordinates, `d` = k - q, `n` the group count (folded to a constant by
 * compiler/simplify.ts). Semantics: docs/language.md ("Integers"), compiler/predicate.ts.
 */
export type IntOp = '+' | '-' | '*' | '/' | '%' | 'min' | 'max';
export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type IntExpr =
  | { readonly op: 'int'; readonly value: number }
  | { readonly op: 'var'; readonly ref: 'q' | 'k' | 'd' | 'n'; readonly axis: number }
  | { readonly op: 'neg' | 'abs'; readonly a: IntExpr }
  | { readonly op: IntOp; readonly a: IntExpr; readonly b: IntExpr };
export type BoolExpr =
  | { readonly op: 'bool'; readonly value: boolean }
  | { readonly op: 'not'; readonly a: BoolExpr }
  | { readonly op: '&&' | '||'; readonly a: BoolExpr; readonly b: BoolExpr }
  | { readonly op: CmpOp; readonly a: IntExpr; readonly b: IntExpr };
/** Any predicate node, for passes that walk both kinds alike (counting, constant checks). */
export type PExpr = IntExpr | BoolExpr;

/**
 * A predicate term. `bounds[i]` is a sound over-approximation of d_i = k_i - q_i for which the
 * predicate can hold (from interval analysis), so enumeration and kernels scan only that window.
 */
export interface PredicateTerm {
  readonly kind: 'predicate';
  /** Simplified (compiler/simplify.ts): constants folded, deltas on the left of comparisons. */
  readonly expr: BoolExpr;
  readonly bounds: readonly AxisRange[];
  readonly origin: string;
}

export type ImageTerm = BoxTerm | PredicateTerm;

/** Keys of image queries: a union of terms over key groups, plus (optionally) the valid text keys. */
export interface ImageRegion {
  readonly terms: readonly ImageTerm[];
  readonly text: boolean;
}

/** Keys of text queries: the whole grid and/or the valid text keys. */
export interface TextRegion {
  readonly grid: boolean;
  readonly text: boolean;
}

export type ScheduleValue = number | string;

/**
 * Sizes taken at launch: a `?` grid size or text count that nothing bound when compiling. The
 * checker proves 32-bit safety at the maxima (every size up to them is then safe too) and the
 * IR's sizes of those dims (and its text count) ARE the maxima: size-dependent facts computed
 * from such an IR (cost, statistics) are upper bounds. compiler/plan.ts types them as run-time
 * sizes; kernels take the actual sizes at launch and reject ones past `max`.
 */
export interface RuntimeSizes {
  readonly dims: readonly boolean[]; // per grid dim, outermost first
  readonly text: boolean;
  readonly max: {
    readonly dims: readonly number[]; // per dim: the largest size (a fixed dim: its size)
    readonly text: number; // the largest text count (fixed: the count; no text: 0)
    readonly tokens: number; // the largest grid + text
    readonly groups: number; // the largest number of query groups
  };
}

export interface PatternIR {
  readonly name: string;
  readonly dims: readonly Dim[]; // 1 to 3
  readonly order: Order;
  readonly text: TextSegment | null;
  readonly image: ImageRegion;
  readonly textQueries: TextRegion | null; // null exactly when text is null
  readonly headDim: number;
  readonly dtype: Dtype;
  readonly scale: number;
  /** `schedule <target> key=value`, per target (the targets and their keys are codegen's: codegen/targets.ts). */
  readonly schedule: Readonly<Partial<Record<string, Readonly<Record<string, ScheduleValue>>>>>;
  /** Sizes left to launch (CheckOptions.runtimeSizes); absent or null: every size is concrete. */
  readonly runtime?: RuntimeSizes | null;
}

/** Does the IR leave any size to launch? */
export const hasRuntimeSizes = (ir: PatternIR): boolean => ir.runtime != null && (ir.runtime.text || ir.runtime.dims.some((x) => x));

/** Tokens in the grid. */
export const imageTokens = (ir: PatternIR): number => ir.dims.reduce((n, d) => n * d.size, 1);
/** Total sequence length: grid + text. */
export const totalTokens = (ir: PatternIR): number => imageTokens(ir) + (ir.text?.count ?? 0);
/** First token index of the grid in the sequence. */
export const imageOffset = (ir: PatternIR): number => (ir.text?.place === 'before' ? ir.text.count : 0);
/** First token index of the text segment in the sequence. */
export const textOffset = (ir: PatternIR): number => (ir.text?.place === 'before' ? 0 : imageTokens(ir));
/** Number of query groups of the grid. */
export const groupCount = (ir: PatternIR): number => ir.dims.reduce((n, d) => n * d.groups, 1);

/**
 * The plain, typed AST that leaves dsl/. It mirrors the text (one node per statement, in source
 * order, duplicates kept) so the checker can report duplicates and conflicts with both spans.
 * Every node carries the span of the text it came from.
 */
import type { Span } from './span.js';

export interface Ident { readonly name: string; readonly span: Span }
/** An integer literal (kept as text too, so 40-digit numbers are reported, not rounded), or `?`. */
export interface IntLit { readonly kind: 'int'; readonly text: string; readonly value: number; readonly span: Span }
export interface Unbound { readonly kind: 'unbound'; readonly span: Span }
export type SizeLit = IntLit | Unbound;
export interface NumberLit { readonly text: string; readonly value: number; readonly span: Span }

export interface DimAssign<V> { readonly dim: Ident; readonly value: V; readonly span: Span }

export interface PatternStmt { readonly kind: 'pattern'; readonly name: Ident; readonly span: Span }
export interface GridStmt { readonly kind: 'grid'; readonly dims: readonly DimAssign<SizeLit>[]; readonly span: Span }
export interface GroupStmt { readonly kind: 'group'; readonly dims: readonly DimAssign<IntLit>[]; readonly span: Span }
/** `order`, `border`, `dtype`: a keyword with one identifier value, checked against its allowed set by the checker. */
export interface WordStmt { readonly kind: 'order' | 'border' | 'dtype'; readonly value: Ident; readonly span: Span }
export interface TextStmt { readonly kind: 'text'; readonly count: SizeLit; readonly place: Ident; readonly span: Span }
export interface AttendsStmt { readonly kind: 'attends'; readonly who: Ident /* image | text */; readonly region: Region; readonly span: Span }
export interface HeadDimStmt { readonly kind: 'head_dim'; readonly value: IntLit; readonly span: Span }
export interface ScaleStmt { readonly kind: 'scale'; readonly value: NumberLit; readonly span: Span }
export interface ScheduleStmt {
  readonly kind: 'schedule';
  readonly target: Ident;
  readonly settings: readonly { readonly key: Ident; readonly value: IntLit | Ident; readonly span: Span }[];
  readonly span: Span;
}

export type Statement = PatternStmt | GridStmt | GroupStmt | WordStmt | TextStmt | AttendsStmt | HeadDimStmt | ScaleStmt | ScheduleStmt;

/** A union of terms, `a + b + c`. */
export interface Region { readonly terms: readonly RegionTerm[]; readonly span: Span }

/**
 * A term: a bare word (`text`, `grid`, `all`, `crisscross`), or a call with arguments
 * (`neighbors(1)`, `neighbors(h=1, w=2)`, `crisscross(lines)`, `where(expr)`). Names are checked
 * by the checker, so an unknown name gets a "did you mean" there, with its span.
 */
export type RegionTerm =
  | { readonly kind: 'word'; readonly name: Ident; readonly span: Span }
  | { readonly kind: 'call'; readonly name: Ident; readonly args: readonly CallArg[]; readonly span: Span }
  | { readonly kind: 'where'; readonly expr: Expr; readonly span: Span };

/** `1`, `lines`, or `h=1`. */
export type CallArg =
  | { readonly kind: 'positional'; readonly value: IntLit | Ident; readonly span: Span }
  | { readonly kind: 'named'; readonly key: Ident; readonly value: IntLit; readonly span: Span };

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';
export type Expr =
  | { readonly kind: 'int'; readonly lit: IntLit; readonly span: Span }
  | { readonly kind: 'var'; readonly name: Ident; readonly span: Span }
  | { readonly kind: 'unary'; readonly op: '-' | '!' | 'abs'; readonly arg: Expr; readonly span: Span }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr; readonly span: Span }
  | { readonly kind: 'call'; readonly fn: Ident /* min | max | abs */; readonly args: readonly Expr[]; readonly span: Span };

export interface PatternFile { readonly statements: readonly Statement[]; readonly span: Span }

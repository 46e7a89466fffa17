/**
 * The compiler's front door: text → AST (dsl/) → checked, concrete PatternIR (compiler/check.ts).
 */
import type { Diagnostic } from '../dsl/diagnostics.js';
import type { PatternIR } from './ir.js';

/** Sizes left symbolic (`?`) in the file, bound from outside (CLI flags, runtimes). */
export interface Bindings {
  /** Grid sizes, outermost first; must have as many entries as the file's grid dims. Overrides fixed sizes only if they agree. */
  readonly grid?: readonly number[];
  /** Text token count, for `text ? before|after`. */
  readonly text?: number;
}

export interface CheckOptions extends Bindings {
  /** Pattern name when the file has no `pattern` statement (the CLI passes the file's base name). */
  readonly defaultName?: string;
}

export interface CheckResult {
  /** null when there are errors. */
  readonly ir: PatternIR | null;
  readonly diagnostics: readonly Diagnostic[];
}

export { checkSource } from './check.js';
export * from './ir.js';

/**
 * The compiler's front door: text → AST (dsl/) → checked, concrete PatternIR (compiler/check.ts).
 */
export { checkSource, type Bindings, type CheckOptions, type CheckResult } from './check.js';
export * from './ir.js';

/** dsl/: .grat text → AST, with diagnostics and their rendering. Nothing here throws on bad input. */
export { parse, type ParseResult } from './parse.js';
export { renderDiagnostic, renderDiagnostics, lineCol, type RenderOptions } from './render.js';
export { editDistance, nearest } from './suggest.js';
export * from './ast.js';
export * from './codes.js';
export * from './diagnostics.js';
export * from './span.js';

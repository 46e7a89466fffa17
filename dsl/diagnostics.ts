import { CODES, type Code } from './codes.js';
import type { Span } from './span.js';

export type Severity = 'error' | 'warning';

/** One message about the input. Collected, never thrown. `code` is stable (tests and docs refer to it). */
export interface Diagnostic {
  readonly severity: Severity;
  readonly code: string;
  readonly message: string;
  readonly span: Span | null;
  readonly hint?: string;
  readonly notes?: readonly { readonly message: string; readonly span: Span | null }[];
}

export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/** A diagnostic; its severity is the code's (codes.ts), so a code never changes what it is. */
export const diag = (code: Code, message: string, span: Span | null, extra: Partial<Pick<Diagnostic, 'hint' | 'notes'>> = {}): Diagnostic => ({
  severity: CODES[code].severity, code, message, span, ...extra,
});

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

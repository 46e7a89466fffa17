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

export const error = (code: string, message: string, span: Span | null, extra: Partial<Pick<Diagnostic, 'hint' | 'notes'>> = {}): Diagnostic => ({
  severity: 'error', code, message, span, ...extra,
});

export const warning = (code: string, message: string, span: Span | null, extra: Partial<Pick<Diagnostic, 'hint' | 'notes'>> = {}): Diagnostic => ({
  severity: 'warning', code, message, span, ...extra,
});

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

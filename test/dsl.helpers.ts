/** Shared helpers for the dsl/ tests. */
import { expect } from 'vitest';
import { parse, renderDiagnostic } from '../dsl/index.js';

export const FILE = 'x.grat';

/** The first line of each rendered diagnostic: `x.grat:1:7: error[E0002]: message`. */
export const headers = (input: string): string[] =>
  parse(input).diagnostics.map((d) => renderDiagnostic(d, { path: FILE, text: input }).split('\n')[0]);

/** Exactly one diagnostic, with this header line. */
export const expectParseError = (input: string, header: string): void => {
  expect(headers(input)).toEqual([header]);
};

/** Each rendered diagnostic in full, for the snippet/hint lines. */
export const rendered = (input: string): string[] =>
  parse(input).diagnostics.map((d) => renderDiagnostic(d, { path: FILE, text: input }));

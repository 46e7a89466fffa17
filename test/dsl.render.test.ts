/** The esbuild/rustc-style text of diagnostics, and line/column arithmetic. */
import { describe, expect, it } from 'vitest';
import { lineCol, parse, renderDiagnostic, renderDiagnostics, span, type Diagnostic, type Severity, type Span } from '../dsl/index.js';

/** A diagnostic of any code and severity: these tests are about rendering, not codes (dsl/codes.ts). */
const make = (severity: Severity) => (code: string, message: string, at: Span | null, extra: Partial<Diagnostic> = {}): Diagnostic => ({ severity, code, message, span: at, ...extra });
const error = make('error');
const warning = make('warning');

const file = (text: string) => ({ path: 'examples/x.grat', text });

describe('lineCol', () => {
  it('is 1-based and counts UTF-16 code units', () => {
    const text = 'ab\ncd😀e\n';
    expect(lineCol(text, 0)).toEqual({ line: 1, col: 1 });
    expect(lineCol(text, 2)).toEqual({ line: 1, col: 3 }); // the newline itself
    expect(lineCol(text, 3)).toEqual({ line: 2, col: 1 });
    expect(lineCol(text, 7)).toEqual({ line: 2, col: 5 }); // after the surrogate pair
    expect(lineCol(text, text.length)).toEqual({ line: 3, col: 1 });
  });
  it('treats \\r\\n and \\r as one line end, like the lexer', () => {
    const text = 'a\r\nb\rc';
    expect(lineCol(text, 3)).toEqual({ line: 2, col: 1 });
    expect(lineCol(text, 5)).toEqual({ line: 3, col: 1 });
  });
  it('clamps offsets outside the text', () => {
    expect(lineCol('abc', -5)).toEqual({ line: 1, col: 1 });
    expect(lineCol('abc', 99)).toEqual({ line: 1, col: 4 });
    expect(lineCol('abc', Number.NaN)).toEqual({ line: 1, col: 1 });
  });
});

describe('renderDiagnostic', () => {
  it('prints location, source line and carets', () => {
    const text = 'pattern p\ngrid h=64\ngrid h= w=64\n';
    const [d] = parse(text).diagnostics;
    expect(renderDiagnostic(d, file(text))).toBe([
      "examples/x.grat:3:9: error[E0002]: expected an integer or '?' after 'h='",
      '    3 | grid h= w=64',
      '      |         ^',
    ].join('\n'));
  });

  it('carets cover the span', () => {
    const text = 'grdi h=64';
    expect(renderDiagnostic(error('E0003', 'm', span(0, 4)), file(text)).split('\n')[2]).toBe('      | ^^^^');
  });

  it('a zero-width span at the end of a line still gets one caret', () => {
    const text = 'head_dim\nscale 1';
    const [d] = parse(text).diagnostics;
    expect(renderDiagnostic(d, file(text))).toBe([
      "examples/x.grat:1:9: error[E0002]: expected an integer after 'head_dim'",
      '    1 | head_dim',
      '      |         ^',
    ].join('\n'));
  });

  it('clips a span that crosses lines to its first line', () => {
    const text = 'abc def\nghi';
    expect(renderDiagnostic(error('E9', 'm', span(4, 10)), file(text)).split('\n').slice(1)).toEqual([
      '    1 | abc def',
      '      |     ^^^',
    ]);
  });

  it('keeps tabs in the caret line so carets align', () => {
    const text = 'grid\th=\tw=64';
    const [d] = parse(text).diagnostics;
    expect(renderDiagnostic(d, file(text)).split('\n').slice(1)).toEqual(['    1 | grid\th=\tw=64', '      |     \t  \t^']);
  });

  it('without a span prints the path only', () => {
    expect(renderDiagnostic(error('E0100', 'missing grid', null), file('x'))).toBe('examples/x.grat: error[E0100]: missing grid');
  });

  it('prints hints and notes, notes with their own location', () => {
    const text = 'head_dim 64\nhead_dim 128';
    const d = warning('E0200', 'duplicate head_dim', span(12, 24), {
      hint: 'remove one',
      notes: [{ message: 'first given here', span: span(0, 11) }, { message: 'no span here', span: null }],
    });
    expect(renderDiagnostic(d, file(text))).toBe([
      'examples/x.grat:2:1: warning[E0200]: duplicate head_dim',
      '    2 | head_dim 128',
      '      | ^^^^^^^^^^^^',
      '  hint: remove one',
      '  note: examples/x.grat:1:1: first given here',
      '    1 | head_dim 64',
      '      | ^^^^^^^^^^^',
      '  note: no span here',
    ].join('\n'));
  });

  it('widens the gutter for big line numbers', () => {
    const text = `${'\n'.repeat(123456)}x`;
    expect(renderDiagnostic(error('E1', 'm', span(123456, 123457)), file(text)).split('\n').slice(1)).toEqual([' 123457 | x', '        | ^']);
  });

  it('cuts long lines to a window around the span', () => {
    const text = `${'a'.repeat(1000)} @ ${'b'.repeat(1000)}`;
    const [d] = parse(text).diagnostics;
    const [, src, carets] = renderDiagnostic(d, file(text)).split('\n');
    expect(src.length).toBeLessThan(200);
    expect(src).toMatch(/^ {4}1 \| …a+ @ b+…$/);
    expect(src.indexOf('@')).toBe(carets.indexOf('^'));
  });

  it('replaces control characters in the shown line', () => {
    const text = 'grid\u0007 h=\u001b[31m';
    for (const d of parse(text).diagnostics) expect(renderDiagnostic(d, file(text))).not.toMatch(/[\x07\x1b]/);
  });

  it('colours only when asked', () => {
    const d = error('E0002', 'm', span(0, 1));
    expect(renderDiagnostic(d, file('x'))).not.toContain('\x1b[');
    const c = renderDiagnostic(d, file('x'), { color: true });
    expect(c).toContain('\x1b[1;31merror[E0002]\x1b[0m');
    expect(c.replace(/\x1b\[[0-9;]*m/g, '')).toBe(renderDiagnostic(d, file('x')));
  });

  it('renderDiagnostics separates diagnostics with a blank line', () => {
    const text = 'grdi\nordr x';
    const out = renderDiagnostics(parse(text).diagnostics, file(text));
    expect(out.split('\n\n').map((s) => s.split('\n')[0])).toEqual([
      "examples/x.grat:1:1: error[E0003]: unknown statement 'grdi'",
      "examples/x.grat:2:1: error[E0003]: unknown statement 'ordr'",
    ]);
    expect(renderDiagnostics([], file(text))).toBe('');
  });
});

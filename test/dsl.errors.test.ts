/** Golden syntax errors, one header line each, in the esbuild style the CLI prints. */
import { describe, expect, it } from 'vitest';
import { parse } from '../dsl/index.js';
import { expectParseError, headers, rendered } from './dsl.helpers.js';

describe('E0001: bad characters', () => {
  it('reports the character and keeps lexing', () => {
    expectParseError('grid h=64 @ w=64', "x.grat:1:11: error[E0001]: unexpected character '@'");
  });
  it('groups a run of bad characters', () => {
    expectParseError('pattern a$$$', "x.grat:1:10: error[E0001]: unexpected characters '$$$'");
  });
  it('escapes control characters and keeps astral characters whole', () => {
    expectParseError('grid h=64\u0001', "x.grat:1:10: error[E0001]: unexpected character '\\u{1}'");
    expectParseError('pattern 😀', "x.grat:1:9: error[E0001]: unexpected character '😀'");
  });
  it('hints at && for a single &', () => {
    const [r] = rendered('image attends where(a & b)');
    expect(r.split('\n')[0]).toBe("x.grat:1:23: error[E0001]: unexpected character '&'");
    expect(r).toContain("hint: use '&&' for 'and'");
  });
  it('keeps a statement whose other tokens parse', () => {
    const r = parse('scale 0.5 ;');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E0001']);
    expect(r.file.statements.map((s) => s.kind)).toEqual(['scale']);
  });
  it('reports only the lexer error when the rest of the line is bad too', () => {
    expectParseError('grid h=6@4', "x.grat:1:9: error[E0001]: unexpected character '@'");
  });
});

describe('E0002: syntax errors', () => {
  it('missing size after h=', () => {
    expectParseError('grid h= w=64', "x.grat:1:9: error[E0002]: expected an integer or '?' after 'h='");
  });
  it('empty grid', () => {
    expectParseError('grid', "x.grat:1:5: error[E0002]: expected a dim like 'h=64' after 'grid'");
  });
  it('missing = in a dim', () => {
    expectParseError('grid h=64 w 64', "x.grat:1:13: error[E0002]: expected '=' after 'w'");
  });
  it('group sizes must be integers', () => {
    expectParseError('group h=? w=16', "x.grat:1:9: error[E0002]: expected an integer after 'h='");
  });
  it('missing head_dim value', () => {
    expectParseError('head_dim', "x.grat:1:9: error[E0002]: expected an integer after 'head_dim'");
  });
  it('scale needs a number', () => {
    expectParseError('scale fast', "x.grat:1:7: error[E0002]: expected a number after 'scale'");
  });
  it('text needs a count', () => {
    expectParseError('text before', "x.grat:1:6: error[E0002]: expected an integer or '?' after 'text'");
  });
  it('text needs a place', () => {
    expectParseError('text 512', "x.grat:1:9: error[E0002]: expected an identifier after '512'");
  });
  it('trailing input', () => {
    expectParseError('pattern a b', "x.grat:1:11: error[E0002]: unexpected 'b' after 'a'");
  });
  it('a schedule value must be an integer or a word', () => {
    expectParseError('schedule cuda warps=?', "x.grat:1:21: error[E0002]: expected an integer or a word after 'warps='");
  });
  it('image without attends', () => {
    expectParseError('image neighbors(1)', "x.grat:1:7: error[E0002]: expected 'attends' after 'image'");
  });
  it('a line that starts with a non-word', () => {
    const [r] = rendered('64 64');
    expect(r.split('\n')[0]).toBe("x.grat:1:1: error[E0002]: expected a statement, found '64'");
    expect(r).toContain('hint: a statement starts with one of: pattern, grid');
  });
  it('missing region', () => {
    expectParseError('image attends', "x.grat:1:14: error[E0002]: expected a region like 'neighbors(1)' after 'attends'");
  });
  it('forgotten + between region terms, with a hint', () => {
    const [r] = rendered('image attends neighbors(1) text');
    expect(r.split('\n')[0]).toBe("x.grat:1:28: error[E0002]: unexpected 'text' after 'neighbors(1)'");
    expect(r).toContain("hint: join region terms with '+'");
  });
  it('unclosed call', () => {
    expectParseError('image attends neighbors(1', "x.grat:1:26: error[E0002]: expected ')' after 'neighbors(1'");
  });
  it('named argument without value', () => {
    expectParseError('image attends neighbors(h=, w=1)', "x.grat:1:27: error[E0002]: expected an integer after 'neighbors(h='");
  });
  it('bare where', () => {
    expectParseError('image attends where + text', "x.grat:1:21: error[E0002]: expected '(' after 'where'");
  });
  it('empty where', () => {
    expectParseError('image attends where()', "x.grat:1:21: error[E0002]: expected an expression after 'where('");
  });
  it('unclosed parenthesis', () => {
    expectParseError('image attends where((dh < 1)', "x.grat:1:29: error[E0002]: expected ')' after '1)'");
  });
  it('unclosed bar', () => {
    expectParseError('image attends where(|dh <= 1)', "x.grat:1:25: error[E0002]: expected '|' after 'where(|dh'");
  });
  it('two operands without an operator', () => {
    expectParseError('image attends where(dh dw)', "x.grat:1:24: error[E0002]: expected ')' after 'where(dh'");
  });
  it('dangling operator', () => {
    expectParseError('image attends where(dh <=)', "x.grat:1:26: error[E0002]: expected an expression after '<='");
  });
  it('empty call in an expression', () => {
    expectParseError('image attends where(min() < 1)', "x.grat:1:25: error[E0002]: expected an expression after 'where(min('");
  });
  it('comparison chaining, with a hint', () => {
    const [r] = rendered('image attends where(0 < dh < 2)');
    expect(r.split('\n')[0]).toBe("x.grat:1:28: error[E0002]: comparison operators cannot be chained: '<' after '<'");
    expect(r).toContain("hint: combine comparisons with '&&'");
  });
  it('comparison chaining with mixed operators', () => {
    expectParseError('image attends where(dh == dw != 0)', "x.grat:1:30: error[E0002]: comparison operators cannot be chained: '!=' after '=='");
  });
  it("'!' inside a comparison, with a hint", () => {
    const [r] = rendered('image attends where(dh == !dw)');
    expect(r.split('\n')[0]).toBe("x.grat:1:27: error[E0002]: expected an expression after '=='");
    expect(r).toContain("write '(!b)'");
  });
  it("'||' where two bars were meant, with a hint", () => {
    const [r] = rendered('image attends where(||dh| - 1| < 2)');
    expect(r.split('\n')[0]).toBe("x.grat:1:21: error[E0002]: expected an expression after 'where('");
    expect(r).toContain("put a space between two '|' bars");
  });
});

describe('E0003: unknown statements', () => {
  it('suggests the nearest keyword', () => {
    const [r] = rendered('grdi h=64 w=64');
    expect(r).toBe([
      "x.grat:1:1: error[E0003]: unknown statement 'grdi'",
      '    1 | grdi h=64 w=64',
      '      | ^^^^',
      "  hint: did you mean 'grid'?",
    ].join('\n'));
  });
  it('suggests image attends', () => {
    const [r] = rendered('imag neighbors(1)');
    expect(r).toContain("hint: did you mean 'image attends'?");
  });
  it('lists the statements when nothing is close', () => {
    const [r] = rendered('frobnicate 3');
    expect(r.split('\n')[0]).toBe("x.grat:1:1: error[E0003]: unknown statement 'frobnicate'");
    expect(r).toContain('hint: a statement starts with one of:');
  });
  it('is not fooled by Object.prototype names', () => {
    expectParseError('constructor 1', "x.grat:1:1: error[E0003]: unknown statement 'constructor'");
    expectParseError('__proto__ 1', "x.grat:1:1: error[E0003]: unknown statement '__proto__'");
  });
});

describe('E0004: nesting', () => {
  const wrap = (n: number, open: string, close: string): string => `image attends where(${open.repeat(n)}dh${close.repeat(n)} < 1)`;
  it('accepts 64 levels of parentheses inside where', () => {
    expect(parse(wrap(64, '(', ')')).diagnostics).toEqual([]);
  });
  it('rejects deeper parentheses with E0004, not a stack overflow', () => {
    expectParseError(wrap(65, '(', ')'), 'x.grat:1:85: error[E0004]: expression nested too deeply (more than 64 levels)');
    expect(headers(wrap(100_000, '(', ')'))[0]).toMatch(/error\[E0004\]/);
  });
  it('counts prefix operators and bars too', () => {
    expect(headers(`image attends where(${'-'.repeat(100_000)}dh)`)[0]).toMatch(/error\[E0004\]/);
    expect(headers(`image attends where(${'!'.repeat(100_000)}dh)`)[0]).toMatch(/error\[E0004\]/);
    expect(headers(`image attends where(${'min('.repeat(1000)}dh${')'.repeat(1000)})`)[0]).toMatch(/error\[E0004\]/);
    expect(headers(`image attends where(${'| '.repeat(1000)}dh${' |'.repeat(1000)} < 1)`)[0]).toMatch(/error\[E0004\]/);
  });
  it('caps long operator chains, which later passes walk recursively', () => {
    expectParseError(`image attends where(${'dh+'.repeat(300)}dh < 1)`, 'x.grat:1:15: error[E0004]: expression nested too deeply (more than 256 levels)');
  });
});

describe('recovery', () => {
  const text = [
    'pattern ok',       // good
    'grid h= w=64',     // E0002
    'grdi h=64',        // E0003
    'group h=16 w=16',  // good
    'head_dim 12$8',    // E0001
    'image attends where(0 < dh < 2) + text', // E0002
    'image attends neighbors(1)', // good
    '',
    '# a comment',
    'dtype bf16 # trailing comment',
  ].join('\n');
  it('reports one error per bad line, in order', () => {
    expect(headers(text)).toEqual([
      "x.grat:2:9: error[E0002]: expected an integer or '?' after 'h='",
      "x.grat:3:1: error[E0003]: unknown statement 'grdi'",
      "x.grat:5:12: error[E0001]: unexpected character '$'",
      "x.grat:6:28: error[E0002]: comparison operators cannot be chained: '<' after '<'",
    ]);
  });
  it('keeps the good statements', () => {
    expect(parse(text).file.statements.map((s) => s.kind)).toEqual(['pattern', 'group', 'attends', 'dtype']);
  });
  it('reports at most one error per line', () => {
    expect(headers('grid h= w= x=\ngroup =1 =2 =3')).toHaveLength(2);
  });
  it('handles \\r\\n and \\r line ends', () => {
    expect(headers('pattern a\r\ngrid h=\rhead_dim 64')).toEqual(["x.grat:2:8: error[E0002]: expected an integer or '?' after 'h='"]);
  });
});

describe('line continuation and file starts', () => {
  it("a trailing '+' before another statement is reported on its own line (issue 16.8)", () => {
    const text = 'grid h=4 w=4\ngroup h=2 w=2\nimage attends neighbors(1) +\nhead_dim 64';
    expect(headers(text)).toEqual(["x.grat:3:29: error[E0002]: expected a region like 'neighbors(1)' after '+'"]);
    expect(rendered(text)[0]).toContain("hint: remove the trailing '+'");
    // the next statement is still read
    expect(parse(text).file.statements.map((s) => s.kind)).toEqual(['grid', 'group', 'head_dim']);
  });
  it("'X attends' after a trailing '+' is a statement, even past blank lines", () => {
    expect(headers('text 3 before\nimage attends grid +\n\ntext attends all')).toEqual([
      "x.grat:2:21: error[E0002]: expected a region like 'neighbors(1)' after '+'",
    ]);
  });
  it("'text' and 'grid' alone or before '+' still continue a region", () => {
    const r = parse('image attends neighbors(1) +\n  text\nimage attends neighbors(1) +\n\n  grid + text\nhead_dim 8');
    expect(r.diagnostics).toEqual([]);
    const regions = r.file.statements.flatMap((s) => (s.kind === 'attends' ? [s.region.terms.length] : []));
    expect(regions).toEqual([2, 3]);
  });
  it('accepts a UTF-8 byte order mark at the start of a file (issue 15.12), nowhere else', () => {
    const r = parse('\uFEFFpattern p\ngrid h=4');
    expect(r.diagnostics).toEqual([]);
    expect(r.file.statements.map((s) => s.kind)).toEqual(['pattern', 'grid']);
    // spans still index the text as given
    expect(r.file.statements[0].span).toEqual({ start: 1, end: 10 });
    expect(headers('pattern p\n\uFEFFgrid h=4').map((h) => h.split(': ').slice(1).join(': '))).toEqual(["error[E0001]: unexpected character '\uFEFF'"]);
  });
});

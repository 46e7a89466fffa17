/**
 * Tokens of the .grat language. Keywords are lexed as plain identifiers and told apart by the
 * parser, so a dim may be called `order` or `text` without breaking the grammar.
 */
import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain';
import { diag, type Diagnostic } from './diagnostics.js';
import { span } from './span.js';

// Newlines end statements, so they are real tokens; other whitespace and comments are skipped.
export const NewLine = createToken({ name: 'NewLine', pattern: /\r\n|\r|\n/, line_breaks: true });
export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\f\v]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: Lexer.SKIPPED });

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });
// Float before Integer: `0.5` must not lex as `0` then `.5`.
export const Float = createToken({
  name: 'Float',
  pattern: /(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+/,
});
export const Integer = createToken({ name: 'Integer', pattern: /[0-9]+/ });

export const Question = createToken({ name: 'Question', pattern: '?' });
export const Comma = createToken({ name: 'Comma', pattern: ',' });
export const LParen = createToken({ name: 'LParen', pattern: '(' });
export const RParen = createToken({ name: 'RParen', pattern: ')' });

// Operator categories let one CONSUME accept any operator of a precedence level.
export const CmpOp = createToken({ name: 'CmpOp', pattern: Lexer.NA });
export const AddOp = createToken({ name: 'AddOp', pattern: Lexer.NA });
export const MulOp = createToken({ name: 'MulOp', pattern: Lexer.NA });

// Longer operators first: `==` before `=`, `<=` before `<`, `||` before `|`, `!=` before `!`.
export const EqEq = createToken({ name: 'EqEq', pattern: '==', categories: [CmpOp] });
export const NotEq = createToken({ name: 'NotEq', pattern: '!=', categories: [CmpOp] });
export const LessEq = createToken({ name: 'LessEq', pattern: '<=', categories: [CmpOp] });
export const GreaterEq = createToken({ name: 'GreaterEq', pattern: '>=', categories: [CmpOp] });
export const Less = createToken({ name: 'Less', pattern: '<', categories: [CmpOp] });
export const Greater = createToken({ name: 'Greater', pattern: '>', categories: [CmpOp] });
export const AndAnd = createToken({ name: 'AndAnd', pattern: '&&' });
export const OrOr = createToken({ name: 'OrOr', pattern: '||' });
export const Equals = createToken({ name: 'Equals', pattern: '=' });
export const Bang = createToken({ name: 'Bang', pattern: '!' });
export const Bar = createToken({ name: 'Bar', pattern: '|' });
export const Plus = createToken({ name: 'Plus', pattern: '+', categories: [AddOp] });
export const Minus = createToken({ name: 'Minus', pattern: '-', categories: [AddOp] });
export const Star = createToken({ name: 'Star', pattern: '*', categories: [MulOp] });
export const Slash = createToken({ name: 'Slash', pattern: '/', categories: [MulOp] });
export const Percent = createToken({ name: 'Percent', pattern: '%', categories: [MulOp] });

export const allTokens: TokenType[] = [
  NewLine, WhiteSpace, Comment,
  Identifier, Float, Integer,
  Question, Comma, LParen, RParen,
  EqEq, NotEq, LessEq, GreaterEq, Less, Greater, AndAnd, OrOr, Equals, Bang, Bar,
  Plus, Minus, Star, Slash, Percent,
  CmpOp, AddOp, MulOp,
];

/** How a token type reads in a message: "an integer", "'('", "end of line". */
export const printTokenType = (t: TokenType): string => {
  switch (t.name) {
    case 'Identifier': return 'an identifier';
    case 'Integer': return 'an integer';
    case 'Float': return 'a number';
    case 'NewLine': case 'EOF': return 'end of line';
    case 'CmpOp': return 'a comparison';
    case 'AddOp': return "'+' or '-'";
    case 'MulOp': return "'*', '/' or '%'";
    default: return typeof t.PATTERN === 'string' ? `'${t.PATTERN}'` : t.name;
  }
};

// `onlyOffset`: spans are computed from startOffset + image length; lines only when printing.
const lexer = new Lexer(allTokens, { positionTracking: 'onlyOffset', ensureOptimizations: false });

export interface LexResult {
  readonly tokens: IToken[];
  readonly diagnostics: Diagnostic[];
}

/** Shows a bad character readably, escaping controls and lone surrogates. */
export const showChars = (s: string): string => {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    out += cp < 0x20 || cp === 0x7f || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0)
      ? `\\u{${cp.toString(16)}}`
      : ch;
  }
  return out;
};

/** Characters people reach for from other languages. */
const HINTS = new Map([
  ['&', "use '&&' for 'and'"],
  ['"', 'names are written without quotes'],
  ["'", 'names are written without quotes'],
  [':', "use '=' between a key and its value, e.g. 'h=64'"],
  [';', 'statements end at the end of the line; put each on its own line'],
]);

export const tokenize = (text: string): LexResult => {
  const r = lexer.tokenize(text);
  const diagnostics = r.errors.map((e) => {
    const bad = text.slice(e.offset, e.offset + e.length);
    const n = [...bad].length;
    const shown = n > 16 ? `${showChars([...bad].slice(0, 16).join(''))}…` : showChars(bad);
    const message = n === 1 ? `unexpected character '${shown}'` : `unexpected characters '${shown}'`;
    const hint = HINTS.get(bad[0]);
    return diag('E0001', message, span(e.offset, e.offset + e.length), hint === undefined ? {} : { hint });
  });
  return { tokens: r.tokens, diagnostics };
};

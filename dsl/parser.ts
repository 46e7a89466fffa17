/**
 * The grammar of one statement (one line), as a chevrotain EmbeddedActionsParser that builds the
 * AST directly. parse.ts splits the token stream into lines and picks the statement rule by the
 * line's first word, so each rule here starts by consuming its keyword as an identifier.
 */
import { EmbeddedActionsParser, EOF, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import type {
  AttendsStmt, BinaryOp, CallArg, DimAssign, Expr, GridStmt, GroupStmt, HeadDimStmt, Ident, IntLit, NumberLit,
  PatternStmt, Region, RegionTerm, ScaleStmt, ScheduleStmt, SizeLit, TextStmt, WordStmt,
} from './ast.js';
import {
  AddOp, allTokens, AndAnd, Bang, Bar, CmpOp, Comma, Equals, Float, Identifier, Integer, LParen, Minus, MulOp, OrOr,
  Plus, printTokenType, Question, RParen, showChars,
} from './lexer.js';
import { cover, span, type Span } from './span.js';

/** Parentheses, bars, calls and prefix operators nest at most this deep (the parser recurses on them). */
export const MAX_NESTING = 64;

/** Thrown (not a chevrotain recognition error, so it escapes the rule) when nesting passes MAX_NESTING. */
export class NestingTooDeep extends Error {
  constructor(readonly at: Span) {
    super('nesting too deep');
    this.name = 'NestingTooDeep';
  }
}

/** A syntax error the grammar cannot express by itself (chained comparisons). */
export interface ExtraError { readonly message: string; readonly span: Span; readonly hint?: string }

/** The line being parsed, so messages can quote the text before an error. */
export interface LineContext { text: string; tokens: IToken[] }

export const tokSpan = (t: IToken): Span => span(t.startOffset, t.startOffset + t.image.length);
export const isEof = (t: IToken | undefined): boolean => !t || t.tokenType === EOF || Number.isNaN(t.startOffset);

/** A token as quoted in a message: `'foo'` or "end of line". */
export const printToken = (t: IToken | undefined): string => {
  if (isEof(t)) return 'end of line';
  const chars = [...t!.image];
  return `'${showChars(chars.length > 24 ? `${chars.slice(0, 24).join('')}…` : t!.image)}'`;
};

const orList = (xs: readonly string[]): string =>
  xs.length <= 1 ? (xs[0] ?? 'something else') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;

/**
 * The text just before an error, for "expected X after 'h='": the previous token plus the tokens
 * glued to it without spaces (at most 4 tokens, 24 characters), so `h=` reads as one unit.
 */
export const contextBefore = (line: LineContext, prev: IToken | undefined): string | undefined => {
  if (isEof(prev)) return undefined;
  const idx = line.tokens.indexOf(prev!);
  if (idx < 0) return prev!.image;
  let i = idx;
  while (i > 0 && idx - i < 3 && tokSpan(line.tokens[i - 1]).end === line.tokens[i].startOffset) i--;
  const s = line.text.slice(line.tokens[i].startOffset, tokSpan(prev!).end);
  return s.length > 24 ? `…${s.slice(-24)}` : s;
};

/** Chevrotain's error messages, rephrased for people: printed token names and the text before the error. */
class Messages implements IParserErrorMessageProvider {
  constructor(private readonly line: LineContext) {}

  private expected(what: string, previous: IToken | undefined): string {
    const before = contextBefore(this.line, previous);
    return before === undefined ? `expected ${what}` : `expected ${what} after '${showChars(before)}'`;
  }

  private static firsts(paths: readonly (readonly TokenType[])[]): string[] {
    const seen = new Set<string>();
    for (const p of paths) seen.add(p.length ? printTokenType(p[0]) : 'end of line');
    return [...seen];
  }

  buildMismatchTokenMessage(o: { expected: TokenType; previous: IToken }): string {
    return this.expected(printTokenType(o.expected), o.previous);
  }

  buildNotAllInputParsedMessage(o: { firstRedundant: IToken }): string {
    const idx = this.line.tokens.indexOf(o.firstRedundant);
    const before = idx > 0 ? contextBefore(this.line, this.line.tokens[idx - 1]) : undefined;
    const found = printToken(o.firstRedundant);
    return before === undefined ? `unexpected ${found}` : `unexpected ${found} after '${showChars(before)}'`;
  }

  buildNoViableAltMessage(o: { expectedPathsPerAlt: TokenType[][][]; previous: IToken; customUserDescription?: string }): string {
    return this.expected(o.customUserDescription ?? orList(Messages.firsts(o.expectedPathsPerAlt.flat())), o.previous);
  }

  buildEarlyExitMessage(o: { expectedIterationPaths: TokenType[][]; previous: IToken; customUserDescription?: string }): string {
    return this.expected(o.customUserDescription ?? orList(Messages.firsts(o.expectedIterationPaths)), o.previous);
  }
}

const ident = (t: IToken): Ident => ({ name: t.image, span: tokSpan(t) });
const intLit = (t: IToken): IntLit => ({ kind: 'int', text: t.image, value: Number(t.image), span: tokSpan(t) });
const spanOf = (first: IToken | Span, last: IToken | Span | undefined): Span => {
  const a = 'start' in first ? first : tokSpan(first);
  if (!last) return a;
  return cover(a, 'start' in last ? last : tokSpan(last));
};
const binary = (op: BinaryOp, left: Expr, right: Expr): Expr => ({ kind: 'binary', op, left, right, span: cover(left.span, right.span) });

export class GratParser extends EmbeddedActionsParser {
  /** Errors found by actions rather than the grammar; cleared by `start`. */
  extraErrors: ExtraError[] = [];
  private depth = 0;

  constructor(readonly line: LineContext) {
    // No in-line recovery: parse.ts restarts at every line and reports only a line's first error, and
    // chevrotain's re-sync on a long bad line cost seconds (and overflowed the stack) for errors never shown.
    super(allTokens, { recoveryEnabled: false, maxLookahead: 3, errorMessageProvider: new Messages(line) });
    this.performSelfAnalysis();
  }

  /** Starts a new line: new tokens, no errors, depth zero. */
  start(tokens: IToken[]): void {
    this.line.tokens = tokens;
    this.input = tokens;
    this.extraErrors = [];
    this.depth = 0;
  }

  private enter(t: IToken): void {
    if (++this.depth > MAX_NESTING) throw new NestingTooDeep(tokSpan(t));
  }

  private leave(): void {
    this.depth--;
  }

  // ---- statements ----

  patternStmt = this.RULE('patternStmt', (): PatternStmt => {
    const kw = this.CONSUME(Identifier);
    const name = this.CONSUME2(Identifier);
    return this.ACTION(() => ({ kind: 'pattern', name: ident(name), span: spanOf(kw, name) }));
  });

  gridStmt = this.RULE('gridStmt', (): GridStmt => {
    const kw = this.CONSUME(Identifier);
    const dims: DimAssign<SizeLit>[] = [];
    this.AT_LEAST_ONE({ ERR_MSG: "a dim like 'h=64'", DEF: () => { dims.push(this.SUBRULE(this.sizeAssign)); } });
    return this.ACTION(() => ({ kind: 'grid', dims, span: spanOf(kw, dims[dims.length - 1]?.span) }));
  });

  groupStmt = this.RULE('groupStmt', (): GroupStmt => {
    const kw = this.CONSUME(Identifier);
    const dims: DimAssign<IntLit>[] = [];
    this.AT_LEAST_ONE({ ERR_MSG: "a dim like 'h=16'", DEF: () => { dims.push(this.SUBRULE(this.intAssign)); } });
    return this.ACTION(() => ({ kind: 'group', dims, span: spanOf(kw, dims[dims.length - 1]?.span) }));
  });

  /** `order`, `border`, `dtype`: the keyword and one word. */
  wordStmt = this.RULE('wordStmt', (): WordStmt => {
    const kw = this.CONSUME(Identifier);
    const value = this.CONSUME2(Identifier);
    return this.ACTION(() => ({ kind: kw.image as WordStmt['kind'], value: ident(value), span: spanOf(kw, value) }));
  });

  textStmt = this.RULE('textStmt', (): TextStmt => {
    const kw = this.CONSUME(Identifier);
    const count = this.SUBRULE(this.sizeLit);
    const place = this.CONSUME2(Identifier);
    return this.ACTION(() => ({ kind: 'text', count, place: ident(place), span: spanOf(kw, place) }));
  });

  attendsStmt = this.RULE('attendsStmt', (): AttendsStmt => {
    const who = this.CONSUME(Identifier);
    this.CONSUME2(Identifier); // `attends`, checked by the dispatcher
    const region = this.SUBRULE(this.region);
    return this.ACTION(() => ({ kind: 'attends', who: ident(who), region, span: spanOf(who, region.span) }));
  });

  headDimStmt = this.RULE('headDimStmt', (): HeadDimStmt => {
    const kw = this.CONSUME(Identifier);
    const value = this.CONSUME(Integer);
    return this.ACTION(() => ({ kind: 'head_dim', value: intLit(value), span: spanOf(kw, value) }));
  });

  scaleStmt = this.RULE('scaleStmt', (): ScaleStmt => {
    const kw = this.CONSUME(Identifier);
    const tok = this.OR({
      ERR_MSG: 'a number',
      DEF: [{ ALT: () => this.CONSUME(Float) }, { ALT: () => this.CONSUME(Integer) }],
    });
    return this.ACTION(() => {
      const value: NumberLit = { text: tok.image, value: Number(tok.image), span: tokSpan(tok) };
      return { kind: 'scale', value, span: spanOf(kw, tok) };
    });
  });

  scheduleStmt = this.RULE('scheduleStmt', (): ScheduleStmt => {
    const kw = this.CONSUME(Identifier);
    const target = this.CONSUME2(Identifier);
    const settings: ScheduleStmt['settings'][number][] = [];
    this.MANY(() => {
      const key = this.CONSUME3(Identifier);
      this.CONSUME(Equals);
      const value = this.OR({
        ERR_MSG: 'an integer or a word',
        DEF: [
          { ALT: () => { const t = this.CONSUME(Integer); return this.ACTION(() => intLit(t)); } },
          { ALT: () => { const t = this.CONSUME4(Identifier); return this.ACTION(() => ident(t)); } },
        ],
      });
      this.ACTION(() => settings.push({ key: ident(key), value, span: spanOf(key, value.span) }));
    });
    return this.ACTION(() => ({
      kind: 'schedule', target: ident(target), settings, span: spanOf(kw, settings[settings.length - 1]?.span ?? target),
    }));
  });

  // ---- pieces of statements ----

  sizeLit = this.RULE('sizeLit', (): SizeLit => this.OR({
    ERR_MSG: "an integer or '?'",
    DEF: [
      { ALT: () => { const t = this.CONSUME(Integer); return this.ACTION(() => intLit(t)); } },
      { ALT: () => { const t = this.CONSUME(Question); return this.ACTION(() => ({ kind: 'unbound' as const, span: tokSpan(t) })); } },
    ],
  }));

  sizeAssign = this.RULE('sizeAssign', (): DimAssign<SizeLit> => {
    const dim = this.CONSUME(Identifier);
    this.CONSUME(Equals);
    const value = this.SUBRULE(this.sizeLit);
    return this.ACTION(() => ({ dim: ident(dim), value, span: spanOf(dim, value.span) }));
  });

  intAssign = this.RULE('intAssign', (): DimAssign<IntLit> => {
    const dim = this.CONSUME(Identifier);
    this.CONSUME(Equals);
    const value = this.CONSUME(Integer);
    return this.ACTION(() => ({ dim: ident(dim), value: intLit(value), span: spanOf(dim, value) }));
  });

  // ---- regions ----

  region = this.RULE('region', (): Region => {
    const terms: RegionTerm[] = [this.SUBRULE(this.term)];
    this.MANY(() => {
      this.CONSUME(Plus);
      terms.push(this.SUBRULE2(this.term));
    });
    return this.ACTION(() => ({ terms, span: spanOf(terms[0].span, terms[terms.length - 1].span) }));
  });

  term = this.RULE('term', (): RegionTerm => this.OR({
    ERR_MSG: "a region like 'neighbors(1)'",
    // One token of lookahead: the gate alone decides, so `where` always takes the expression path.
    MAX_LOOKAHEAD: 1,
    DEF: [
      {
        // `where` takes an expression, every other call takes plain arguments.
        GATE: () => this.LA(1).image === 'where',
        ALT: () => {
          const name = this.CONSUME(Identifier);
          this.CONSUME(LParen);
          const expr = this.SUBRULE(this.expr);
          const close = this.CONSUME(RParen);
          return this.ACTION(() => ({ kind: 'where' as const, expr, span: spanOf(name, close) }));
        },
      },
      {
        ALT: () => {
          const name = this.CONSUME2(Identifier);
          let result: RegionTerm | undefined;
          this.OPTION(() => {
            this.CONSUME2(LParen);
            const args: CallArg[] = [];
            this.MANY_SEP({ SEP: Comma, DEF: () => { args.push(this.SUBRULE(this.callArg)); } });
            const close = this.CONSUME2(RParen);
            result = this.ACTION(() => ({ kind: 'call' as const, name: ident(name), args, span: spanOf(name, close) }));
          });
          return this.ACTION(() => result ?? { kind: 'word' as const, name: ident(name), span: tokSpan(name) });
        },
      },
    ],
  }));

  /** An integer with an optional '-': a negative radius is legal syntax, so the checker can explain it. */
  signedInt = this.RULE('signedInt', (): IntLit => {
    let minus: IToken | undefined;
    this.OPTION(() => { minus = this.CONSUME(Minus); });
    const t = this.CONSUME(Integer);
    return this.ACTION((): IntLit => (minus
      ? { kind: 'int', text: `-${t.image}`, value: -Number(t.image), span: spanOf(minus, t) }
      : intLit(t)));
  });

  callArg = this.RULE('callArg', (): CallArg => this.OR({
    ERR_MSG: "an argument like '1', 'lines' or 'h=1'",
    DEF: [
      {
        ALT: () => {
          const v = this.SUBRULE(this.signedInt);
          return this.ACTION(() => ({ kind: 'positional' as const, value: v, span: v.span }));
        },
      },
      {
        ALT: () => {
          const key = this.CONSUME(Identifier);
          let value: IntLit | undefined;
          this.OPTION(() => {
            this.CONSUME(Equals);
            value = this.SUBRULE2(this.signedInt);
          });
          return this.ACTION((): CallArg => value
            ? { kind: 'named', key: ident(key), value, span: spanOf(key, value.span) }
            : { kind: 'positional', value: ident(key), span: tokSpan(key) });
        },
      },
    ],
  }));

  // ---- expressions, lowest precedence first ----

  expr = this.RULE('expr', (): Expr => {
    let left = this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(OrOr);
      const right = this.SUBRULE2(this.andExpr);
      left = this.ACTION(() => binary('||', left, right));
    });
    return left;
  });

  andExpr = this.RULE('andExpr', (): Expr => {
    let left = this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(AndAnd);
      const right = this.SUBRULE2(this.notExpr);
      left = this.ACTION(() => binary('&&', left, right));
    });
    return left;
  });

  notExpr = this.RULE('notExpr', (): Expr => this.OR({ ERR_MSG: 'an expression', DEF: [
    {
      ALT: () => {
        const bang = this.CONSUME(Bang);
        this.ACTION(() => this.enter(bang));
        const arg = this.SUBRULE(this.notExpr);
        this.ACTION(() => this.leave());
        return this.ACTION((): Expr => ({ kind: 'unary', op: '!', arg, span: spanOf(bang, arg.span) }));
      },
    },
    { ALT: () => this.SUBRULE(this.cmpExpr) },
  ] }));

  /** Comparisons do not chain: `a < b < c` parses, then is reported, so the message can say why. */
  cmpExpr = this.RULE('cmpExpr', (): Expr => {
    let left = this.SUBRULE(this.addExpr);
    let first: IToken | undefined;
    let chained = false;
    this.MANY(() => {
      const op = this.CONSUME(CmpOp);
      const right = this.SUBRULE2(this.addExpr);
      this.ACTION(() => {
        if (first && !chained) {
          chained = true; // one report per chain is enough
          this.extraErrors.push({
            message: `comparison operators cannot be chained: '${op.image}' after '${first.image}'`,
            span: tokSpan(op),
            hint: "combine comparisons with '&&', e.g. 'a < b && b < c'",
          });
        }
        first ??= op;
        left = binary(op.image as BinaryOp, left, right);
      });
    });
    return left;
  });

  addExpr = this.RULE('addExpr', (): Expr => {
    let left = this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      const op = this.CONSUME(AddOp);
      const right = this.SUBRULE2(this.mulExpr);
      left = this.ACTION(() => binary(op.image as BinaryOp, left, right));
    });
    return left;
  });

  mulExpr = this.RULE('mulExpr', (): Expr => {
    let left = this.SUBRULE(this.unaryExpr);
    this.MANY(() => {
      const op = this.CONSUME(MulOp);
      const right = this.SUBRULE2(this.unaryExpr);
      left = this.ACTION(() => binary(op.image as BinaryOp, left, right));
    });
    return left;
  });

  unaryExpr = this.RULE('unaryExpr', (): Expr => this.OR({ ERR_MSG: 'an expression', DEF: [
    {
      ALT: () => {
        const minus = this.CONSUME(Minus);
        this.ACTION(() => this.enter(minus));
        const arg = this.SUBRULE(this.unaryExpr);
        this.ACTION(() => this.leave());
        return this.ACTION((): Expr => ({ kind: 'unary', op: '-', arg, span: spanOf(minus, arg.span) }));
      },
    },
    { ALT: () => this.SUBRULE(this.atom) },
  ] }));

  atom = this.RULE('atom', (): Expr => this.OR({
    ERR_MSG: 'an expression',
    DEF: [
      { ALT: () => { const t = this.CONSUME(Integer); return this.ACTION((): Expr => ({ kind: 'int', lit: intLit(t), span: tokSpan(t) })); } },
      {
        ALT: () => {
          const name = this.CONSUME(Identifier);
          let call: Expr | undefined;
          this.OPTION(() => {
            const open = this.CONSUME(LParen);
            this.ACTION(() => this.enter(open));
            const args: Expr[] = [];
            this.AT_LEAST_ONE_SEP({ SEP: Comma, ERR_MSG: 'an expression', DEF: () => { args.push(this.SUBRULE(this.expr)); } });
            const close = this.CONSUME(RParen);
            this.ACTION(() => this.leave());
            call = this.ACTION((): Expr => ({ kind: 'call', fn: ident(name), args, span: spanOf(name, close) }));
          });
          return this.ACTION((): Expr => call ?? { kind: 'var', name: ident(name), span: tokSpan(name) });
        },
      },
      {
        // No node for parentheses: the inner node's span grows to include them, so a parent's span covers its text.
        ALT: () => {
          const open = this.CONSUME2(LParen);
          this.ACTION(() => this.enter(open));
          const inner = this.SUBRULE2(this.expr);
          const close = this.CONSUME2(RParen);
          this.ACTION(() => this.leave());
          return this.ACTION((): Expr => ({ ...inner, span: spanOf(open, close) }));
        },
      },
      {
        // `|x|`: inside the bars only an additive expression, so the next `|` closes it.
        ALT: () => {
          const open = this.CONSUME(Bar);
          this.ACTION(() => this.enter(open));
          const arg = this.SUBRULE(this.addExpr);
          const close = this.CONSUME2(Bar);
          this.ACTION(() => this.leave());
          return this.ACTION((): Expr => ({ kind: 'unary', op: 'abs', arg, span: spanOf(open, close) }));
        },
      },
    ],
  }));
}

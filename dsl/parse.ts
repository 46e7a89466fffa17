/**
 * Text → AST. The token stream is cut into lines (statements are one per line) and each line is
 * parsed on its own, so an error costs only its line: one diagnostic per bad line at most, and the
 * good lines still reach the AST. Never throws.
 */
import type { IRecognitionException, IToken } from 'chevrotain';
import type { Expr, PatternFile, Statement } from './ast.js';
import type { Code } from './codes.js';
import { diag, type Diagnostic } from './diagnostics.js';
import { Bang, Identifier, NewLine, OrOr, tokenize } from './lexer.js';
import { GratParser, isEof, MAX_NESTING, NestingTooDeep, printToken, tokSpan, type LineContext } from './parser.js';
import { span, type Span } from './span.js';
import { nearest } from './suggest.js';

export interface ParseResult {
  readonly file: PatternFile;
  readonly diagnostics: Diagnostic[];
}

/** Binary chains (`a+b+c+…`) are parsed by loops, not recursion, but later passes recurse on the tree. */
export const MAX_EXPR_DEPTH = 256;

/** Statement keyword → its rule. `X attends ...` is recognised by its second word instead. */
const RULES = new Map<string, (p: GratParser) => Statement>([
  ['pattern', (p) => p.patternStmt()],
  ['grid', (p) => p.gridStmt()],
  ['group', (p) => p.groupStmt()],
  ['order', (p) => p.wordStmt()],
  ['border', (p) => p.wordStmt()],
  ['dtype', (p) => p.wordStmt()],
  ['text', (p) => p.textStmt()],
  ['head_dim', (p) => p.headDimStmt()],
  ['scale', (p) => p.scaleStmt()],
  ['schedule', (p) => p.scheduleStmt()],
]);
const ATTENDS_WHO = ['image', 'text'];
/** What "did you mean" may offer, as it is offered. */
const SUGGESTIONS = [...RULES.keys(), 'image'];
const STATEMENT_LIST = 'pattern, grid, group, order, border, text, image attends, text attends, head_dim, dtype, scale, schedule';

// Building the parser (grammar analysis) is the slow part, so there is one, made on first use.
let parser: GratParser | undefined;
const line: LineContext = { text: '', tokens: [] };
const getParser = (): GratParser => (parser ??= new GratParser(line));

interface LineError { readonly code: Code; readonly message: string; readonly span: Span; readonly hint?: string }

export function parse(text: string): ParseResult {
  const src = typeof text === 'string' ? text : String(text);
  try {
    return parseText(src);
  } catch (e) {
    // Last resort: a bug here must still come back as a diagnostic, not an exception.
    const file: PatternFile = { statements: [], span: span(0, src.length) };
    return { file, diagnostics: [diag('E0000', `internal parser error: ${e instanceof Error ? e.message : String(e)}`, null)] };
  }
}

/** A UTF-8 byte order mark, which some editors put at the start of a file. */
const BOM = '\uFEFF';

function parseText(source: string): ParseResult {
  // the BOM is read as a blank, so offsets (and so spans) still index the caller's text
  const text = source.startsWith(BOM) ? ` ${source.slice(1)}` : source;
  const lexed = tokenize(text);
  const statements: Statement[] = [];
  const diagnostics: Diagnostic[] = [];
  line.text = text;

  let lexIdx = 0;
  let tokens: IToken[] = [];
  const endLine = (lineEnd: number): void => {
    // The line's first bad character is its error; its statement is still kept if the rest parses.
    let lexError: Diagnostic | undefined;
    for (; lexIdx < lexed.diagnostics.length && lexed.diagnostics[lexIdx].span!.start < lineEnd; lexIdx++) {
      lexError ??= lexed.diagnostics[lexIdx];
    }
    if (lexError) diagnostics.push(lexError);
    if (tokens.length === 0) return;
    const r = parseLine(tokens);
    if ('kind' in r) statements.push(r);
    else if (!lexError) diagnostics.push(diag(r.code, r.message, r.span, r.hint === undefined ? {} : { hint: r.hint }));
    tokens = [];
  };
  const all = lexed.tokens;
  for (let i = 0; i < all.length; i++) {
    const t = all[i];
    if (t.tokenType !== NewLine) tokens.push(t);
    // a line ending in '+' continues its region on the next line, unless that line is a statement
    // of its own: then the '+' is reported on its line, not as a puzzle on the next one
    else if (tokens.length === 0 || tokens[tokens.length - 1].image !== '+' || startsStatement(all, i + 1)) endLine(t.startOffset);
  }
  endLine(Infinity);

  line.tokens = [];
  line.text = '';
  return { file: { statements, span: span(0, text.length) }, diagnostics };
}

/**
 * Whether the next non-blank line, from token index i, starts a statement rather than continuing
 * a region: `X attends`, or a statement keyword not used as a region word (`text` and `grid` are
 * both: alone or before '+' they are region terms).
 */
function startsStatement(tokens: readonly IToken[], i: number): boolean {
  while (i < tokens.length && tokens[i].tokenType === NewLine) i++;
  const first = tokens[i] as IToken | undefined, second = tokens[i + 1] as IToken | undefined;
  if (first?.tokenType !== Identifier) return false;
  if (second?.tokenType === Identifier && second.image === 'attends') return true;
  const termEnd = second === undefined || second.tokenType === NewLine || second.image === '+';
  return RULES.has(first.image) && !termEnd;
}

/** One statement from one line's tokens (never empty), or the line's first error. */
function parseLine(tokens: IToken[]): Statement | LineError {
  const first = tokens[0];
  if (first.tokenType !== Identifier) {
    return {
      code: 'E0002', message: `expected a statement, found ${printToken(first)}`, span: tokSpan(first),
      hint: `a statement starts with one of: ${STATEMENT_LIST}`,
    };
  }
  const second = tokens[1] as IToken | undefined;
  const attends = second !== undefined && second.tokenType === Identifier && second.image === 'attends';
  const rule = attends ? (p: GratParser) => p.attendsStmt() : RULES.get(first.image);
  if (!rule) {
    if (ATTENDS_WHO.includes(first.image)) {
      const at = second ? tokSpan(second) : span(tokSpan(first).end, tokSpan(first).end);
      return { code: 'E0002', message: `expected 'attends' after '${first.image}'`, span: at };
    }
    const guess = nearest(first.image, SUGGESTIONS);
    return {
      code: 'E0003',
      message: `unknown statement ${printToken(first)}`,
      span: tokSpan(first),
      hint: guess === undefined ? `a statement starts with one of: ${STATEMENT_LIST}`
        : guess === 'image' ? "did you mean 'image attends'?" : `did you mean '${guess}'?`,
    };
  }
  return runRule(tokens, rule, attends);
}

function runRule(tokens: IToken[], rule: (p: GratParser) => Statement, attends: boolean): Statement | LineError {
  const p = getParser();
  p.start(tokens);
  let result: Statement | undefined;
  let thrown: unknown;
  try {
    result = rule(p);
  } catch (e) {
    thrown = e;
  }

  const errors: LineError[] = p.errors.map((e) => ({ code: 'E0002', message: e.message, span: errorSpan(e, tokens), hint: hintFor(e, attends) }));
  for (const x of p.extraErrors) errors.push({ code: 'E0002', ...x });
  if (thrown instanceof NestingTooDeep) {
    errors.push({ code: 'E0004', message: `expression nested too deeply (more than ${MAX_NESTING} levels)`, span: thrown.at });
  } else if (thrown instanceof RangeError) {
    // Stack overflow despite the nesting cap: still a diagnostic, pinned on the statement.
    errors.push({ code: 'E0004', message: 'statement nested too deeply', span: tokSpan(tokens[0]) });
  } else if (thrown !== undefined && errors.length === 0) {
    throw thrown;
  }
  if (errors.length > 0) return errors.reduce((a, b) => (b.span.start < a.span.start ? b : a));
  if (!result) return { code: 'E0002', message: 'could not parse this statement', span: tokSpan(tokens[0]) };
  return checkDepth(result) ?? result;
}

/** Where to point: the offending token, or just past the previous one when the line ended early. */
function errorSpan(e: IRecognitionException, tokens: IToken[]): Span {
  if (!isEof(e.token)) return tokSpan(e.token);
  const prev = (e as { previousToken?: IToken }).previousToken;
  const end = isEof(prev) ? tokSpan(tokens[tokens.length - 1]).end : tokSpan(prev!).end;
  return span(end, end);
}

function hintFor(e: IRecognitionException, attends: boolean): string | undefined {
  // `image attends neighbors(1) text`: a forgotten '+' between region terms.
  if (attends && e.name === 'NotAllInputParsedException' && e.token.tokenType === Identifier) {
    return "join region terms with '+', e.g. 'neighbors(1) + text'";
  }
  // `image attends a +` followed by another statement: the '+' continues nothing
  const prev = (e as { previousToken?: IToken }).previousToken;
  if (attends && isEof(e.token) && prev?.image === '+') return "remove the trailing '+', or continue the region with a term on the next line";
  // `a == !b`: '!' binds looser than comparisons, so it cannot start an operand.
  if (e.token.tokenType === Bang) return "'!' applies to a whole comparison; write '(!b)' to use it inside one";
  // `||x| - 1|` lexes as '||': the parser cannot see two bars there.
  if (e.token.tokenType === OrOr) return "'||' is the 'or' operator; put a space between two '|' bars";
  return undefined;
}

/** Depth of the deepest `where` expression; E0004 past MAX_EXPR_DEPTH. Iterative, so it cannot overflow. */
function checkDepth(s: Statement): LineError | undefined {
  if (s.kind !== 'attends') return undefined;
  for (const term of s.region.terms) {
    if (term.kind !== 'where') continue;
    const stack: [Expr, number][] = [[term.expr, 1]];
    while (stack.length > 0) {
      const [e, d] = stack.pop()!;
      if (d > MAX_EXPR_DEPTH) {
        return { code: 'E0004', message: `expression nested too deeply (more than ${MAX_EXPR_DEPTH} levels)`, span: term.span };
      }
      if (e.kind === 'unary') stack.push([e.arg, d + 1]);
      else if (e.kind === 'binary') stack.push([e.left, d + 1], [e.right, d + 1]);
      else if (e.kind === 'call') for (const a of e.args) stack.push([a, d + 1]);
    }
  }
  return undefined;
}

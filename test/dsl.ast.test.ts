/** The AST each statement, region and expression form produces, with spans checked against the text. */
import { describe, expect, it } from 'vitest';
import { parse, type Expr, type Span, type Statement } from '../dsl/index.js';

/** The only statement of a line that must parse cleanly. */
const one = (text: string): Statement => {
  const r = parse(text);
  expect(r.diagnostics).toEqual([]);
  expect(r.file.statements).toHaveLength(1);
  return r.file.statements[0];
};
const at = (text: string, s: Span): string => text.slice(s.start, s.end);

/** The expression of `image attends where(EXPR)`. */
const whereExpr = (src: string): { text: string; expr: Expr } => {
  const text = `image attends where(${src})`;
  const s = one(text);
  if (s.kind !== 'attends' || s.region.terms[0].kind !== 'where') throw new Error('not a where');
  return { text, expr: s.region.terms[0].expr };
};

/** An expression as a compact S-expression, to check precedence and associativity. */
const sexp = (e: Expr): string => {
  switch (e.kind) {
    case 'int': return e.lit.text;
    case 'var': return e.name.name;
    case 'unary': return `(${e.op} ${sexp(e.arg)})`;
    case 'binary': return `(${e.op} ${sexp(e.left)} ${sexp(e.right)})`;
    case 'call': return `(${e.fn.name} ${e.args.map(sexp).join(' ')})`;
  }
};

describe('statements', () => {
  it('pattern', () => {
    const text = 'pattern flux_grat_b';
    const s = one(text);
    expect(s).toEqual({ kind: 'pattern', name: { name: 'flux_grat_b', span: { start: 8, end: 19 } }, span: { start: 0, end: 19 } });
  });

  it('grid with integer and ? sizes', () => {
    const text = 'grid   t=? h=64 w=64   # comment';
    const s = one(text);
    if (s.kind !== 'grid') throw new Error(s.kind);
    expect(s.dims.map((d) => [d.dim.name, d.value.kind === 'int' ? d.value.value : '?'])).toEqual([['t', '?'], ['h', 64], ['w', 64]]);
    expect(at(text, s.span)).toBe('grid   t=? h=64 w=64');
    expect(at(text, s.dims[0].span)).toBe('t=?');
    expect(at(text, s.dims[0].value.span)).toBe('?');
    expect(at(text, s.dims[1].value.span)).toBe('64');
    expect(s.dims[1].value).toMatchObject({ kind: 'int', text: '64', value: 64 });
  });

  it('group', () => {
    const s = one('group h=16 w=16');
    expect(s).toMatchObject({ kind: 'group', dims: [{ dim: { name: 'h' }, value: { kind: 'int', value: 16 } }, { dim: { name: 'w' }, value: { value: 16 } }] });
  });

  it('order, border, dtype are word statements', () => {
    expect(one('order grouped')).toMatchObject({ kind: 'order', value: { name: 'grouped', span: { start: 6, end: 13 } } });
    expect(one('border shift')).toMatchObject({ kind: 'border', value: { name: 'shift' } });
    expect(one('dtype fp16')).toMatchObject({ kind: 'dtype', value: { name: 'fp16' } });
    // Values are checked later: any word parses.
    expect(one('dtype int7')).toMatchObject({ kind: 'dtype', value: { name: 'int7' } });
  });

  it('text', () => {
    expect(one('text 512 before')).toEqual({
      kind: 'text',
      count: { kind: 'int', text: '512', value: 512, span: { start: 5, end: 8 } },
      place: { name: 'before', span: { start: 9, end: 15 } },
      span: { start: 0, end: 15 },
    });
    expect(one('text ? after')).toMatchObject({ kind: 'text', count: { kind: 'unbound', span: { start: 5, end: 6 } }, place: { name: 'after' } });
  });

  it('image and text attends', () => {
    const text = 'image attends neighbors(1) + text';
    const s = one(text);
    if (s.kind !== 'attends') throw new Error(s.kind);
    expect(s.who).toEqual({ name: 'image', span: { start: 0, end: 5 } });
    expect(at(text, s.region.span)).toBe('neighbors(1) + text');
    expect(at(text, s.span)).toBe(text);
    expect(one('text attends all')).toMatchObject({ kind: 'attends', who: { name: 'text' }, region: { terms: [{ kind: 'word', name: { name: 'all' } }] } });
    // WHO is checked later.
    expect(one('video attends grid')).toMatchObject({ kind: 'attends', who: { name: 'video' } });
  });

  it('head_dim keeps the literal text', () => {
    expect(one('head_dim 128')).toMatchObject({ kind: 'head_dim', value: { kind: 'int', text: '128', value: 128 } });
    const big = '1234567890123456789012345678901234567890';
    const s = one(`head_dim ${big}`);
    expect(s).toMatchObject({ kind: 'head_dim', value: { text: big } });
    if (s.kind === 'head_dim') expect(s.value.value).toBe(Number(big));
  });

  it('scale takes floats and integers', () => {
    for (const [src, v] of [['0.08838834764', 0.08838834764], ['1e-3', 1e-3], ['.5', 0.5], ['2', 2], ['1.5E+2', 150]] as const) {
      const text = `scale ${src}`;
      const s = one(text);
      expect(s).toMatchObject({ kind: 'scale', value: { text: src, value: v, span: { start: 6, end: text.length } }, span: { start: 0, end: text.length } });
    }
  });

  it('schedule with integer and word values', () => {
    const text = 'schedule cuda block_q=128 warps=4 layout=swizzled';
    const s = one(text);
    if (s.kind !== 'schedule') throw new Error(s.kind);
    expect(s.target.name).toBe('cuda');
    expect(s.settings.map((x) => [x.key.name, 'kind' in x.value ? x.value.value : x.value.name])).toEqual([['block_q', 128], ['warps', 4], ['layout', 'swizzled']]);
    expect(at(text, s.settings[0].span)).toBe('block_q=128');
    expect(at(text, s.span)).toBe(text);
    expect(one('schedule onnx')).toMatchObject({ kind: 'schedule', settings: [], span: { start: 0, end: 13 } });
  });

  it('keywords can be dim names', () => {
    const s = one('grid order=2 text=3 where=4');
    expect(s).toMatchObject({ kind: 'grid', dims: [{ dim: { name: 'order' } }, { dim: { name: 'text' } }, { dim: { name: 'where' } }] });
  });

  it('keeps duplicates and source order', () => {
    const r = parse('head_dim 64\n\n# c\nhead_dim 128\npattern p');
    expect(r.diagnostics).toEqual([]);
    expect(r.file.statements.map((s) => s.kind)).toEqual(['head_dim', 'head_dim', 'pattern']);
    expect(r.file.span).toEqual({ start: 0, end: 39 });
  });

  it('an empty or comment-only file has no statements', () => {
    for (const text of ['', '\n\n', '# only a comment', '  \t \r\n # x \r']) {
      expect(parse(text)).toEqual({ file: { statements: [], span: { start: 0, end: text.length } }, diagnostics: [] });
    }
  });
});

describe('regions', () => {
  const terms = (region: string) => {
    const s = one(`image attends ${region}`);
    if (s.kind !== 'attends') throw new Error(s.kind);
    return s.region.terms;
  };

  it('words', () => {
    expect(terms('grid + text + all + crisscross').map((t) => [t.kind, t.kind === 'where' ? '' : t.name.name])).toEqual([
      ['word', 'grid'], ['word', 'text'], ['word', 'all'], ['word', 'crisscross'],
    ]);
  });

  it('calls with positional, word and named arguments', () => {
    const text = 'image attends neighbors(h=1, w=2) + crisscross(lines) + neighbors(3) + f()';
    const s = one(text);
    if (s.kind !== 'attends') throw new Error(s.kind);
    const [a, b, c, d] = s.region.terms;
    expect(a).toMatchObject({ kind: 'call', name: { name: 'neighbors' }, args: [
      { kind: 'named', key: { name: 'h' }, value: { kind: 'int', value: 1 } },
      { kind: 'named', key: { name: 'w' }, value: { value: 2 } },
    ] });
    expect(at(text, a.span)).toBe('neighbors(h=1, w=2)');
    if (a.kind === 'call') expect(at(text, a.args[1].span)).toBe('w=2');
    expect(b).toMatchObject({ kind: 'call', args: [{ kind: 'positional', value: { name: 'lines' } }] });
    expect(c).toMatchObject({ kind: 'call', args: [{ kind: 'positional', value: { kind: 'int', text: '3' } }] });
    expect(d).toMatchObject({ kind: 'call', name: { name: 'f' }, args: [] });
  });

  it('where', () => {
    const text = 'image attends where(dt == 0) + text';
    const s = one(text);
    if (s.kind !== 'attends') throw new Error(s.kind);
    expect(at(text, s.region.terms[0].span)).toBe('where(dt == 0)');
    expect(s.region.terms[0]).toMatchObject({ kind: 'where', expr: { kind: 'binary', op: '==' } });
  });
});

describe('expressions', () => {
  it('precedence, lowest first: || && ! comparison + * unary', () => {
    expect(sexp(whereExpr('a || b && c').expr)).toBe('(|| a (&& b c))');
    expect(sexp(whereExpr('a && b || c').expr)).toBe('(|| (&& a b) c)');
    expect(sexp(whereExpr('!a == b').expr)).toBe('(! (== a b))');
    expect(sexp(whereExpr('!!a').expr)).toBe('(! (! a))');
    expect(sexp(whereExpr('a + b * c < d - e % f').expr)).toBe('(< (+ a (* b c)) (- d (% e f)))');
    expect(sexp(whereExpr('-a * -b').expr)).toBe('(* (- a) (- b))');
    expect(sexp(whereExpr('- -a').expr)).toBe('(- (- a))');
  });

  it('left associativity', () => {
    expect(sexp(whereExpr('a - b - c').expr)).toBe('(- (- a b) c)');
    expect(sexp(whereExpr('a / b / c').expr)).toBe('(/ (/ a b) c)');
    expect(sexp(whereExpr('a || b || c').expr)).toBe('(|| (|| a b) c)');
  });

  it('every comparison operator', () => {
    for (const op of ['==', '!=', '<', '<=', '>', '>=']) expect(sexp(whereExpr(`a ${op} 1`).expr)).toBe(`(${op} a 1)`);
  });

  it('calls, bars and parentheses', () => {
    expect(sexp(whereExpr('min(a, max(b, 2)) + abs(c)').expr)).toBe('(+ (min a (max b 2)) (abs c))');
    expect(sexp(whereExpr('|dh| <= 1 && |dw - 1| <= 2').expr)).toBe('(&& (<= (abs dh) 1) (<= (abs (- dw 1)) 2))');
    expect(sexp(whereExpr('(a + b) * c').expr)).toBe('(* (+ a b) c)');
    expect(sexp(whereExpr('| (a || b) |').expr)).toBe('(abs (|| a b))');
    expect(sexp(whereExpr('dh % 2 == 0 && |dh| <= 4').expr)).toBe('(&& (== (% dh 2) 0) (<= (abs dh) 4))');
  });

  it('spans: parentheses belong to the node inside them; parents cover their text', () => {
    const { text, expr } = whereExpr('(a + b) * |c|');
    expect(at(text, expr.span)).toBe('(a + b) * |c|');
    if (expr.kind !== 'binary') throw new Error(expr.kind);
    expect(at(text, expr.left.span)).toBe('(a + b)');
    expect(at(text, expr.right.span)).toBe('|c|');
    if (expr.right.kind !== 'unary') throw new Error(expr.right.kind);
    expect(at(text, expr.right.arg.span)).toBe('c');
    const call = whereExpr('min( a ,b )');
    expect(at(call.text, call.expr.span)).toBe('min( a ,b )');
    if (call.expr.kind !== 'call') throw new Error(call.expr.kind);
    expect(at(call.text, call.expr.fn.span)).toBe('min');
    expect(at(call.text, call.expr.args[1].span)).toBe('b');
    const neg = whereExpr('- 12');
    expect(neg.expr).toMatchObject({ kind: 'unary', op: '-', arg: { kind: 'int', lit: { text: '12', value: 12 } } });
    expect(at(neg.text, neg.expr.span)).toBe('- 12');
  });

  it('spans are UTF-16 offsets', () => {
    const text = '# ünïcödé 😀\npattern p';
    const r = parse(text);
    expect(r.diagnostics).toEqual([]);
    expect(at(text, r.file.statements[0].span)).toBe('pattern p');
  });
});

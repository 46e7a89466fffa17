/**
 * Random *valid* patterns for the cross-backend properties: 1-D/2-D/3-D grids (ragged or not),
 * group shapes, per-dim and uniform radii, every crisscross form, random predicates, `grid`/`all`,
 * text before/after/none, text-query regions, raster/grouped order, clip/shift borders, sizes
 * bound in the file or left as `?` and bound from outside, and a run-time valid text length
 * (0 included). One generator serves the vitest properties (test/reliability.backends.test.ts)
 * and the CUDA exporter (bench/cuda/random_cases.ts), so the GPU machine checks the same shapes.
 *
 * Only fast-check is imported; `toPattern` gives a .grat text and the bindings to check it with.
 */
import fc from 'fast-check';

export interface ArbDim { readonly name: string; readonly size: number; readonly group: number }

export interface ArbPattern {
  readonly name: string;
  readonly dims: readonly ArbDim[];
  readonly order: 'raster' | 'grouped';
  readonly border: 'clip' | 'shift';
  readonly text: { readonly count: number; readonly place: 'before' | 'after' } | null;
  /** Image terms (one per `+`), each with its independent meaning. */
  readonly terms: readonly ArbTerm[];
  /** `text` in the image region (only with a text segment). */
  readonly imageSeesText: boolean;
  /** `text attends ...` (null: the statement is omitted, i.e. `all`). */
  readonly textQueries: 'all' | 'grid' | 'text' | 'grid + text' | null;
  readonly headDim: number;
  readonly dtype: 'bf16' | 'fp16' | 'fp32';
  /** Leave the grid sizes (and the text count) as `?` and bind them from outside. */
  readonly unbound: boolean;
  /** Run-time valid text length, 0..count. */
  readonly valid: number;
}

export interface ArbOptions {
  /** Most tokens in the whole sequence (grid + text); keep it tiny for lavapipe. */
  readonly maxTokens?: number;
  /** head_dim values to draw from (WGSL and CUDA support 64 and 128). */
  readonly headDims?: readonly number[];
  readonly dtypes?: readonly ('bf16' | 'fp16' | 'fp32')[];
  readonly maxText?: number;
}

const DIM_NAMES: Record<number, readonly string[]> = { 1: ['x'], 2: ['h', 'w'], 3: ['t', 'h', 'w'] };

/** Group coordinates of a query and a key group, and the group counts, outermost first. */
export type Coords = readonly number[];
/** A term as .grat text and as an independent relation on group coordinates (no compiler code). */
export interface ArbTerm {
  readonly text: string;
  readonly holds: (q: Coords, k: Coords, n: Coords) => boolean;
}
interface Expr<T> { readonly s: string; readonly f: (q: Coords, k: Coords, n: Coords) => T }

const floorDiv = (a: number, b: number): number => (b === 0 ? 0 : Math.floor(a / b));
const floorMod = (a: number, b: number): number => (b === 0 ? 0 : a - b * Math.floor(a / b));
const INT_OPS: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': floorDiv, '%': floorMod,
};
const CMP_OPS: Record<string, (a: number, b: number) => boolean> = {
  '==': (a, b) => a === b, '!=': (a, b) => a !== b, '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b,
};

/** A random integer expression over group coordinates (depth-bounded), with its meaning. */
function intExpr(names: readonly string[], depth: number): fc.Arbitrary<Expr<number>> {
  const leaf = fc.oneof(
    fc.integer({ min: -3, max: 4 }).map((c): Expr<number> => ({ s: c < 0 ? `(${c})` : String(c), f: () => c })),
    fc.tuple(fc.constantFrom('q', 'k', 'd', 'n'), fc.integer({ min: 0, max: names.length - 1 })).map(([p, i]): Expr<number> => ({
      s: `${p}${names[i]}`,
      f: p === 'q' ? (q) => q[i] : p === 'k' ? (_q, k) => k[i] : p === 'd' ? (q, k) => k[i] - q[i] : (_q, _k, n) => n[i],
    })),
  );
  if (depth <= 0) return leaf;
  const sub = intExpr(names, depth - 1);
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: fc.tuple(sub, fc.constantFrom('+', '-', '*', '/', '%'), sub).map(([a, op, b]): Expr<number> => ({ s: `(${a.s} ${op} ${b.s})`, f: (q, k, n) => INT_OPS[op](a.f(q, k, n), b.f(q, k, n)) })) },
    { weight: 1, arbitrary: sub.map((a): Expr<number> => ({ s: `|${a.s}|`, f: (q, k, n) => Math.abs(a.f(q, k, n)) })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('abs', 'min', 'max'), sub, sub).map(([fn, a, b]): Expr<number> => (fn === 'abs'
      ? { s: `abs(${a.s})`, f: (q, k, n) => Math.abs(a.f(q, k, n)) }
      : { s: `${fn}(${a.s}, ${b.s})`, f: (q, k, n) => (fn === 'min' ? Math.min : Math.max)(a.f(q, k, n), b.f(q, k, n)) })) },
  );
}

/** A random boolean expression (comparisons joined by && || !), with its meaning. */
function boolExpr(names: readonly string[], depth: number): fc.Arbitrary<Expr<boolean>> {
  const cmp = fc.tuple(intExpr(names, 1), fc.constantFrom('==', '!=', '<', '<=', '>', '>='), intExpr(names, 1))
    .map(([a, op, b]): Expr<boolean> => ({ s: `${a.s} ${op} ${b.s}`, f: (q, k, n) => CMP_OPS[op](a.f(q, k, n), b.f(q, k, n)) }));
  // a common, window-bounding shape: |dX| <= r
  const window = fc.tuple(fc.integer({ min: 0, max: names.length - 1 }), fc.integer({ min: 0, max: 2 }))
    .map(([i, r]): Expr<boolean> => ({ s: `|d${names[i]}| <= ${r}`, f: (q, k) => Math.abs(k[i] - q[i]) <= r }));
  if (depth <= 0) return fc.oneof(cmp, window);
  const sub = boolExpr(names, depth - 1);
  return fc.oneof(
    { weight: 3, arbitrary: fc.oneof(cmp, window) },
    { weight: 1, arbitrary: fc.tuple(sub, fc.constantFrom('&&', '||'), sub).map(([a, op, b]): Expr<boolean> => ({ s: `(${a.s} ${op} ${b.s})`, f: op === '&&' ? (q, k, n) => a.f(q, k, n) && b.f(q, k, n) : (q, k, n) => a.f(q, k, n) || b.f(q, k, n) })) },
    { weight: 1, arbitrary: sub.map((a): Expr<boolean> => ({ s: `!(${a.s})`, f: (q, k, n) => !a.f(q, k, n) })) },
  );
}

/** |k - q| <= r along each axis; `shift` slides the window inward at the edges (NATTEN). */
function windowHolds(radii: readonly number[], shift: boolean): ArbTerm['holds'] {
  return (q, k, n) => radii.every((r, i) => {
    let lo = q[i] - r, hi = q[i] + r;
    if (shift) {
      if (2 * r + 1 >= n[i]) { lo = 0; hi = n[i] - 1; } else if (lo < 0) { hi -= lo; lo = 0; } else if (hi > n[i] - 1) { lo -= hi - (n[i] - 1); hi = n[i] - 1; }
    }
    return lo <= k[i] && k[i] <= hi;
  });
}

function term(names: readonly string[], shift: boolean): fc.Arbitrary<ArbTerm> {
  const D = names.length;
  const same = (q: Coords, k: Coords): number => q.reduce((c, x, i) => c + (x === k[i] ? 1 : 0), 0);
  return fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }).map((r): ArbTerm => ({ text: `neighbors(${r})`, holds: windowHolds(names.map(() => r), shift) })) },
    { weight: 2, arbitrary: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: D, maxLength: D })
      .map((rs): ArbTerm => ({ text: `neighbors(${names.map((n, i) => `${n}=${rs[i]}`).join(', ')})`, holds: windowHolds(rs, shift) })) },
    { weight: 2, arbitrary: fc.constantFrom<ArbTerm>(
      // planes: share at least one coordinate; lines: share all but (at most) one
      { text: 'crisscross', holds: (q, k) => same(q, k) >= 1 },
      { text: 'crisscross(planes)', holds: (q, k) => same(q, k) >= 1 },
      { text: 'crisscross(lines)', holds: (q, k) => same(q, k) >= D - 1 },
    ) },
    { weight: 3, arbitrary: boolExpr(names, 2).map((e): ArbTerm => ({ text: `where(${e.s})`, holds: e.f })) },
    { weight: 1, arbitrary: fc.constant<ArbTerm>({ text: 'grid', holds: () => true }) },
  );
}

/** Random valid patterns (see the module comment). */
export function arbPattern(opts: ArbOptions = {}): fc.Arbitrary<ArbPattern> {
  const maxTokens = opts.maxTokens ?? 96;
  const maxText = opts.maxText ?? 12;
  const headDims = opts.headDims ?? [64];
  const dtypes = opts.dtypes ?? ['fp32'];
  return fc.tuple(fc.integer({ min: 1, max: 3 }), fc.constantFrom('clip' as const, 'shift' as const)).chain(([D, border]) => {
    const names = DIM_NAMES[D];
    // per-dim size cap so the product stays under maxTokens (before text)
    const cap = Math.max(1, Math.floor(Math.pow(maxTokens - maxText, 1 / D)));
    const dim = (n: string): fc.Arbitrary<ArbDim> => fc.integer({ min: 1, max: D === 1 ? cap : cap + 1 })
      .chain((size) => fc.oneof(
        // mostly 2+ groups along the dim (ragged or not), sometimes one group larger than the dim (W0201)
        { weight: 6, arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.min(8, Math.ceil(size / 2))) }) },
        { weight: 1, arbitrary: fc.integer({ min: size, max: size + 2 }) },
      ).map((group) => ({ name: n, size, group })));
    return fc.record({
      dims: fc.tuple(...names.map(dim)),
      order: fc.constantFrom('raster' as const, 'grouped' as const),
      text: fc.option(fc.record({ count: fc.integer({ min: 0, max: maxText }), place: fc.constantFrom('before' as const, 'after' as const) }), { freq: 3 }),
      terms: fc.array(term(names, border === 'shift'), { minLength: 1, maxLength: 3 }),
      imageSeesText: fc.boolean(),
      textQueries: fc.constantFrom(null, 'all' as const, 'grid' as const, 'text' as const, 'grid + text' as const),
      headDim: fc.constantFrom(...headDims),
      dtype: fc.constantFrom(...dtypes),
      unbound: fc.boolean(),
      validPermille: fc.integer({ min: 0, max: 1000 }),
      validEdge: fc.constantFrom('frac', 'frac', 'zero', 'full'),
      name: fc.constantFrom('p', 'rand', 'grat_case', 'x1'),
    }).filter((r) => r.dims.reduce((n, d) => n * d.size, 1) + (r.text?.count ?? 0) <= maxTokens)
      .map((r): ArbPattern => {
        const count = r.text?.count ?? 0;
        const valid = r.validEdge === 'zero' ? 0 : r.validEdge === 'full' ? count : Math.floor((r.validPermille * count) / 1000);
        return {
          name: r.name, dims: r.dims, order: r.order, border, text: r.text, terms: r.terms,
          imageSeesText: r.text !== null && r.imageSeesText, textQueries: r.text ? r.textQueries : null,
          headDim: r.headDim, dtype: r.dtype, unbound: r.unbound, valid,
        };
      });
  });
}

export interface PatternText {
  /** The .grat text. */
  readonly source: string;
  /** Bindings for `?` sizes (`--grid`, `--text`); empty when every size is in the file. */
  readonly grid?: number[];
  readonly text?: number;
  /** The same as command-line flags. */
  readonly flags: string[];
}

/** The pattern as a .grat text, with the bindings its `?` sizes need. */
export function toPattern(p: ArbPattern): PatternText {
  const lines = [
    `# generated by test/support/arb_pattern.ts`,
    `pattern ${p.name}`,
    `grid  ${p.dims.map((d) => `${d.name}=${p.unbound ? '?' : d.size}`).join(' ')}`,
    `group ${p.dims.map((d) => `${d.name}=${d.group}`).join(' ')}`,
    `order ${p.order}`,
    `border ${p.border}`,
  ];
  if (p.text) lines.push(`text ${p.unbound ? '?' : p.text.count} ${p.text.place}`);
  lines.push(`image attends ${[...p.terms.map((t) => t.text), ...(p.imageSeesText ? ['text'] : [])].join(' + ')}`);
  if (p.textQueries) lines.push(`text attends ${p.textQueries}`);
  lines.push(`head_dim ${p.headDim}`, `dtype ${p.dtype}`);
  const source = `${lines.join('\n')}\n`;
  if (!p.unbound) return { source, flags: [] };
  const grid = p.dims.map((d) => d.size);
  const flags = ['--grid', grid.join('x')];
  if (p.text) flags.push('--text', String(p.text.count));
  return { source, grid, ...(p.text ? { text: p.text.count } : {}), flags };
}

/** A short label for failure messages. */
export const describePattern = (p: ArbPattern): string => {
  const t = toPattern(p);
  return `${t.source}${t.flags.length ? `(bound: ${t.flags.join(' ')})\n` : ''}valid=${p.valid}`;
};

/**
 * The key-tile cursor and the pattern's geometry, printed once per kernel dialect from one
 * source: the functions of compiler/cursor.ts (its executable definition, tested against the
 * dense mask), step for step and with the same names, with every size a literal. A dialect
 * (tinygrad's renderer idea) says only how C and WGSL spell a declaration, a parameter, a struct,
 * a loop or a case; the control flow is shared. The kernels call:
 *   decode_group   query group index → coordinates             (compiler/cursor.ts decodeGroup)
 *   group_segment  coordinates → the group's tokens as a Seg   (groupSegment)
 *   seg_token      Seg + local index → sequence index          (segToken)
 *   cursor_start   a fresh cursor for one query tile
 *   next_tile      the next key tile, n = 0 at the end           (Cursor.next)
 * and next_tile walks term_window, term_visible ("first-term ownership": each key group once),
 * term_segment (whole-row runs, printed only where the kernel takes them), stage_on,
 * odometer_step and next_segment. Only numbers and fixed identifiers reach the text.
 */
import type { BoundPlan, KernelPlan, PlanSize } from '../compiler/plan.js';
import { bindPlan, termAxes, termBorder } from '../compiler/plan.js';
import { CUDA_DIALECT, int, printAxisWindow, printGroupBase, printGroupLength, printPredicate, printTermContains, WGSL_DIALECT, type Dialect, type SizeExpr } from './clike.js';

type Ty = 'int' | 'bool' | 'Seg' | 'Coords' | 'KeyTile' | 'Geom';

/** How a target spells what the shared functions need. */
export interface KernelDialect extends Dialect {
  readonly name: 'cuda' | 'wgsl';
  /** A function header up to `{`. */
  readonly fn: (ret: Ty | null, name: string, params: readonly string[]) => string;
  /** Parameters: by value, coordinates read, coordinates written, the cursor (by reference). */
  readonly param: (name: string, ty: Ty) => string;
  readonly coordsOut: (name: string) => string;
  readonly cursorParam: (name: string) => string;
  /** A by-reference parameter as an lvalue (`c` / `(*c)`). */
  readonly ref: (name: string) => string;
  readonly constant: (name: string, ty: 'int' | 'bool', value: string) => string;
  readonly struct: (name: string, fields: readonly (readonly [string, Ty])[]) => string[];
  /** `const int x = e;` (let: never written again) and `int x = e;` / `int x;` (var). */
  readonly let: (name: string, ty: Ty, expr: string) => string;
  readonly var: (name: string, ty: Ty, expr?: string) => string;
  readonly loop: string;
  readonly seg: (base: string, len: string, lw: string, lh: string, contiguous: string) => string;
  readonly select: (cond: string, yes: string, no: string) => string;
  /** A switch over term indices: each case's lines, then the default's. */
  readonly switchOf: (expr: string, cases: readonly (readonly string[])[], dflt: readonly string[]) => string[];
  /** The address of a variable passed to a by-reference parameter (`x` / `&x`). */
  readonly addr: (name: string) => string;
}

const CUDA_TYPES: Record<Ty, string> = { int: 'int', bool: 'bool', Seg: 'Seg', Coords: 'int', KeyTile: 'KeyTile', Geom: 'Geom' };
const WGSL_TYPES: Record<Ty, string> = { int: 'i32', bool: 'bool', Seg: 'Seg', Coords: 'Coords', KeyTile: 'KeyTile', Geom: 'Geom' };

export const CUDA: KernelDialect = {
  ...CUDA_DIALECT,
  name: 'cuda',
  fn: (ret, name, params) => `__device__ __forceinline__ ${ret ? CUDA_TYPES[ret] : 'void'} ${name}(${params.join(', ')}) {`,
  param: (name, ty) => (ty === 'Coords' ? `const int (&${name})[NDIM]` : ty === 'Seg' || ty === 'Geom' ? `const ${ty}& ${name}` : `${CUDA_TYPES[ty]} ${name}`),
  coordsOut: (name) => `int (&${name})[NDIM]`,
  cursorParam: (name) => `Cursor& ${name}`,
  ref: (name) => name,
  constant: (name, ty, value) => `constexpr ${ty} ${name} = ${value};`,
  struct: (name, fields) => [`struct ${name} {`, ...fields.map(([f, ty]) => (ty === 'Coords' ? `  int ${f}[NDIM];` : `  ${CUDA_TYPES[ty]} ${f};`)), '};'],
  let: (name, ty, expr) => `const ${CUDA_TYPES[ty]} ${name} = ${expr};`,
  var: (name, ty, expr) => `${CUDA_TYPES[ty]} ${name}${expr === undefined ? '' : ` = ${expr}`};`,
  loop: 'for (;;) {',
  seg: (...f) => `Seg{${f.join(', ')}}`,
  select: (cond, yes, no) => `(${cond} ? ${yes} : ${no})`,
  switchOf: (expr, cases, dflt) => [`switch (${expr}) {`, ...cases.flatMap((body, i) => [`case ${i}: {`, ...body.map((l) => `  ${l}`), '} break;']), `default: {`, ...dflt.map((l) => `  ${l}`), '}', '}'],
  addr: (name) => name,
};

export const WGSL: KernelDialect = {
  ...WGSL_DIALECT,
  name: 'wgsl',
  fn: (ret, name, params) => `fn ${name}(${params.join(', ')})${ret ? ` -> ${WGSL_TYPES[ret]}` : ''} {`,
  param: (name, ty) => `${name}: ${WGSL_TYPES[ty]}`,
  coordsOut: (name) => `${name}: ptr<function, Coords>`,
  cursorParam: (name) => `${name}: ptr<function, Cursor>`,
  ref: (name) => `(*${name})`,
  constant: (name, ty, value) => `const ${name}: ${ty === 'int' ? 'i32' : 'bool'} = ${value};`,
  struct: (name, fields) => [`struct ${name} {`, ...fields.map(([f, ty]) => `  ${f}: ${WGSL_TYPES[ty]},`), '}'],
  let: (name, ty, expr) => `let ${name}: ${WGSL_TYPES[ty]} = ${expr};`,
  var: (name, ty, expr) => `var ${name}: ${WGSL_TYPES[ty]}${expr === undefined ? '' : ` = ${expr}`};`,
  loop: 'loop {',
  seg: (...f) => `Seg(${f.join(', ')})`,
  select: (cond, yes, no) => `select(${no}, ${yes}, ${cond})`,
  switchOf: (expr, cases, dflt) => [`switch (${expr}) {`, ...cases.flatMap((body, i) => [`case ${i}: {`, ...body.map((l) => `  ${l}`), '}']), `default: {`, ...dflt.map((l) => `  ${l}`), '}', '}'],
  addr: (name) => `&${name}`,
};

/** A size in printed code: a literal or the geometry's field. */
const sx = (v: SizeExpr): string => (typeof v === 'number' ? int(v) : v);

export interface CursorPrintOptions {
  /** Keys per key tile. */
  readonly blockK: number;
  /** Walk the plan's run-axis terms as runs of whole image rows (term_segment). */
  readonly runs: boolean;
}

/** Does the printed cursor take whole-row runs for some term? */
export const takesRuns = (plan: KernelPlan | BoundPlan, runs: boolean): boolean => runs && plan.runAxes.some((a) => a !== null);

/** A plan's sizes as the printer reads them (a bound plan's are all compiled in). */
const planSize = (s: PlanSize | number): PlanSize => (typeof s === 'number' ? { kind: 'fixed', value: s } : s);

/**
 * The fields of the launch's geometry (`struct Geom`, printed where some size is taken at launch):
 * the group counts and sizes of the run-time axes, and the token layout. Hosts fill it once per
 * launch from the sizes; the printed functions take it as their last argument `G`.
 */
export function geomFields(plan: KernelPlan | BoundPlan): string[] {
  const f: string[] = [];
  plan.dims.forEach((d, a) => { if (planSize(d.size).kind === 'runtime') f.push(`n${a}`, `size${a}`); });
  return [...f, 'image_offset', 'image_tokens', 'text_offset', 'text_count', 'query_groups', 'tokens'];
}

/** Does the printed cursor take a geometry argument (some size is taken at launch)? */
export const hasGeom = (plan: KernelPlan | BoundPlan): boolean => plan.dims.some((d) => planSize(d.size).kind === 'runtime') || (plan.text !== null && planSize(plan.text.count).kind === 'runtime');

type LayoutField = 'image_offset' | 'image_tokens' | 'text_offset' | 'text_count' | 'query_groups' | 'tokens';

/**
 * The token layout of a plan with run-time sizes, each value a number where the compiled sizes
 * decide it (e.g. the grid's offset behind a fixed text count, or 0) and null where it is the
 * launch's: kernels read the geometry only for those, so fixed parts still fold into constants.
 */
function layoutSizes(plan: KernelPlan | BoundPlan): Record<LayoutField, number | null> {
  const dims = plan.dims.map((d) => planSize(d.size)), text = plan.text ? planSize(plan.text.count) : planSize(0);
  const fixed = (x: PlanSize): number | null => (x.kind === 'fixed' ? x.value : null);
  const gridFixed = dims.every((x) => x.kind === 'fixed');
  const imageTokens = gridFixed ? dims.reduce((n, x) => n * fixed(x)!, 1) : null;
  const textCount = fixed(text);
  const before = plan.text?.place === 'before';
  return {
    image_offset: before ? textCount : 0,
    image_tokens: imageTokens,
    text_offset: before ? 0 : imageTokens,
    text_count: textCount,
    query_groups: gridFixed ? dims.reduce((n, x, a) => n * Math.ceil(fixed(x)! / plan.dims[a].group), 1) : null,
    tokens: imageTokens !== null && textCount !== null ? imageTokens + textCount : null,
  };
}

/**
 * The layout values as a kernel template spells them: the printed constants (IMAGE_OFFSET, ...)
 * of a fixed plan; with run-time sizes, a literal where the compiled sizes decide the value, else
 * the field of the launch's geometry `geom` (e.g. `p.geom.text_count`).
 */
export function layoutExprs(plan: KernelPlan | BoundPlan, geom: string): { imageOffset: string; imageTokens: string; textOffset: string; textCount: string; queryGroups: string; tokens: string } {
  if (!hasGeom(plan)) return { imageOffset: 'IMAGE_OFFSET', imageTokens: 'IMAGE_TOKENS', textOffset: 'TEXT_OFFSET', textCount: 'TEXT_COUNT', queryGroups: 'QUERY_GROUPS', tokens: 'TOKENS' };
  const v = layoutSizes(plan), e = (f: LayoutField): string => (v[f] === null ? `${geom}.${f}` : int(v[f]!));
  return { imageOffset: e('image_offset'), imageTokens: e('image_tokens'), textOffset: e('text_offset'), textCount: e('text_count'), queryGroups: e('query_groups'), tokens: e('tokens') };
}

/**
 * How the printed functions spell the group counts and the token layout: literals or the
 * constants where the compiled sizes decide them, else the geometry's fields (`G.n0`,
 * `G.text_count`): what the cursor printers (this file's and codegen/cursor_transposed.ts's) read.
 */
export function printedSizes(plan: KernelPlan | BoundPlan): { n: string[]; imageOffset: string; imageTokens: string; textOffset: string; textCount: string } {
  const n = plan.dims.map((x, a) => { const s = planSize(x.size); return s.kind === 'fixed' ? int(Math.ceil(s.value / x.group)) : `G.n${a}`; });
  if (!hasGeom(plan)) return { n, imageOffset: 'IMAGE_OFFSET', imageTokens: 'IMAGE_TOKENS', textOffset: 'TEXT_OFFSET', textCount: 'TEXT_COUNT' };
  const v = layoutSizes(plan), e = (f: LayoutField): string => (v[f] === null ? `G.${f}` : int(v[f]!));
  return { n, imageOffset: e('image_offset'), imageTokens: e('image_tokens'), textOffset: e('text_offset'), textCount: e('text_count') };
}

/** The constants, structs, geometry and cursor of a plan in one dialect (see the file comment). */
export function printCursor(plan: KernelPlan | BoundPlan, d: KernelDialect, opts: CursorPrintOptions): string {
  const D = plan.dims.length, T = plan.terms.length;
  const sizes = plan.dims.map((x) => planSize(x.size)), grp = plan.dims.map((x) => x.group);
  const rt = hasGeom(plan);
  // per axis: the group count and size, literals or the geometry's fields
  const n: SizeExpr[] = sizes.map((x, a) => (x.kind === 'fixed' ? Math.ceil(x.value / grp[a]) : `G.n${a}`));
  const size: SizeExpr[] = sizes.map((x, a) => (x.kind === 'fixed' ? x.value : `G.size${a}`));
  // a full group's extent along an axis: min(group, size); a run-time axis's fast paths assume the group
  const extent = sizes.map((x, a) => (x.kind === 'fixed' ? Math.min(grp[a], x.value) : grp[a]));
  const L = rt ? null : 'layout' in plan ? plan.layout : bindPlan(plan).layout;
  const RL = rt ? layoutSizes(plan) : null;
  const imageOffsetV: SizeExpr = RL ? RL.image_offset ?? 'G.image_offset' : L!.imageOffset;
  const textOffsetV: SizeExpr = RL ? RL.text_offset ?? 'G.text_offset' : 'TEXT_OFFSET';
  const runs = takesRuns(plan, opts.runs);
  const out: string[] = [];
  const emit = (...lines: string[]): void => { out.push(...lines); };
  const ind = (lines: readonly string[], by = '  '): string[] => lines.map((l) => by + l);
  const c = d.ref('c'); // the cursor, through its reference
  const axes = (f: (a: number) => string): string[] => Array.from({ length: D }, (_, a) => f(a));
  // the geometry argument: a parameter of every function that reads a run-time size, passed on by callers
  const gp = rt ? [d.param('G', 'Geom')] : [];
  const ga = rt ? ', G' : '';

  emit('// ---- the pattern: layout constants (compiler/plan.ts) ----');
  emit(d.constant('NDIM', 'int', String(D)));
  if (d.name === 'wgsl') emit('alias Coords = array<i32, NDIM>;');
  emit(d.constant('NTERMS', 'int', String(T)));
  if (L) {
    emit(d.constant('IMAGE_OFFSET', 'int', String(L.imageOffset)));
    emit(d.constant('IMAGE_TOKENS', 'int', String(L.imageTokens)));
    emit(d.constant('TEXT_OFFSET', 'int', String(L.textOffset)));
    emit(d.constant('TEXT_COUNT', 'int', String(L.textCount)));
  }
  emit(d.constant('IMAGE_SEES_TEXT', 'bool', String(plan.imageSeesText)));
  emit(d.constant('TEXTQ_GRID', 'bool', String(plan.textQueries?.grid ?? false)));
  emit(d.constant('TEXTQ_TEXT', 'bool', String(plan.textQueries?.text ?? false)));
  emit(d.constant('STAGE_GRID', 'int', 'NTERMS') + '      // text queries: the grid (the launch\'s part) as one run');
  emit(d.constant('STAGE_TEXT', 'int', 'NTERMS + 1') + '  // the first `valid` text tokens');
  emit('');
  if (rt) {
    emit('/** The launch\'s sizes (some are taken at launch): group counts n<a> and sizes size<a> of the run-time axes, the token layout. */');
    emit(...d.struct('Geom', geomFields(plan).map((f) => [f, 'int'] as const)));
  }
  emit('/** A run of tokens: contiguous (base + i), or a raster group (rows of lw tokens, lh rows a plane). */');
  emit(...d.struct('Seg', [['base', 'int'], ['len', 'int'], ['lw', 'int'], ['lh', 'int'], ['contiguous', 'bool']]));
  if (d.name === 'wgsl') {
    emit('/** One key tile: tokens seg[off .. off + n); n = 0 when the cursor is exhausted. */');
    emit(...d.struct('KeyTile', [['seg', 'Seg'], ['off', 'int'], ['n', 'int']]));
  }
  emit('/** The key-tile cursor of one query tile (compiler/cursor.ts Cursor). */');
  emit(...d.struct('Cursor', [
    ['stage', 'int'], // term index, STAGE_GRID, STAGE_TEXT or done; -1 before the first
    ['fresh', 'bool'], // the stage was just entered: its first item is not yet visited
    ['k', 'Coords'], ['lo', 'Coords'], ['hi', 'Coords'], // current key group and the term's window
    ['seg', 'Seg'], ['off', 'int'], // current segment, its next token
    ['grid_lo', 'int'], ['grid_len', 'int'], // text queries' grid run: image tokens [grid_lo, grid_lo + grid_len)
  ]));
  emit('');

  emit('/** Floor division and modulo; a zero divisor gives 0 (compiler/predicate.ts). */');
  emit(d.fn('int', 'floor_div', [d.param('a', 'int'), d.param('b', 'int')]));
  emit('  if (b == 0) { return 0; }', `  ${d.let('q', 'int', 'a / b')}`, '  if (q * b != a && ((a < 0) != (b < 0))) { return q - 1; }', '  return q;', '}');
  emit(d.fn('int', 'floor_mod', [d.param('a', 'int'), d.param('b', 'int')]));
  // from the truncated remainder: a - b * floor_div(a, b) would overflow near the 32-bit limit
  emit('  if (b == 0) { return 0; }', `  ${d.let('r', 'int', 'a % b')}`, '  if (r != 0 && ((r < 0) != (b < 0))) { return r + b; }', '  return r;', '}');
  emit('');

  emit('/** Group coordinates (outermost first) of query group g. */');
  emit(d.fn(null, 'decode_group', [d.param('g0', 'int'), d.coordsOut('c'), ...gp]));
  emit(`  ${d.var('g', 'int', 'g0')}`);
  for (let a = D - 1; a >= 1; a--) emit(`  ${d.ref('c')}[${a}] = g % ${sx(n[a])};`, `  g = g / ${sx(n[a])};`);
  emit(`  ${d.ref('c')}[0] = g;`, '}');
  emit('');

  emit('/** The tokens of image group c: where it starts, how many, and its row shape (raster order). */');
  emit(d.fn('Seg', 'group_segment', [d.param('c', 'Coords'), ...gp]));
  for (let a = 0; a < D; a++) emit(`  ${d.let(`len${a}`, 'int', printGroupLength(size[a], grp[a], a))}`);
  const lens = axes((a) => `len${a}`).join(' * ');
  const base = printGroupBase(plan.order, size, grp, imageOffsetV);
  if (plan.order === 'grouped') emit(`  return ${d.seg(base, lens, lens, '1', 'true')};`);
  else emit(`  return ${d.seg(base, lens, `len${D - 1}`, D >= 2 ? `len${D - 2}` : '1', D === 1 ? 'true' : 'false')};`);
  emit('}');
  emit('');

  emit('/** Sequence index of the local-th token of a segment (row-major inside a raster group). */');
  emit(d.fn('int', 'seg_token', [d.param('s', 'Seg'), d.param('local', 'int'), ...gp]));
  if (plan.order === 'grouped' || D === 1) {
    emit('  return s.base + local;');
  } else {
    emit('  if (s.contiguous) { return s.base + local; }');
    const gw = extent[D - 1];
    if (D === 2) {
      emit(`  ${d.var('y', 'int')}`, `  ${d.var('x', 'int')}`);
      emit(`  if (s.lw == ${gw}) { y = local / ${gw}; x = local - y * ${gw}; }  // full-width groups: divide by a constant`);
      emit('  else { y = local / s.lw; x = local - y * s.lw; }');
      emit(`  return s.base + y * ${sx(size[1])} + x;`);
    } else {
      const gh = extent[D - 2];
      emit(...['r', 'x', 't', 'y'].map((v) => `  ${d.var(v, 'int')}`));
      emit(`  if (s.lw == ${gw} && s.lh == ${gh}) { r = local / ${gw}; x = local - r * ${gw}; t = r / ${gh}; y = r - t * ${gh}; }`);
      emit('  else { r = local / s.lw; x = local - r * s.lw; t = r / s.lh; y = r - t * s.lh; }');
      emit(`  return s.base + (t * ${sx(size[1])} + y) * ${sx(size[2])} + x;`);
    }
  }
  emit('}');
  emit('');

  emit('/** Term t\'s window of key groups for query group q, into the cursor\'s lo/hi; false when empty. */');
  emit(d.fn('bool', 'term_window', [d.param('t', 'int'), d.param('q', 'Coords'), d.cursorParam('c'), ...gp]));
  emit(...ind(d.switchOf('t', plan.terms.map((t) => termAxes(t).map((r, a) => printAxisWindow(r, a, n[a], termBorder(t), `${c}.lo[${a}]`, `${c}.hi[${a}]`))), ['return false;'])));
  emit(`  return ${axes((a) => `${c}.lo[${a}] <= ${c}.hi[${a}]`).join(' && ')};`, '}');
  emit('');

  // Each earlier term's test is printed once, as its own function, and term_visible calls it: the
  // text stays linear in the pattern (printed inline in every later case, 2,000 terms made 250 MB
  // of CUDA). Forced inline (CUDA), the compiled code is the same.
  if (T > 1) emit('/** Key group k is in term j\'s window and its predicate holds (tested for the terms after j). */');
  plan.terms.slice(0, -1).forEach((t, j) => {
    emit(`${d.fn('bool', `term_contains_${j}`, [d.param('q', 'Coords'), d.param('k', 'Coords'), ...gp])} return ${printTermContains(t, n, d)}; }`);
  });
  if (T > 1) emit('');

  emit('/** Key group k (inside term t\'s window) is visited by term t: its predicate holds and no earlier term has k. */');
  emit(d.fn('bool', 'term_visible', [d.param('t', 'int'), d.param('q', 'Coords'), d.param('k', 'Coords'), ...gp]));
  emit(...ind(d.switchOf('t', plan.terms.map((t, i) => {
    const conds: string[] = [];
    if (t.kind === 'predicate') conds.push(printPredicate(t.expr, n));
    for (let j = 0; j < i; j++) conds.push(`!term_contains_${j}(q, k${ga})`);
    return [`return ${conds.length ? conds.join('\n      && ') : 'true'};`];
  }), ['return false;'])));
  emit('}');
  emit('');

  if (runs) {
    emit('/** The key run at the cursor\'s group of term t (moves k to the run\'s last group): a whole-axes run, or the group. */');
    emit(d.fn('Seg', 'term_segment', [d.param('t', 'int'), d.cursorParam('c'), ...gp]));
    const cases = plan.terms.map((_, i) => {
      const c0 = plan.runAxes[i];
      if (c0 === null) return [`return group_segment(${c}.k${ga});`];
      // fixed group coordinates on axes < c0, every token of axes >= c0 (raster order)
      const body: string[] = [];
      for (let a = 0; a < c0; a++) body.push(d.let(`len${a}`, 'int', printGroupLength(size[a], grp[a], a).replace(/c\[/g, `${c}.k[`)));
      const start = (a: number): string => (a < c0 ? `${c}.k[${a}] * ${int(grp[a])}` : '0');
      let lin = start(0);
      for (let a = 1; a < D; a++) lin = `(${lin}) * ${sx(size[a])} + ${start(a)}`;
      const len = axes((a) => (a < c0 ? `len${a}` : sx(size[a]))).join(' * ');
      // contiguous when only the first axis is fixed (or none); in 3-D with t and h fixed: planes of
      // len1 whole rows (seg_token's raster form with lw = the grid width)
      const seg = c0 <= 1 ? d.seg(`${sx(imageOffsetV)} + ${lin}`, len, len, '1', 'true') : d.seg(`${sx(imageOffsetV)} + ${lin}`, len, sx(size[D - 1]), `len${D - 2}`, 'false');
      body.push(d.let('s', 'Seg', seg));
      for (let a = c0; a < D; a++) body.push(`${c}.k[${a}] = ${c}.hi[${a}];`);
      body.push('return s;');
      return body;
    });
    emit(...ind(d.switchOf('t', cases, [`return group_segment(${c}.k${ga});`])));
    emit('}');
    emit('');
  }

  emit('/** Whether stage s applies to the tile (terms: image queries; the grid run: text queries; the text run: both, as the pattern says). */');
  emit(d.fn('bool', 'stage_on', [d.param('s', 'int'), d.param('text_tile', 'bool')]));
  emit('  if (s < NTERMS) { return !text_tile; }');
  emit('  if (s == STAGE_GRID) { return text_tile && TEXTQ_GRID; }');
  emit(`  if (s == STAGE_TEXT) { return ${d.select('text_tile', 'TEXTQ_TEXT', 'IMAGE_SEES_TEXT')}; }`);
  emit('  return true;  // past the text: done', '}');
  emit('');

  emit('/** The next key group of the window, last axis fastest; false once past its end (k back at lo). */');
  emit(d.fn('bool', 'odometer_step', [d.cursorParam('c')]));
  emit(`  ${d.var('carry', 'bool', 'true')}  // no early return: every k[a] access stays at a constant index (registers)`);
  for (let a = D - 1; a >= 0; a--) {
    emit(`  if (carry) {`);
    emit(`    if (${c}.k[${a}] < ${c}.hi[${a}]) { ${c}.k[${a}] += 1; carry = false; }`);
    emit(`    else { ${c}.k[${a}] = ${c}.lo[${a}]; }`);
    emit('  }');
  }
  emit('  return !carry;', '}');
  emit('');

  emit('/** Moves to the next non-empty segment; false when the tile\'s keys are exhausted. */');
  emit(d.fn('bool', 'next_segment', [d.cursorParam('c'), d.param('q', 'Coords'), d.param('text_tile', 'bool'), d.param('valid', 'int'), ...gp]));
  emit(`  ${d.loop}`);
  emit(`    if (${c}.stage < NTERMS) {`);
  emit(`      ${d.var('more', 'bool', `${c}.fresh`)}`);
  emit(`      if (!more) { more = odometer_step(c); }`);
  emit(`      ${c}.fresh = false;`);
  emit('      if (more) {');
  emit(`        if (term_visible(${c}.stage, q, ${c}.k${ga})) {`);
  emit(`          ${c}.seg = ${runs ? `term_segment(${c}.stage, c${ga})` : `group_segment(${c}.k${ga})`};`);
  emit(`          ${c}.off = 0;`);
  emit('          return true;');
  emit('        }');
  emit('        continue;');
  emit('      }');
  emit(`    } else if (${c}.stage == STAGE_GRID) {`);
  emit(`      if (${c}.fresh) { ${c}.fresh = false; ${c}.seg = ${d.seg(`${rt ? sx(imageOffsetV) : 'IMAGE_OFFSET'} + ${c}.grid_lo`, `${c}.grid_len`, '0', '0', 'true')}; ${c}.off = 0; return true; }`);
  emit(`    } else if (${c}.stage == STAGE_TEXT) {`);
  emit(`      if (${c}.fresh) {`);
  emit(`        ${c}.fresh = false;`);
  emit(`        if (valid > 0) { ${c}.seg = ${d.seg(sx(textOffsetV), 'valid', '0', '0', 'true')}; ${c}.off = 0; return true; }`);
  emit('      }');
  emit('    } else {');
  emit('      return false;');
  emit('    }');
  emit('    // enter the next stage that applies to this tile (a term with an empty window is skipped)');
  emit(`    ${d.loop}`);
  emit(`      ${c}.stage += 1;`);
  emit(`      if (stage_on(${c}.stage, text_tile) && (${c}.stage >= NTERMS || term_window(${c}.stage, q, c${ga}))) { break; }`);
  emit('    }');
  emit(`    ${c}.fresh = true;`);
  emit(...axes((a) => `    ${c}.k[${a}] = ${c}.lo[${a}];`));
  emit('  }', '}');
  emit('');

  // the tile's segment and first token: CUDA through out-parameters (returning the struct costs the
  // sm_80 kernel 9 registers in its main loop), WGSL as a KeyTile
  emit('/** The next key tile: up to BK keys of one segment (n = 0 when none is left). */');
  if (d.name === 'cuda') {
    emit(d.fn('int', 'next_tile', [d.cursorParam('c'), d.param('q', 'Coords'), d.param('text_tile', 'bool'), d.param('valid', 'int'), 'Seg& seg', 'int& off', ...gp]));
    emit(`  while (c.off >= c.seg.len) {`, `    if (!next_segment(c, q, text_tile, valid${ga})) { return 0; }`, '  }');
    emit('  seg = c.seg;', '  off = c.off;', `  c.off += ${int(opts.blockK)};`, `  return min(${int(opts.blockK)}, seg.len - off);`, '}');
  } else {
    emit(d.fn('KeyTile', 'next_tile', [d.cursorParam('c'), d.param('q', 'Coords'), d.param('text_tile', 'bool'), d.param('valid', 'int'), ...gp]));
    emit(`  ${d.var('t', 'KeyTile')}`);
    emit(`  ${d.loop}`);
    emit(`    if (${c}.off < ${c}.seg.len) { break; }`);
    emit(`    if (!next_segment(c, q, text_tile, valid${ga})) { return t; }`);
    emit('  }');
    emit(`  t.seg = ${c}.seg;`, `  t.off = ${c}.off;`, `  t.n = min(${int(opts.blockK)}, t.seg.len - t.off);`, `  ${c}.off += ${int(opts.blockK)};`, '  return t;', '}');
  }
  emit('');

  emit('/** A cursor before a query tile\'s first key (text tiles see image tokens [grid_lo, grid_lo + grid_len)). */');
  emit(d.fn(null, 'cursor_start', [d.cursorParam('c'), d.param('grid_lo', 'int'), d.param('grid_len', 'int')]));
  emit(`  ${c}.stage = -1;`, `  ${c}.fresh = false;`, `  ${c}.seg = ${d.seg('0', '0', '0', '0', 'true')};`, `  ${c}.off = 0;`);
  emit(`  ${c}.grid_lo = grid_lo;`, `  ${c}.grid_len = grid_len;`);
  emit(...axes((a) => `  ${c}.k[${a}] = 0; ${c}.lo[${a}] = 0; ${c}.hi[${a}] = -1;`));
  emit('}');
  return out.join('\n');
}

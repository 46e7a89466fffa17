/**
 * The checker: AST + bindings → a concrete, validated PatternIR, or diagnostics. Every rule
 * about what a pattern may say lives here (or in check_region.ts), so everything downstream
 * trusts the IR. Diagnostics are collected, never thrown.
 */
import type { DimAssign, Ident, IntLit, PatternFile, SizeLit, Statement, WordStmt } from '../dsl/ast.js';
import { diag, hasErrors, type Diagnostic } from '../dsl/diagnostics.js';
import { parse } from '../dsl/parse.js';
import type { Border, Dim, Dtype, ImageRegion, Order, PatternIR, RuntimeSizes, ScheduleValue, TextPlace, TextRegion } from './ir.js';
import { imageRegion, MAX_LITERAL, textRegion, type RegionContext } from './check_region.js';
import { identifierOf, MAX_NAME } from './identifier.js';
import { didYouMean } from './nearest.js';

/** Sizes left symbolic (`?`) in the file, bound from outside (CLI flags, runtimes). */
export interface Bindings {
  /** Grid sizes, outermost first; must have as many entries as the file's grid dims. Overrides fixed sizes only if they agree. */
  readonly grid?: readonly number[];
  /** Text token count, for `text ? before|after`. */
  readonly text?: number;
}

export interface CheckOptions extends Bindings {
  /** Pattern name when the file has no `pattern` statement (the CLI passes the file's base name). */
  readonly defaultName?: string;
  /**
   * The targets and the `schedule` settings each accepts (codegen/targets.ts `SCHEDULE_KEYS`:
   * backends declare them, and the compiler never imports codegen). Without it, any target and
   * setting is kept; only the values are checked.
   */
  readonly schedules?: Readonly<Record<string, readonly string[]>>;
  /**
   * `?` sizes that nothing binds become run-time sizes (`compile`: kernels take them at launch)
   * instead of E0301/E0302; the IR then holds them at their maxima (`runtimeLimits`, ir.runtime).
   */
  readonly runtimeSizes?: boolean;
}

export interface CheckResult {
  /** null when there are errors. */
  readonly ir: PatternIR | null;
  readonly diagnostics: readonly Diagnostic[];
}

/** Token indices are 32-bit in every backend. */
export const MAX_TOKENS = 2 ** 31 - 1;
/** Bounds per-group tables (stats, ONNX index tensors) so absurd group counts are rejected up front. */
export const MAX_GROUPS = 2 ** 22;
export const MAX_HEAD_DIM = 1024;
/**
 * Terms in one region. A kernel tests each key group against every earlier term (first-term
 * ownership: overlapping terms visit a key group once), so per-key work grows with the terms
 * and the emitted tests with their square; a cap keeps both small instead of making the kernel
 * loop over terms at run time. The bundled patterns use 1 to 4; 2,000 terms made 250 MB of CUDA.
 */
export const MAX_REGION_TERMS = 64;

/**
 * The largest run-time sizes (ir.runtime.max): 2^24 grid tokens, each of D run-time dims at most
 * 2^(24/D) (1-D 16,777,216; 2-D 4096 — Flux 8192² px is a 512 x 512 latent; 3-D 256 —
 * HunyuanVideo 1080p is 33 x 68 x 120), 65,536 text tokens. Token indices stay below 2^25 and
 * predicates are proved over the group counts these allow.
 */
export const RUNTIME_MAX = { gridTokens: 2 ** 24, dims: [2 ** 24, 2 ** 12, 2 ** 8] as const, text: 2 ** 16 } as const;

export function checkSource(text: string, options: CheckOptions = {}): CheckResult {
  const { file, diagnostics } = parse(text);
  const diags: Diagnostic[] = [...diagnostics];
  const ir = checkFile(file, text, options, diags);
  // in source order, as a reader goes through the file; diagnostics about the whole file last
  const at = (d: Diagnostic) => d.span?.start ?? Infinity;
  const sorted = diags.map((d, i) => ({ d, i })).sort((a, b) => at(a.d) - at(b.d) || a.i - b.i).map((x) => x.d);
  return { ir: hasErrors(diags) ? null : ir, diagnostics: sorted };
}

function keyOf(s: Statement): string {
  if (s.kind === 'attends') return `attends ${s.who.name}`;
  if (s.kind === 'schedule') return `schedule ${s.target.name}`;
  return s.kind;
}

function describe(key: string): string {
  return key.startsWith('attends ') ? `'${key.slice(8)} attends'` : `'${key}'`;
}

function oneOf<T extends string>(word: Ident, allowed: readonly T[], what: string, diags: Diagnostic[]): T | null {
  if ((allowed as readonly string[]).includes(word.name)) return word.name as T;
  diags.push(diag('E0206', `unknown ${what} '${word.name}'`, word.span, didYouMean(word.name, allowed)));
  return null;
}

function smallInt(lit: IntLit, what: string, min: number, diags: Diagnostic[], max = MAX_LITERAL): number | null {
  if (!Number.isSafeInteger(lit.value) || lit.value > max) {
    diags.push(diag('E0205', `${what} ${lit.text} is too large`, lit.span, { hint: `at most ${max.toLocaleString('en-US')}` }));
    return null;
  }
  if (lit.value < min) {
    diags.push(diag('E0203', `${what} must be at least ${min}, got ${lit.text}`, lit.span));
    return null;
  }
  return lit.value;
}

function checkFile(file: PatternFile, source: string, options: CheckOptions, diags: Diagnostic[]): PatternIR | null {
  // one statement of each kind (attends per who, schedule per target)
  const byKey = new Map<string, Statement>();
  for (const s of file.statements) {
    const key = keyOf(s);
    if (s.kind === 'attends' && s.who.name !== 'image' && s.who.name !== 'text') {
      diags.push(diag('E0206', `unknown query kind '${s.who.name}'`, s.who.span, didYouMean(s.who.name, ['image', 'text'])));
      continue;
    }
    const first = byKey.get(key);
    if (first) {
      diags.push(diag('E0101', `duplicate ${describe(key)} statement`, s.span, { notes: [{ message: 'first given here', span: first.span }], hint: 'each setting may be given once' }));
      continue;
    }
    byKey.set(key, s);
  }
  const get = <K extends Statement['kind']>(key: string) => byKey.get(key) as Extract<Statement, { kind: K }> | undefined;
  // After a syntax error the "missing" statement is usually the broken line itself: stay quiet.
  const syntaxBroken = hasErrors(diags);
  const missing = (what: string, example: string) => {
    if (!syntaxBroken) diags.push(diag('E0102', `missing '${what}' statement`, null, { hint: `add e.g. '${example}'` }));
  };

  const nameS = get<'pattern'>('pattern')?.name;
  if (nameS && nameS.name.length > MAX_NAME) {
    // kernel, module and file names are built from it (file names stop at 255 bytes)
    diags.push(diag('E0208', `the pattern name is ${nameS.name.length} characters long`, nameS.span, { hint: `at most ${MAX_NAME}` }));
  }
  const name = nameS?.name ?? identifierOf(options.defaultName ?? 'pattern');

  // ---- layout ----
  const gridS = get<'grid'>('grid'), groupS = get<'group'>('group');
  if (!gridS) missing('grid', 'grid h=64 w=64');
  if (!groupS) missing('group', 'group h=16 w=16');
  const dims = gridS && groupS ? layout(gridS.dims, groupS.dims, groupS.span, options, diags) : null;

  // word settings with defaults; the default's empty span is never reported (defaults are valid)
  const word = (key: string, dflt: string): Ident => (byKey.get(key) as WordStmt | undefined)?.value ?? { name: dflt, span: { start: 0, end: 0 } };
  const order = oneOf<Order>(word('order', 'raster'), ['raster', 'grouped'], 'order', diags);
  const border = oneOf<Border>(word('border', 'clip'), ['clip', 'shift'], 'border', diags);
  const dtype = oneOf<Dtype>(word('dtype', 'bf16'), ['bf16', 'fp16', 'fp32'], 'dtype', diags);

  // ---- text ----
  const textS = get<'text'>('text');
  let text: { count: number; place: TextPlace } | null = null;
  let textOk = true, runtimeText = false;
  if (textS) {
    const place = oneOf<TextPlace>(textS.place, ['before', 'after'], 'text place', diags);
    // a text count at launch: at most RUNTIME_MAX.text, and no more than 32-bit token indices leave beside a fixed grid
    const count = textS.count.kind === 'unbound' && options.text === undefined && options.runtimeSizes
      ? Math.min(RUNTIME_MAX.text, MAX_TOKENS - (dims ? gridTokensMax(dims, gridS!.dims.map((d) => d.value.kind === 'unbound' && options.grid === undefined)) : 0))
      : bindSize(textS.count, options.text, 'text count', 0, diags, () =>
        diags.push(diag('E0302', 'the text count is left as ?, and no value was given', textS.count.span, { hint: 'pass --text N' })));
    if (textS.count.kind === 'unbound' && options.text === undefined && options.runtimeSizes) runtimeText = true;
    if (place && count !== null) text = { count, place }; else textOk = false;
  } else if (options.text !== undefined && options.text !== 0) {
    diags.push(diag('E0304', `--text ${options.text} was given, but the pattern has no text segment`, null, { hint: "add 'text ? before' (or after) to the pattern" }));
  }

  const runtimeDims = dims && gridS ? gridS.dims.map((d) => d.value.kind === 'unbound' && options.grid === undefined && options.runtimeSizes === true) : [];
  const isRuntime = runtimeText || runtimeDims.some((x) => x);
  if (dims && text) {
    const img = gridTokensMax(dims, runtimeDims);
    if (img + text.count > MAX_TOKENS) {
      diags.push(diag('E0205', `${(img + text.count).toLocaleString('en-US')} tokens overflow 32-bit token indices`, textS!.span, { hint: `at most ${MAX_TOKENS.toLocaleString('en-US')} tokens` }));
    }
  }

  // ---- regions ----
  const ctxBase = { border: border ?? 'clip', hasText: textS !== undefined, source, diags };
  const imageS = get<'attends'>('attends image');
  const textQ = get<'attends'>('attends text');
  let image: ImageRegion | null = null;
  let textQueries: TextRegion | null = null;
  if (!imageS) missing('image attends', 'image attends neighbors(1) + text');
  if (gridS) {
    const ctx: RegionContext = { ...ctxBase, dimNames: gridS.dims.map((d) => d.dim.name), groups: groupRanges(gridS.dims, groupS?.dims, dims, runtimeDims), proven: isRuntime };
    const over = imageS?.region.terms[MAX_REGION_TERMS];
    if (over) {
      diags.push(diag('E0406', `this region has ${imageS!.region.terms.length.toLocaleString('en-US')} terms; a region takes at most ${MAX_REGION_TERMS}`, over.span,
        { hint: 'merge terms into one where(...) condition, or neighbors() with per-dim radii' }));
    } else if (imageS) image = imageRegion(ctx, imageS.region);
    if (textQ) {
      if (!textS) diags.push(diag('E0405', "'text attends' is given, but the pattern has no text segment", textQ.who.span, { hint: "add a 'text N before' statement, or remove this one" }));
      else textQueries = textRegion(ctx, textQ.region);
    } else if (textS) textQueries = { grid: true, text: true };
  }

  // ---- numerics ----
  const hdS = get<'head_dim'>('head_dim');
  let headDim: number | null = null;
  if (!hdS) missing('head_dim', 'head_dim 128');
  else headDim = smallInt(hdS.value, 'head_dim', 1, diags, MAX_HEAD_DIM);
  const scaleS = get<'scale'>('scale');
  let scale: number | null = headDim ? 1 / Math.sqrt(headDim) : null;
  if (scaleS) {
    const v = scaleS.value.value;
    if (!Number.isFinite(v) || v <= 0) {
      diags.push(diag('E0602', `scale must be a positive finite number, got ${scaleS.value.text}`, scaleS.value.span));
      scale = null;
    } else if (!fitsFp32Scale(v)) {
      diags.push(diag('E0603', `scale ${scaleS.value.text} is outside the range of fp32, which kernels compute in`, scaleS.value.span,
        { hint: 'use a scale between about 1.5e-45 and 2.3e38' }));
      scale = null;
    } else scale = v;
  }

  // ---- schedule ----
  // null prototypes: without a table, targets and keys are the file's words (`__proto__` included)
  const schedule = Object.create(null) as Partial<Record<string, Record<string, ScheduleValue>>>;
  const schedules = options.schedules;
  for (const s of file.statements) {
    if (s.kind !== 'schedule' || byKey.get(keyOf(s)) !== s) continue;
    const target = schedules ? oneOf(s.target, Object.keys(schedules), 'target', diags) : s.target.name;
    if (!target) continue;
    const keys = schedules?.[target];
    const out: Record<string, ScheduleValue> = Object.create(null) as Record<string, ScheduleValue>;
    for (const kv of s.settings) {
      if (keys && !keys.includes(kv.key.name)) {
        diags.push(diag('E0702', `unknown ${target} schedule setting '${kv.key.name}'`, kv.key.span, didYouMean(kv.key.name, keys)));
        continue;
      }
      if (kv.key.name in out) {
        diags.push(diag('E0101', `'${kv.key.name}' is given twice`, kv.span));
        continue;
      }
      if ('kind' in kv.value) {
        const v = smallInt(kv.value, kv.key.name, 1, diags, 1 << 16);
        if (v !== null) out[kv.key.name] = v;
      } else {
        diags.push(diag('E0703', `'${kv.key.name}' takes a positive integer`, kv.value.span));
      }
    }
    schedule[target] = out;
  }

  if (!dims || !order || !border || !dtype || !image || !textOk || headDim === null || scale === null) return null;
  if (text && !textQueries) return null;
  const runtime = isRuntime ? runtimeOf(dims, runtimeDims, text, runtimeText) : null;
  return { name, dims, order, text, image, textQueries: text ? textQueries : null, headDim, dtype, scale, schedule, ...(runtime ? { runtime } : {}) };
}

/** The grid's most tokens: its size, or with run-time dims at most RUNTIME_MAX.gridTokens. */
function gridTokensMax(dims: readonly Dim[], rtDims: readonly boolean[]): number {
  const n = dims.reduce((k, d) => k * d.size, 1);
  return rtDims.some((x) => x) ? Math.min(RUNTIME_MAX.gridTokens, n) : n;
}

/** The run-time sizes of an IR whose `?` sizes were left to launch (dims and text at their maxima). */
function runtimeOf(dims: readonly Dim[], rtDims: readonly boolean[], text: { count: number } | null, rtText: boolean): RuntimeSizes {
  const maxDims = dims.map((d) => d.size);
  const gridTokens = gridTokensMax(dims, rtDims);
  const groups = Math.min(MAX_GROUPS, dims.reduce((n, d) => n * d.groups, 1));
  const textMax = text?.count ?? 0;
  return { dims: rtDims, text: rtText, max: { dims: maxDims, text: textMax, tokens: gridTokens + textMax, groups } };
}

/**
 * Per grid dim, the group counts predicates are proved over: exact once the layout is known (or
 * the file fixes both sizes), else any count the checker accepts.
 */
function groupRanges(grid: readonly DimAssign<SizeLit>[], group: readonly DimAssign<IntLit>[] | undefined, dims: readonly Dim[] | null, runtime: readonly boolean[]): [number, number][] {
  return grid.map((d, i): [number, number] => {
    const n = dims?.[i]?.groups;
    if (n !== undefined) return [runtime[i] ? 1 : n, n]; // a run-time dim: 1 to its maximum's groups
    const g = group?.[i];
    const fixed = d.value.kind === 'int' && g !== undefined && g.dim.name === d.dim.name
      && Number.isSafeInteger(d.value.value) && Number.isSafeInteger(g.value.value) && d.value.value >= 1 && g.value.value >= 1;
    if (fixed) {
      const c = Math.ceil((d.value as IntLit).value / g.value.value);
      if (c <= MAX_GROUPS) return [c, c];
    }
    return [1, MAX_GROUPS];
  });
}

/**
 * Kernels hold the scale, and the scale times log2(e) (base-2 softmax), in fp32: both must be
 * finite there and the scale nonzero, or scores turn into NaN or all equal.
 */
const fitsFp32Scale = (v: number): boolean => Math.fround(v) > 0 && Number.isFinite(Math.fround(v * Math.LOG2E));

/** A size from the file, or `?` bound from outside. Reports conflicts between the two. */
function bindSize(lit: SizeLit, bound: number | undefined, what: string, min: number, diags: Diagnostic[], unbound: () => void): number | null {
  if (lit.kind === 'unbound') {
    if (bound === undefined) { unbound(); return null; }
    if (!Number.isSafeInteger(bound) || bound < min || bound > MAX_TOKENS) {
      diags.push(diag('E0303', `${what} ${bound} is out of range`, lit.span, { hint: `between ${min} and ${MAX_TOKENS.toLocaleString('en-US')}` }));
      return null;
    }
    return bound;
  }
  const v = smallInt(lit, what, min, diags, MAX_TOKENS);
  if (v === null) return null;
  if (bound !== undefined && bound !== v) {
    diags.push(diag('E0304', `${what} is fixed to ${v} in the pattern, but ${bound} was given`, lit.span, { hint: 'leave it as ? in the pattern to bind it from outside' }));
    return null;
  }
  return v;
}

function layout(grid: readonly DimAssign<SizeLit>[], group: readonly DimAssign<IntLit>[], groupSpan: { start: number; end: number }, options: CheckOptions, diags: Diagnostic[]): Dim[] | null {
  let ok = true;
  if (grid.length < 1 || grid.length > 3) {
    diags.push(diag('E0201', `a grid has 1 to 3 dims, got ${grid.length}`, grid.length ? grid[grid.length - 1].span : null));
    return null;
  }
  const names = new Map<string, DimAssign<SizeLit>>();
  for (const d of grid) {
    const prev = names.get(d.dim.name);
    if (prev) { diags.push(diag('E0202', `dim '${d.dim.name}' appears twice in the grid`, d.dim.span, { notes: [{ message: 'first here', span: prev.dim.span }] })); ok = false; }
    names.set(d.dim.name, d);
  }
  const bound = options.grid;
  if (bound && bound.length !== grid.length) {
    diags.push(diag('E0303', `--grid gives ${bound.length} size${bound.length === 1 ? '' : 's'}, but the grid has ${grid.length} dims (${grid.map((d) => d.dim.name).join(', ')})`, null,
      { hint: `e.g. --grid ${grid.map(() => '64').join('x')}` }));
    return null;
  }
  const gridNames = grid.map((d) => d.dim.name);
  const groupNames = group.map((d) => d.dim.name);
  if (gridNames.join(',') !== groupNames.join(',')) {
    diags.push(diag('E0204', `group dims (${groupNames.join(', ') || 'none'}) must match the grid's, in order (${gridNames.join(', ')})`, groupSpan,
      { hint: `e.g. group ${gridNames.map((n) => `${n}=16`).join(' ')}` }));
    return null;
  }
  const unboundNames: string[] = [];
  const dims: Dim[] = [];
  const rtMax = RUNTIME_MAX.dims[grid.length - 1];
  let runtime = false;
  grid.forEach((d, i) => {
    const rt = d.value.kind === 'unbound' && bound === undefined && options.runtimeSizes === true;
    runtime ||= rt;
    const size = rt ? rtMax : bindSize(d.value, bound?.[i], `grid size ${d.dim.name}`, 1, diags, () => unboundNames.push(d.dim.name));
    const g = smallInt(group[i].value, `group size ${d.dim.name}`, 1, diags, MAX_TOKENS);
    if (size === null || g === null) { ok = false; return; }
    if (g > size && !rt) {
      diags.push(diag('W0201', `group ${d.dim.name}=${g} is larger than the grid (${d.dim.name}=${size}): the dim has one group of ${size}`, group[i].value.span));
    }
    dims.push({ name: d.dim.name, size, group: g, groups: Math.ceil(size / g) });
  });
  if (unboundNames.length > 0) {
    const first = grid.find((d) => unboundNames.includes(d.dim.name))!;
    diags.push(diag('E0301', `grid size${unboundNames.length > 1 ? 's' : ''} ${unboundNames.join(', ')} ${unboundNames.length > 1 ? 'are' : 'is'} left as ?, and no value was given`, first.value.span,
      { hint: `pass --grid ${grid.map((d) => (d.value.kind === 'int' ? d.value.text : '64')).join('x')}` }));
    return null;
  }
  if (!ok) return null;
  // run-time sizes: the launch checks tokens and groups against ir.runtime.max
  if (runtime) return dims;
  const tokens = dims.reduce((n, d) => n * d.size, 1);
  if (tokens > MAX_TOKENS) {
    diags.push(diag('E0205', `the grid has ${tokens.toLocaleString('en-US')} tokens, which overflows 32-bit token indices`, grid[grid.length - 1].span.end > grid[0].span.start ? { start: grid[0].span.start, end: grid[grid.length - 1].span.end } : null,
      { hint: `at most ${MAX_TOKENS.toLocaleString('en-US')} tokens` }));
    return null;
  }
  const groups = dims.reduce((n, d) => n * d.groups, 1);
  if (groups > MAX_GROUPS) {
    diags.push(diag('E0207', `${groups.toLocaleString('en-US')} query groups is more than gratc supports (${MAX_GROUPS.toLocaleString('en-US')})`, groupSpan, { hint: 'use larger groups' }));
    return null;
  }
  return dims;
}

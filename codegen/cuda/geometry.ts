/**
 * The pattern's closed form (compiler/keys.ts) printed as CUDA device functions with every size
 * a literal. The kernel template calls exactly these five; they must stay in sync with keys.ts:
 *   decode_group   query group index → coordinates            (groupCoords)
 *   group_segment  coordinates → the group's tokens as a Seg  (groupedStart / raster rows)
 *   seg_token      Seg + local index → sequence index         (tokenIndex)
 *   term_window    term t's key-group box for query q         (axisInterval; predicate bounds)
 *   term_visible   key group k counts for term t: the term accepts it (predicate) and no earlier
 *                  term does ("first-term ownership", so a union of overlapping terms visits
 *                  each key group once)
 *   term_segment   the key run the cursor takes at key group k of term t: the group itself, or
 *                  (runAxis) the groups of whole trailing axes at once, when they are whole image
 *                  rows/planes in raster order; it moves k to the run's last group
 * Only numbers and generated identifiers reach the text.
 */
import type { AxisRange, BoolExpr } from '../../compiler/ir.js';
import { CUDA_DIALECT, printAxisWindow, printGroupBase, printGroupLength, printPredicate, printTermContains } from '../clike.js';
import type { KernelSpec } from './spec.js';

/** A predicate as a C++ bool expression; see codegen/clike.ts. */
export const predicateC = (e: BoolExpr, ngroups: readonly number[]): string => printPredicate(e, ngroups);

/** `lo[a] = ...; hi[a] = ...;` for one axis (axisInterval with the border, q a variable). */
const axisWindowC = (r: AxisRange, a: number, n: number, border: 'clip' | 'shift'): string =>
  printAxisWindow(r, a, n, border, `lo[${a}]`, `hi[${a}]`);

/**
 * The first axis of term i's run (term_segment), or null when the cursor takes it group by group.
 * A run is every group of the trailing axes runAxis..D-1 at once: in raster order those tokens are
 * whole image rows (or planes), contiguous or in planes of whole rows, so its 128-key tiles are
 * plain contiguous boxes. Only where the term spans those axes whole ('all'), and every earlier
 * term's ownership (term_visible) does not depend on them (their axes there are 'all' too), so the
 * visibility of the run's first group is that of every group in it.
 */
export function runAxis(spec: KernelSpec, i: number): number | null {
  const D = spec.dims.length;
  const t = spec.terms[i];
  if (spec.order !== 'raster' || D < 2 || D > 3 || t.kind !== 'box') return null;
  let c0 = D;
  while (c0 > 0 && t.axes[c0 - 1].kind === 'all') c0--;
  if (c0 === D) return null;
  for (let j = 0; j < i; j++) {
    const e = spec.terms[j];
    if (e.kind !== 'box') return null;
    for (let a = c0; a < D; a++) if (e.axes[a].kind !== 'all') return null;
  }
  return c0;
}

export interface GeometryC {
  readonly code: string;
}

/** Emits the five geometry functions for a spec (see the file comment). */
export function geometryC(spec: KernelSpec): string {
  const D = spec.dims.length;
  const n = spec.dims.map((d) => d.groups);
  const size = spec.dims.map((d) => d.size);
  const grp = spec.dims.map((d) => d.group);
  const imageOffset = spec.text?.place === 'before' ? spec.text.count : 0;
  const L: string[] = [];
  const emit = (s = ''): void => { L.push(s); };

  emit('__device__ __forceinline__ void decode_group(int g, int (&c)[NDIM]) {');
  for (let a = D - 1; a >= 1; a--) emit(`  c[${a}] = g % ${n[a]}; g /= ${n[a]};`);
  emit('  c[0] = g;');
  emit('}');
  emit();

  emit('/** The tokens of image group c: where it starts, how many, and its row shape (raster order). */');
  emit('__device__ __forceinline__ Seg group_segment(const int (&c)[NDIM]) {');
  emit('  Seg s;');
  for (let a = 0; a < D; a++) emit(`  const int len${a} = ${printGroupLength(size[a], grp[a], a)};`);
  emit(`  s.len = ${Array.from({ length: D }, (_, a) => `len${a}`).join(' * ')};`);
  emit(`  s.base = ${printGroupBase(spec.order, size, grp, imageOffset)};`);
  if (spec.order === 'grouped') {
    emit('  s.lw = s.len; s.lh = 1; s.contiguous = true;');
  } else {
    // raster: rows of lw tokens, lh rows per plane
    emit(`  s.lw = len${D - 1}; s.lh = ${D >= 2 ? `len${D - 2}` : '1'};`);
    emit(`  s.contiguous = ${D === 1 ? 'true' : 'false'};`);
  }
  emit('  return s;');
  emit('}');
  emit();

  emit('/** Sequence index of the local-th token of a segment (row-major inside a raster group). */');
  emit('__device__ __forceinline__ int seg_token(const Seg& s, int local) {');
  if (spec.order === 'grouped' || D === 1) {
    emit('  return s.base + local;');
  } else if (D === 2) {
    const gw = Math.min(grp[1], size[1]);
    emit('  if (s.contiguous) return s.base + local;');
    emit('  int y, x;');
    emit(`  if (s.lw == ${gw}) { y = local / ${gw}; x = local - y * ${gw}; }  // full-width groups: divide by a constant`);
    emit('  else { y = local / s.lw; x = local - y * s.lw; }');
    emit(`  return s.base + y * ${size[1]} + x;`);
  } else {
    const gw = Math.min(grp[2], size[2]), gh = Math.min(grp[1], size[1]);
    emit('  if (s.contiguous) return s.base + local;');
    emit('  int r, x, t, y;');
    emit(`  if (s.lw == ${gw} && s.lh == ${gh}) { r = local / ${gw}; x = local - r * ${gw}; t = r / ${gh}; y = r - t * ${gh}; }`);
    emit('  else { r = local / s.lw; x = local - r * s.lw; t = r / s.lh; y = r - t * s.lh; }');
    emit(`  return s.base + (t * ${size[1]} + y) * ${size[2]} + x;`);
  }
  emit('}');
  emit();

  emit('/** Term t\'s window of key groups for query group q; false when empty. */');
  emit('__device__ __forceinline__ bool term_window(int t, const int (&q)[NDIM], int (&lo)[NDIM], int (&hi)[NDIM]) {');
  emit('  switch (t) {');
  spec.terms.forEach((t, i) => {
    const axes = t.kind === 'box' ? t.axes : t.bounds;
    const border = t.kind === 'box' ? t.border : 'clip';
    emit(`  case ${i}:`);
    axes.forEach((r, a) => emit(`    ${axisWindowC(r, a, n[a], border)}`));
    emit('    break;');
  });
  emit('  default: return false;');
  emit('  }');
  emit(`  return ${Array.from({ length: D }, (_, a) => `lo[${a}] <= hi[${a}]`).join(' && ')};`);
  emit('}');
  emit();

  // Each earlier term's test is printed once, as its own function, and term_visible calls it: the
  // text stays linear in the pattern (printed inline in every later case, 2,000 terms made 250 MB
  // of CUDA). Forced inline, the compiled code is the same.
  if (spec.terms.length > 1) emit('/** Key group k is in term j\'s window and its predicate holds (tested for the terms after j). */');
  spec.terms.slice(0, -1).forEach((t, j) => {
    emit(`__device__ __forceinline__ bool term_contains_${j}(const int (&q)[NDIM], const int (&k)[NDIM]) { return ${printTermContains(t, n, CUDA_DIALECT)}; }`);
  });
  if (spec.terms.length > 1) emit();

  emit('/** Key group k (inside term t\'s window) is visited by term t: its predicate holds and no earlier term has k. */');
  emit('__device__ __forceinline__ bool term_visible(int t, const int (&q)[NDIM], const int (&k)[NDIM]) {');
  emit('  switch (t) {');
  spec.terms.forEach((t, i) => {
    const conds: string[] = [];
    if (t.kind === 'predicate') conds.push(predicateC(t.expr, n));
    for (let j = 0; j < i; j++) conds.push(`!term_contains_${j}(q, k)`);
    emit(`  case ${i}: return ${conds.length ? conds.join('\n      && ') : 'true'};`);
  });
  emit('  default: return false;');
  emit('  }');
  emit('}');
  emit();

  emit('/** The key run at group k of term t (moves k to the run\'s last group): a whole-axes run, or the group. */');
  emit('__device__ __forceinline__ Seg term_segment(int t, int (&k)[NDIM], const int (&hi)[NDIM]) {');
  emit('  switch (t) {');
  spec.terms.forEach((_, i) => {
    const c0 = runAxis(spec, i);
    if (c0 === null) return;
    // fixed group coordinates on axes < c0, every token of axes >= c0 (raster order)
    emit(`  case ${i}: {`);
    emit('    const int (&c)[NDIM] = k;');
    for (let a = 0; a < c0; a++) emit(`    const int len${a} = ${printGroupLength(size[a], grp[a], a)};`);
    const start = (a: number): string => (a < c0 ? `c[${a}] * ${grp[a]}` : '0');
    let lin = start(0);
    for (let a = 1; a < D; a++) lin = `(${lin}) * ${size[a]} + ${start(a)}`;
    const lens = Array.from({ length: D }, (_, a) => (a < c0 ? `len${a}` : String(size[a])));
    emit('    Seg s;');
    emit(`    s.base = ${imageOffset} + ${lin};`);
    emit(`    s.len = ${lens.join(' * ')};`);
    // contiguous when only the first axis is fixed (or none); in 3-D with t and h fixed: planes of
    // len1 whole rows (seg_token's raster form with lw = the grid width)
    if (c0 <= 1) emit('    s.lw = s.len; s.lh = 1; s.contiguous = true;');
    else emit(`    s.lw = ${size[D - 1]}; s.lh = len${D - 2}; s.contiguous = false;`);
    for (let a = c0; a < D; a++) emit(`    k[${a}] = hi[${a}];`);
    emit('    return s;');
    emit('  }');
  });
  emit('  default: return group_segment(k);');
  emit('  }');
  emit('}');
  return L.join('\n');
}

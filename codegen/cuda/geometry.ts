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
 * Only numbers and generated identifiers reach the text.
 */
import type { AxisRange, PExpr } from '../../compiler/ir.js';
import { CUDA_DIALECT, printAxisWindow, printGroupBase, printGroupLength, printPredicate, printTermContains } from '../clike.js';
import type { KernelSpec } from './spec.js';

/** A predicate as a C int expression (0/1 for booleans); see codegen/clike.ts. */
export const predicateC = (e: PExpr, ngroups: readonly number[]): string => printPredicate(e, ngroups, CUDA_DIALECT);

/** `lo[a] = ...; hi[a] = ...;` for one axis (axisInterval with the border, q a variable). */
const axisWindowC = (r: AxisRange, a: number, n: number, border: 'clip' | 'shift'): string =>
  printAxisWindow(r, a, n, border, `lo[${a}]`, `hi[${a}]`);

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

  emit('/** Key group k (inside term t\'s window) is visited by term t: its predicate holds and no earlier term has k. */');
  emit('__device__ __forceinline__ bool term_visible(int t, const int (&q)[NDIM], const int (&k)[NDIM]) {');
  emit('  switch (t) {');
  spec.terms.forEach((t, i) => {
    const conds: string[] = [];
    if (t.kind === 'predicate') conds.push(`(${predicateC(t.expr, n)} != 0)`);
    for (let j = 0; j < i; j++) conds.push(`!(${printTermContains(spec.terms[j], n, CUDA_DIALECT)})`);
    emit(`  case ${i}: return ${conds.length ? conds.join('\n      && ') : 'true'};`);
  });
  emit('  default: return false;');
  emit('  }');
  emit('}');
  return L.join('\n');
}

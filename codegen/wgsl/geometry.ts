/**
 * The pattern's closed form (compiler/keys.ts) printed as WGSL functions with every size a
 * literal. The kernel template calls exactly these; they must stay in sync with keys.ts:
 *   decode_group   query group index → coordinates            (groupCoords)
 *   group_segment  coordinates → the group's tokens as a Seg  (groupedStart / raster rows)
 *   seg_token      Seg + local index → sequence index         (tokenIndex)
 *   term_window    term t's key-group box for query q         (axisInterval; predicate bounds)
 *   term_visible   key group k counts for term t: the term accepts it (predicate) and no earlier
 *                  term contains it ("first-term ownership": overlapping terms visit each key
 *                  group once)
 *   odometer_step  the next key group of a window, last axis fastest
 * Only numbers and generated identifiers reach the text.
 */
import type { AxisRange, BoolExpr } from '../../compiler/ir.js';
import { int, printAxisWindow, printGroupBase, printGroupLength, printPredicate, printTermContains, WGSL_DIALECT } from '../clike.js';
import type { WgslSpec } from './spec.js';

export { int };

/** A predicate as a WGSL bool expression; see codegen/clike.ts. */
export const predicateWgsl = (e: BoolExpr, ngroups: readonly number[]): string => printPredicate(e, ngroups);

/** `w.lo[a] = ...; w.hi[a] = ...;` for one axis (axisInterval with the border). */
const axisWindow = (r: AxisRange, a: number, n: number, border: 'clip' | 'shift'): string =>
  printAxisWindow(r, a, n, border, `w.lo[${a}]`, `w.hi[${a}]`);

/** Emits the geometry functions of a spec (see the file comment). */
export function geometryWgsl(spec: WgslSpec): string {
  const D = spec.dims.length;
  const n = spec.dims.map((d) => d.groups);
  const size = spec.dims.map((d) => d.size);
  const grp = spec.dims.map((d) => d.group);
  const imageOffset = spec.text?.place === 'before' ? spec.text.count : 0;
  const L: string[] = [];
  const emit = (s = ''): void => { L.push(s); };

  emit('/** Group coordinates (outermost first) of query group g. */');
  emit('fn decode_group(g0: i32) -> Coords {');
  emit('  var c: Coords;');
  emit('  var g = g0;');
  for (let a = D - 1; a >= 0; a--) {
    if (a === 0) emit('  c[0] = g;');
    else { emit(`  c[${a}] = g % ${int(n[a])};`); emit(`  g = g / ${int(n[a])};`); }
  }
  emit('  return c;');
  emit('}');
  emit();

  emit('/** The tokens of image group c: first token, count and row shape (raster order). */');
  emit('fn group_segment(c: Coords) -> Seg {');
  emit('  var s: Seg;');
  for (let a = 0; a < D; a++) emit(`  let len${a} = ${printGroupLength(size[a], grp[a], a)};`);
  emit(`  s.len = ${Array.from({ length: D }, (_, a) => `len${a}`).join(' * ')};`);
  emit(`  s.base = ${printGroupBase(spec.order, size, grp, imageOffset)};`);
  if (spec.order === 'grouped') {
    emit('  s.lw = s.len; s.lh = 1; s.contiguous = true;');
  } else {
    emit(`  s.lw = len${D - 1}; s.lh = ${D >= 2 ? `len${D - 2}` : '1'};`);
    emit(`  s.contiguous = ${D === 1 ? 'true' : 'false'};`);
  }
  emit('  return s;');
  emit('}');
  emit();

  emit('/** Sequence index of the local-th token of a segment (row-major inside a raster group). */');
  emit('fn seg_token(s: Seg, local: i32) -> i32 {');
  if (spec.order === 'grouped' || D === 1) {
    emit('  return s.base + local;');
  } else if (D === 2) {
    emit('  if (s.contiguous) { return s.base + local; }');
    emit('  let y = local / s.lw;');
    emit('  let x = local - y * s.lw;');
    emit(`  return s.base + y * ${int(size[1])} + x;`);
  } else {
    emit('  if (s.contiguous) { return s.base + local; }');
    emit('  let r = local / s.lw;');
    emit('  let x = local - r * s.lw;');
    emit('  let t = r / s.lh;');
    emit('  let y = r - t * s.lh;');
    emit(`  return s.base + (t * ${int(size[1])} + y) * ${int(size[2])} + x;`);
  }
  emit('}');
  emit();

  emit('/** Term t\'s window of key groups for query group q (ok = false when empty). */');
  emit('fn term_window(t: i32, q: Coords) -> Window {');
  emit('  var w: Window;');
  emit('  switch (t) {');
  spec.terms.forEach((t, i) => {
    const axes = t.kind === 'box' ? t.axes : t.bounds;
    const border = t.kind === 'box' ? t.border : 'clip';
    emit(`    case ${i}: {`);
    axes.forEach((r, a) => emit(`      ${axisWindow(r, a, n[a], border)}`));
    emit('    }');
  });
  emit('    default: { return w; }');
  emit('  }');
  emit(`  w.ok = ${Array.from({ length: D }, (_, a) => `w.lo[${a}] <= w.hi[${a}]`).join(' && ')};`);
  emit('  return w;');
  emit('}');
  emit();

  // Each earlier term's test is printed once, as its own function (linear text; see cuda/geometry.ts).
  if (spec.terms.length > 1) emit('/** Key group k is in term j\'s window and its predicate holds (tested for the terms after j). */');
  spec.terms.slice(0, -1).forEach((t, j) => {
    emit(`fn term_contains_${j}(q: Coords, k: Coords) -> bool { return ${printTermContains(t, n, WGSL_DIALECT)}; }`);
  });
  if (spec.terms.length > 1) emit();

  emit('/** Key group k (inside term t\'s window) is visited by term t: its predicate holds and no earlier term has k. */');
  emit('fn term_visible(t: i32, q: Coords, k: Coords) -> bool {');
  emit('  switch (t) {');
  spec.terms.forEach((t, i) => {
    const conds: string[] = [];
    if (t.kind === 'predicate') conds.push(predicateWgsl(t.expr, n));
    for (let j = 0; j < i; j++) conds.push(`!term_contains_${j}(q, k)`);
    emit(`    case ${i}: { return ${conds.length ? conds.join('\n        && ') : 'true'}; }`);
  });
  emit('    default: { return false; }');
  emit('  }');
  emit('}');
  emit();

  emit('/** The next key group of the cursor\'s window, last axis fastest; false past its end. */');
  emit('fn odometer_step(c: ptr<function, Cursor>) -> bool {');
  for (let a = D - 1; a >= 0; a--) {
    emit(`  if ((*c).k[${a}] < (*c).hi[${a}]) { (*c).k[${a}] += 1; return true; }`);
    emit(`  (*c).k[${a}] = (*c).lo[${a}];`);
  }
  emit('  return false;');
  emit('}');
  return L.join('\n');
}

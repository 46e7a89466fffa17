/**
 * The transposed walk (compiler/transposed.ts, its executable definition, tested against the
 * dense mask), printed in a kernel dialect step for step and with the same names:
 *   query_window   term t's window of query groups for key group k   (termQueryWindow)
 *   qstage_on      which stages apply to an image key or the text keys (qstageOn)
 *   qodometer_step, next_qsegment
 *   next_qtile     the next query tile, n = 0 at the end              (QueryCursor.next)
 *   qcursor_start  a fresh cursor for one key tile
 * CUDA only (the backward kernels). It is printed after codegen/cursor.ts's printCursor of the same plan and calls its functions
 * (term_visible: the same pair test, so both walks own each (query, key) pair by the same term;
 * group_segment; the Geom, Seg and constants). Only numbers and fixed identifiers reach the text.
 */
import type { AxisRange, Border } from '../compiler/ir.js';
import type { BoundPlan, KernelPlan } from '../compiler/plan.js';
import { termAxes, termBorder } from '../compiler/plan.js';
import { int } from './clike.js';
import { hasGeom, printedSizes, type KernelDialect } from './cursor.js';

export interface TransposedPrintOptions {
  /** Query rows per query tile. */
  readonly blockQ: number;
}

/**
 * `lo = ...; hi = ...;` for one axis: the query coordinates whose key interval holds k[a]
 * (compiler/transposed.ts queryInterval); n is the axis's group count as printed.
 */
export function printQueryWindow(r: AxisRange, a: number, n: string, border: Border, lo: string, hi: string, d: KernelDialect): string {
  if (r.kind === 'all') return `${lo} = 0; ${hi} = ${n} - 1;`;
  if (r.lo > r.hi) return `${lo} = 1; ${hi} = 0;`;
  const k = `k[${a}]`;
  if (border === 'shift') {
    const width = r.hi - r.lo + 1;
    // the slid window's start lies in [k - width + 1, k]; a window as wide as the axis holds every key
    const qlo = d.select(`${k} - ${int(width - 1)} <= 0`, '0', `max(${k} - ${int(width - 1)} - ${int(r.lo)}, 0)`);
    const qhi = d.select(`${k} >= ${n} - ${int(width)}`, `${n} - 1`, `min(${k} - ${int(r.lo)}, ${n} - 1)`);
    return `${lo} = ${d.select(`${int(width)} >= ${n}`, '0', qlo)}; ${hi} = ${d.select(`${int(width)} >= ${n}`, `${n} - 1`, qhi)};`;
  }
  return `${lo} = max(${k} - ${int(r.hi)}, 0); ${hi} = min(${k} - ${int(r.lo)}, ${n} - 1);`;
}

/** The transposed cursor's struct and functions (see the file comment). */
export function printTransposedCursor(plan: KernelPlan | BoundPlan, d: KernelDialect, opts: TransposedPrintOptions): string {
  const D = plan.dims.length, P = printedSizes(plan);
  const rt = hasGeom(plan);
  const gp = rt ? [d.param('G', 'Geom')] : [];
  const ga = rt ? ', G' : '';
  const c = d.ref('c');
  const axes = (f: (a: number) => string): string[] => Array.from({ length: D }, (_, a) => f(a));
  const ind = (lines: readonly string[], by = '  '): string[] => lines.map((l) => by + l);
  const out: string[] = [];
  const emit = (...lines: string[]): void => { out.push(...lines); };
  if (d.name !== 'cuda') throw new Error('the transposed walk is printed for CUDA only (the backward kernels)');

  emit('// ---- the transposed walk: the query tiles that see a key tile (compiler/transposed.ts) ----');
  emit(d.constant('QSTAGE_IMAGE', 'int', 'NTERMS') + '      // text keys: every grid row, as one run');
  emit(d.constant('QSTAGE_TEXT', 'int', 'NTERMS + 1') + '  // the text query rows');
  emit('/** The query-tile cursor of one key tile (compiler/transposed.ts QueryCursor). */');
  emit(...d.struct('QCursor', [['stage', 'int'], ['fresh', 'bool'], ['q', 'Coords'], ['lo', 'Coords'], ['hi', 'Coords'], ['seg', 'Seg'], ['off', 'int']]));
  emit('');

  emit('/** Term t\'s window of query groups that see key group k, into the cursor\'s lo/hi; false when empty. */');
  emit(d.fn('bool', 'query_window', [d.param('t', 'int'), d.param('k', 'Coords'), 'QCursor& c', ...gp]));
  emit(...ind(d.switchOf('t', plan.terms.map((t) => termAxes(t).map((r, a) => printQueryWindow(r, a, P.n[a], termBorder(t), `${c}.lo[${a}]`, `${c}.hi[${a}]`, d))), ['return false;'])));
  emit(`  return ${axes((a) => `${c}.lo[${a}] <= ${c}.hi[${a}]`).join(' && ')};`, '}');
  emit('');

  emit('/** Whether stage s applies to the key tile (terms: image keys; the grid\'s rows: text keys seen by image queries; the text rows, as the pattern says). */');
  emit(d.fn('bool', 'qstage_on', [d.param('s', 'int'), d.param('text_key', 'bool'), ...gp]));
  emit('  if (s < NTERMS) { return !text_key; }');
  emit('  if (s == QSTAGE_IMAGE) { return text_key && IMAGE_SEES_TEXT; }');
  emit(`  if (s == QSTAGE_TEXT) { return ${P.textCount} > 0 && ${d.select('text_key', 'TEXTQ_TEXT', 'TEXTQ_GRID')}; }`);
  emit('  return true;  // past the text rows: done', '}');
  emit('');

  emit('/** The next query group of the window, last axis fastest; false once past its end (q back at lo). */');
  emit(d.fn('bool', 'qodometer_step', ['QCursor& c']));
  emit(`  ${d.var('carry', 'bool', 'true')}  // no early return: every q[a] access stays at a constant index (registers)`);
  for (let a = D - 1; a >= 0; a--) {
    emit('  if (carry) {');
    emit(`    if (${c}.q[${a}] < ${c}.hi[${a}]) { ${c}.q[${a}] += 1; carry = false; }`);
    emit(`    else { ${c}.q[${a}] = ${c}.lo[${a}]; }`);
    emit('  }');
  }
  emit('  return !carry;', '}');
  emit('');

  emit('/** Moves to the next non-empty segment of query rows; false when the key tile\'s queries are exhausted. */');
  emit(d.fn('bool', 'next_qsegment', ['QCursor& c', d.param('k', 'Coords'), d.param('text_key', 'bool'), ...gp]));
  emit(`  ${d.loop}`);
  emit(`    if (${c}.stage < NTERMS) {`);
  emit(`      ${d.var('more', 'bool', `${c}.fresh`)}`);
  emit('      if (!more) { more = qodometer_step(c); }');
  emit(`      ${c}.fresh = false;`);
  emit('      if (more) {');
  emit(`        if (term_visible(${c}.stage, ${c}.q, k${ga})) {  // the forward's pair test: each (q, k) owned by one term`);
  emit(`          ${c}.seg = group_segment(${c}.q${ga});`);
  emit(`          ${c}.off = 0;`);
  emit('          return true;');
  emit('        }');
  emit('        continue;');
  emit('      }');
  emit(`    } else if (${c}.stage == QSTAGE_IMAGE) {`);
  emit(`      if (${c}.fresh) { ${c}.fresh = false; ${c}.seg = ${d.seg(P.imageOffset, P.imageTokens, '0', '0', 'true')}; ${c}.off = 0; return true; }`);
  emit(`    } else if (${c}.stage == QSTAGE_TEXT) {`);
  emit(`      if (${c}.fresh) { ${c}.fresh = false; ${c}.seg = ${d.seg(P.textOffset, P.textCount, '0', '0', 'true')}; ${c}.off = 0; return true; }`);
  emit('    } else {');
  emit('      return false;');
  emit('    }');
  emit('    // enter the next stage that applies to this key tile (a term with an empty window is skipped)');
  emit(`    ${d.loop}`);
  emit(`      ${c}.stage += 1;`);
  emit(`      if (qstage_on(${c}.stage, text_key${ga}) && (${c}.stage >= NTERMS || query_window(${c}.stage, k, c${ga}))) { break; }`);
  emit('    }');
  emit(`    ${c}.fresh = true;`);
  emit(...axes((a) => `    ${c}.q[${a}] = ${c}.lo[${a}];`));
  emit('  }', '}');
  emit('');

  emit('/** The next query tile: up to BQ rows of one segment (n = 0 when none is left). */');
  emit(d.fn('int', 'next_qtile', ['QCursor& c', d.param('k', 'Coords'), d.param('text_key', 'bool'), 'Seg& seg', 'int& off', ...gp]));
  emit('  while (c.off >= c.seg.len) {', `    if (!next_qsegment(c, k, text_key${ga})) { return 0; }`, '  }');
  emit('  seg = c.seg;', '  off = c.off;', `  c.off += ${int(opts.blockQ)};`, `  return min(${int(opts.blockQ)}, seg.len - off);`, '}');
  emit('');

  emit('/** A cursor before a key tile\'s first query row. */');
  emit(d.fn(null, 'qcursor_start', ['QCursor& c']));
  emit(`  ${c}.stage = -1;`, `  ${c}.fresh = false;`, `  ${c}.seg = ${d.seg('0', '0', '0', '0', 'true')};`, `  ${c}.off = 0;`);
  emit(...axes((a) => `  ${c}.q[${a}] = 0; ${c}.lo[${a}] = 0; ${c}.hi[${a}] = -1;`));
  emit('}');
  return out.join('\n');
}

/**
 * Property tests over the whole front end: any text → parse → check → (when valid) key runs.
 * Nothing may throw, every case is bounded in time, every span lies inside the text, and a valid
 * IR yields sorted, disjoint, in-range runs. Seeds are fresh per run; fast-check prints the seed
 * and the shrunk case on failure.
 */
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { groupCount, totalTokens } from '../compiler/ir.js';
import { KeyGroupEnumerator, runsOfGroups } from '../compiler/keys.js';

const EXAMPLES = readdirSync('examples').filter((f) => f.endsWith('.grat')).map((f) => readFileSync(`examples/${f}`, 'utf8'));
const BINDINGS: Record<number, number[]> = { 1: [300], 2: [37, 50], 3: [9, 20, 17] };

const VOCAB = ['grid', 'group', 'text', 'image', 'attends', 'neighbors', 'crisscross', 'where', 'lines', 'planes', 'all',
  '(', ')', '+', '-', '=', '?', '|', '||', '&&', '!', '%', '/', '*', '<=', '==', ',', '\n', '#', ' ',
  '0', '1', '-1', '16', '1000000', '1000000000', '99999999999', '1234567890123456789012345678901234567890',
  'h', 'w', 't', 'dh', 'dw', 'kh', 'qw', 'nh', 'abs', 'min', 'max', 'shift', 'clip', 'raster', 'grouped', 'before', 'after',
  'head_dim', 'scale', '1e308', 'schedule', 'cuda', 'block_q', '\u0000', '\uffff', '😀'];

function timed<T>(fn: () => T): T {
  const t0 = performance.now();
  const r = fn();
  const dt = performance.now() - t0;
  if (dt > 1000) throw new Error(`case took ${dt.toFixed(0)} ms`);
  return r;
}

function checkInvariants(text: string): void {
  const dims = /grid([^\n]*)/.exec(text)?.[1].split('=').length ?? 1;
  const grid = BINDINGS[Math.min(3, Math.max(1, dims - 1))];
  for (const opts of [{}, { grid, text: 5 }]) {
    const { ir, diagnostics } = timed(() => checkSource(text, opts));
    for (const d of diagnostics) {
      if (d.span) {
        expect(d.span.start).toBeGreaterThanOrEqual(0);
        expect(d.span.end).toBeLessThanOrEqual(text.length);
        expect(d.span.start).toBeLessThanOrEqual(d.span.end);
      }
      expect(d.message.length).toBeGreaterThan(0);
    }
    if (!ir) continue;
    // a few query groups, bounded work: first, last, middle
    const e = new KeyGroupEnumerator(ir);
    const G = groupCount(ir), N = totalTokens(ir);
    if (G > 50_000) continue;
    timed(() => {
      for (const g of new Set([0, G - 1, G >> 1])) {
        const runs = runsOfGroups(ir, e.keyGroups(g));
        let end = -1;
        for (const r of runs) {
          expect(r.length).toBeGreaterThan(0);
          expect(r.start).toBeGreaterThan(end); // sorted, disjoint and merged
          end = r.start + r.length;
        }
        expect(end).toBeLessThanOrEqual(N);
      }
    });
  }
}

const mutate = (base: string) =>
  fc.array(
    fc.oneof(
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), word: fc.constantFrom(...VOCAB) }),
      fc.record({ op: fc.constant('replaceNumber' as const), at: fc.nat(), word: fc.constantFrom('0', '-3', '?', '1000000', '4000000000', '1234567890123456789012345678901234567890', '2.5', '') }),
      fc.record({ op: fc.constant('duplicateLine' as const), at: fc.nat() }),
    ),
    { minLength: 1, maxLength: 6 },
  ).map((ops) => {
    let s = base;
    for (const o of ops) {
      const at = s.length ? o.at % s.length : 0;
      if (o.op === 'delete') s = s.slice(0, at) + s.slice(at + o.len);
      else if (o.op === 'insert') s = s.slice(0, at) + o.word + s.slice(at);
      else if (o.op === 'replaceNumber') {
        const m = [...s.matchAll(/\d+/g)];
        if (m.length) { const x = m[o.at % m.length]; s = s.slice(0, x.index) + o.word + s.slice(x.index! + x[0].length); }
      } else {
        const lines = s.split('\n');
        const i = o.at % lines.length;
        lines.splice(i, 0, lines[i]);
        s = lines.join('\n');
      }
    }
    return s;
  });

/** Random, mostly valid patterns built from the language's pieces. */
const dimNames = ['t', 'h', 'w'];
const arbPattern = fc.integer({ min: 1, max: 3 }).chain((D) => {
  const names = dimNames.slice(3 - D);
  const term = fc.oneof(
    fc.integer({ min: -1, max: 3 }).map((r) => `neighbors(${r})`),
    fc.array(fc.integer({ min: 0, max: 2 }), { minLength: D, maxLength: D }).map((rs) => `neighbors(${names.map((n, i) => `${n}=${rs[i]}`).join(', ')})`),
    fc.constantFrom('crisscross', 'crisscross(lines)', 'crisscross(planes)', 'grid', 'text', 'all'),
    fc.tuple(fc.constantFrom(...names), fc.integer({ min: -3, max: 3 }), fc.constantFrom('<=', '==', '>=', '<', '!='), fc.constantFrom('d', 'k', 'q'))
      .map(([n, c, op, p]) => `where(|${p}${n}| ${op} ${c} || ${p}${n} % 2 == 0 && n${n} > ${c})`),
  );
  return fc.record({
    sizes: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: D, maxLength: D }),
    groups: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: D, maxLength: D }),
    order: fc.constantFrom('raster', 'grouped'),
    border: fc.constantFrom('clip', 'shift'),
    text: fc.option(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.constantFrom('before', 'after'))),
    terms: fc.array(term, { minLength: 1, maxLength: 3 }),
    textQ: fc.constantFrom('', 'text attends all\n', 'text attends text\n', 'text attends grid\n'),
  }).map((p) =>
    `grid ${names.map((n, i) => `${n}=${p.sizes[i]}`).join(' ')}\n` +
    `group ${names.map((n, i) => `${n}=${p.groups[i]}`).join(' ')}\n` +
    `order ${p.order}\nborder ${p.border}\n` +
    (p.text ? `text ${p.text[0]} ${p.text[1]}\n` : '') +
    `image attends ${p.terms.join(' + ')}\n${p.textQ}head_dim 64\n`);
});

describe('front end never crashes', () => {
  it('random generated patterns', () => {
    fc.assert(fc.property(arbPattern, (s) => checkInvariants(s)), { numRuns: 1500 });
  });

  it('mutated examples', () => {
    fc.assert(fc.property(fc.constantFrom(...EXAMPLES).chain(mutate), (s) => checkInvariants(s)), { numRuns: 2000 });
  });

  it('random unicode text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => checkInvariants(s)), { numRuns: 500 });
  });

  it('absurd values are rejected with a message, not an allocation', () => {
    const absurd = [
      'grid n=1000000000\ngroup n=1\nimage attends grid\nhead_dim 8\n',
      'grid h=46000 w=46000\ngroup h=1 w=1\nimage attends where(dh == 0)\nhead_dim 8\n',
      'grid h=64 w=64\ngroup h=0 w=16\nimage attends grid\nhead_dim 8\n',
      'grid h=64 w=64\ngroup h=16 w=16\nimage attends neighbors(1000000)\nhead_dim 8\n',
      'grid h=64 w=64\ngroup h=16 w=16\nimage attends grid\nhead_dim 100000000\n',
      'grid h=64 w=64\ngroup h=16 w=16\ntext 4000000000 before\nimage attends grid\nhead_dim 8\n',
    ];
    for (const s of absurd) checkInvariants(s);
    // radius 10^6 is legal (clipped to the grid) and stays cheap
    expect(checkSource(absurd[3]).ir).not.toBeNull();
    for (const s of [absurd[0], absurd[1], absurd[2], absurd[4], absurd[5]]) expect(checkSource(s).ir).toBeNull();
  });
});

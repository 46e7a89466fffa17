/**
 * The transposed walk as printed into CUDA (codegen/cursor_transposed.ts after codegen/cursor.ts,
 * as the backward kernel has it), compiled for the host with g++ (device qualifiers defined away)
 * and walked for every image key group and the text keys of random patterns (ragged grids, text
 * before/after/none, clip/shift, predicates, both orders, 1-token grids, text 0), with sizes
 * compiled in and taken at launch (the Geom filled as the host fills it). The query rows it visits
 * must be the definition's (compiler/transposed.ts), in its order, and with the kernel's masking of
 * text keys >= valid, exactly the dense mask's columns of the key group.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { decodeGroup, groupSegment, segToken } from '../compiler/cursor.js';
import { totalTokens } from '../compiler/ir.js';
import { bindPlan, kernelPlan, type BoundPlan, type KernelPlan } from '../compiler/plan.js';
import { denseMask } from '../compiler/reference.js';
import { queryTiles } from '../compiler/transposed.js';
import { CUDA, geomFields, printCursor } from '../codegen/cursor.js';
import { printTransposedCursor } from '../codegen/cursor_transposed.js';
import { arbPattern, describePattern, toPattern, type ArbPattern } from './support/arb_pattern.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-tcursor-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BQ = 8;

interface Case { readonly p: ArbPattern; readonly plan: KernelPlan; readonly bound: BoundPlan; readonly runtime: boolean }

/** The Geom a host fills for the launch's sizes (codegen/cuda/index.ts hostSizesC), as a C initializer. */
function geomInit(plan: KernelPlan, b: BoundPlan): string {
  const L = b.layout;
  const v: Record<string, number> = { image_offset: L.imageOffset, image_tokens: L.imageTokens, text_offset: L.textOffset, text_count: L.textCount, query_groups: L.queryGroups, tokens: L.tokens };
  b.dims.forEach((d, a) => { v[`n${a}`] = d.groups; v[`size${a}`] = d.size; });
  return `Geom{${geomFields(plan).map((f) => v[f]).join(', ')}}`;
}

/** One namespace per case: the printed cursors and a walk printing "<case> g: rows" per key group and "<case> t: rows" for the text keys. */
function caseSource(i: number, c: Case): string {
  const ga = c.runtime ? ', G' : '';
  return `namespace p${i} {
${printCursor(c.plan, CUDA, { blockK: 64, runs: false })}
${printTransposedCursor(c.plan, CUDA, { blockQ: BQ })}
void walk() {
${c.runtime ? `  const Geom G = ${geomInit(c.plan, c.bound)};` : ''}
  auto rows = [&](const int (&k)[NDIM], bool text_key) {
    QCursor cur;
    qcursor_start(cur);
    for (;;) {
      Seg seg; int off;
      const int n = next_qtile(cur, k, text_key, seg, off${ga});
      if (n == 0) break;
      if (n > ${BQ}) std::printf(" bad");
      for (int r = 0; r < n; ++r) std::printf(" %d", seg_token(seg, off + r${ga}));
    }
    std::printf("\\n");
  };
  for (int g = 0; g < ${c.bound.layout.queryGroups}; ++g) {
    int k[NDIM];
    decode_group(g, k${ga});
    std::printf("${i} %d:", g);
    rows(k, false);
  }
  if (${c.bound.layout.textCount} > 0) {
    int k[NDIM] = {};
    std::printf("${i} t:");
    rows(k, true);
  }
}
}  // namespace p${i}
`;
}

function program(cases: readonly Case[]): string {
  return `#include <algorithm>
#include <cstdio>
#include <cstdlib>
using std::min;
using std::max;
#define __device__
#define __forceinline__ inline
${cases.map((c, i) => caseSource(i, c)).join('\n')}
int main() {
${cases.map((_, i) => `  p${i}::walk();`).join('\n')}
  return 0;
}
`;
}

function run(cases: readonly Case[], name: string): string {
  const cpp = join(work, `${name}.cpp`), exe = join(work, name);
  writeFileSync(cpp, program(cases));
  const c = spawnSync('g++', ['-std=c++17', '-O0', '-w', '-o', exe, cpp], { encoding: 'utf8' });
  if (c.status !== 0) throw new Error(`g++ failed: ${c.stderr.slice(0, 3000)}`);
  const r = spawnSync(exe, [], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return r.stdout;
}

/** Problems of the printed walk of case i (its output lines) against the definition and the mask. */
function problems(i: number, c: Case, lines: readonly string[]): string[] {
  const t = toPattern(c.p), ir = checkSource(t.source, { grid: t.grid, text: t.text }).ir!;
  const N = totalTokens(ir), mask = denseMask(ir, c.p.valid), plan = c.bound, errs: string[] = [];
  const got = new Map<string, number[]>();
  for (const l of lines) {
    const m = /^\d+ (\d+|t):(.*)$/.exec(l);
    if (!m) { errs.push(`unreadable: ${l}`); continue; }
    got.set(m[1], m[2].trim() === '' ? [] : m[2].trim().split(' ').map(Number));
  }
  const check = (key: string, k: readonly number[] | null, keys: readonly number[], masked: (j: number) => boolean): void => {
    const rows = got.get(key) ?? [];
    const defined = queryTiles(plan, k, { blockQ: BQ }).flatMap((x) => Array.from({ length: x.n }, (_, r) => segToken(plan, x.seg, x.off + r)));
    if (rows.join(' ') !== defined.join(' ')) errs.push(`${key}: the printed walk differs from compiler/transposed.ts`);
    const seen = new Uint8Array(N);
    for (const q of rows) seen[q] = 1;
    keys.forEach((key2, j) => {
      for (let q = 0; q < N; q++) {
        const want = mask[q * N + key2], have = masked(j) ? 0 : seen[q];
        if (want !== have) { errs.push(`${key}: key ${key2} query ${q}: walked ${have}, mask ${want}`); return; }
      }
    });
  };
  for (let g = 0; g < plan.layout.queryGroups; g++) {
    const kc = decodeGroup(plan, g), seg = groupSegment(plan, kc);
    check(String(g), kc, Array.from({ length: seg.len }, (_, r) => segToken(plan, seg, r)), () => false);
  }
  if (plan.layout.textCount > 0) check('t', null, Array.from({ length: plan.layout.textCount }, (_, j) => plan.layout.textOffset + j), (j) => j >= c.p.valid);
  return errs.slice(0, 5).map((e) => `case ${i}: ${e}`);
}

function casesOf(runtime: boolean, n: number, seed: number): Case[] {
  const out: Case[] = [];
  for (const p of fc.sample(arbPattern({ maxTokens: 120, maxText: 12 }), { numRuns: n * 3, seed })) {
    if (out.length === n) break;
    const t = toPattern({ ...p, unbound: runtime });
    const r = runtime ? checkSource(t.source, { runtimeSizes: true }) : checkSource(t.source, { grid: t.grid, text: t.text });
    if (!r.ir) continue; // (a predicate refused at the run-time limits)
    const plan = kernelPlan(r.ir);
    const bound = bindPlan(plan, { grid: p.dims.map((d) => d.size), text: p.text?.count ?? 0 });
    out.push({ p, plan, bound, runtime });
  }
  return out;
}

describe('the printed transposed walk (g++) == compiler/transposed.ts == the mask\'s columns', () => {
  const seed = (Math.random() * 2 ** 31) | 0;
  for (const runtime of [false, true]) {
    it(`random patterns, sizes ${runtime ? 'taken at launch' : 'compiled in'} (seed ${seed})`, () => {
      const cases = casesOf(runtime, 40, seed + (runtime ? 1 : 0));
      expect(cases.length).toBeGreaterThan(30);
      const out = run(cases, `t_${runtime ? 'rt' : 'fixed'}`).trim().split('\n');
      expect(out.some((l) => l.includes('bad'))).toBe(false);
      const errs = cases.flatMap((c, i) => {
        const e = problems(i, c, out.filter((l) => l.startsWith(`${i} `)));
        return e.length ? [`${describePattern(c.p)}\n${e.join('\n')}`] : [];
      });
      expect(errs).toEqual([]);
    }, 240_000);
  }
});

/**
 * Run-time sizes in the printed CUDA (codegen/cursor.ts with a Geom argument, and the host's check
 * and fill of the launch's sizes, codegen/cuda/index.ts hostSizesC): compiled once per pattern for
 * the host with g++, then run at several launch sizes (ragged, a 1-token grid, text 0, the largest
 * few) and checked key by key against the cursor's definition (compiler/cursor.ts, bound to the
 * same sizes) and the dense mask of the pattern compiled at those sizes; sizes past the limits
 * or unlike a compiled one are refused as the kernels' host refuses them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { decodeGroup, groupSegment, keyTiles, segToken } from '../compiler/cursor.js';
import { totalTokens } from '../compiler/ir.js';
import { bindPlan, launchSizesError, type LaunchSizes } from '../compiler/plan.js';
import { denseMask } from '../compiler/reference.js';
import { DEFAULT_SM90_VARIANT, hostSizesC, paramsRuntimeC, planKernel, type KernelSpec } from '../codegen/cuda/index.js';
import { CUDA, printCursor } from '../codegen/cursor.js';
import { SHIFT_N, VIDEO_X } from './support/runtime_patterns.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-runtime-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BK = 128;

function specOf(src: string, runs: boolean): KernelSpec {
  const r = checkSource(src, { runtimeSizes: true });
  if (!r.ir) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('; '));
  return planKernel(r.ir, { ...DEFAULT_SM90_VARIANT, runs }).spec!;
}

/** A host program: argv = sizes (rank + 1) and valid; prints "invalid", or per query group "g: keys" and "t: keys". */
function harness(spec: KernelSpec, runs: boolean): string {
  const D = spec.dims.length;
  return `#include <algorithm>
#include <cstdio>
#include <cstdlib>
using std::min;
using std::max;
#define __device__
#define __forceinline__ inline
static unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32); }
enum { cudaErrorInvalidValue = 1 };
${printCursor(spec, CUDA, { blockK: BK, runs })}
${paramsRuntimeC(spec).helpers}
struct Params { Geom geom; FastDiv div_w, div_h; };
static int fill(Params& p, const int* sizes) {
${hostSizesC(spec)}
  return 0;
}
static void walk(const Geom& G, const int (&q)[NDIM], bool text_tile, int valid) {
  Cursor cur;
  cursor_start(cur, 0, G.image_tokens);
  for (;;) {
    Seg seg;
    int off;
    const int n = next_tile(cur, q, text_tile, valid, seg, off, G);
    if (n == 0) break;
    for (int r = 0; r < n; ++r) std::printf(" %d", seg_token(seg, off + r, G));
  }
  std::printf("\\n");
}
int main(int argc, char** argv) {
  int sizes[${D + 1}];
  for (int i = 0; i < ${D + 1}; ++i) sizes[i] = std::atoi(argv[1 + i]);
  const int valid = std::atoi(argv[${D + 2}]);
  const int every = argc > ${D + 3} ? std::atoi(argv[${D + 3}]) : 1;  // walk every n-th query group (and the last)
  Params p;
  if (fill(p, sizes) != 0) { std::printf("invalid\\n"); return 0; }
  const Geom& G = p.geom;
  // the raster boxes' division by the launch's width and height
  for (int n = 0; n < G.image_tokens + 4096 && n >= 0; n += 1 + n / 7) {
    if (div_of(p.div_w, n) != n / sizes[${D - 1}] || div_of(p.div_h, n) != n / ${D >= 2 ? `sizes[${D - 2}]` : '1'}) { std::printf("bad division of %d\\n", n); return 1; }
  }
  for (int g = 0; g < G.query_groups; ++g) {
    if (g % every != 0 && g != G.query_groups - 1) continue;
    int q[NDIM];
    decode_group(g, q, G);
    std::printf("%d:", g);
    walk(G, q, false, valid);
  }
  if ((TEXTQ_GRID || TEXTQ_TEXT) && G.text_count > 0 && every == 1) {  // (a text row at the limits: millions of keys)
    int q[NDIM] = {};
    std::printf("t:");
    walk(G, q, true, valid);
  }
  return 0;
}
`;
}

let builds = 0;
function build(spec: KernelSpec, runs: boolean): string {
  const name = `${spec.pattern}_${builds++}`;
  const cpp = join(work, `${name}.cpp`), exe = join(work, name);
  writeFileSync(cpp, harness(spec, runs));
  // signed overflow or a division by zero anywhere in the printed code stops the walk (int32 safety at the limits)
  const c = spawnSync('g++', ['-std=c++17', '-O1', '-Wall', '-Wno-unused-function', '-fsanitize=signed-integer-overflow,integer-divide-by-zero', '-fno-sanitize-recover=all', '-o', exe, cpp], { encoding: 'utf8' });
  if (c.status !== 0) throw new Error(`g++ failed: ${c.stderr}`);
  return exe;
}

/** Differences between the printed cursor's walk at `sizes` and the definition's and the mask's. */
function mismatches(src: string, spec: KernelSpec, exe: string, sizes: LaunchSizes, valid: number, runs: boolean, every = 1): string[] {
  const r = spawnSync(exe, [...sizes.grid, sizes.text, valid, every].map(String), { encoding: 'utf8', maxBuffer: 1 << 29 });
  if (r.status !== 0 || r.stderr) return [`sizes ${JSON.stringify(sizes)}: exit ${r.status} ${r.stderr.slice(0, 400)}`];
  const out = r.stdout.trim();
  const err = launchSizesError(spec, sizes);
  if (err !== null) return out === 'invalid' ? [] : [`sizes ${JSON.stringify(sizes)} (${err}) were not refused`];
  if (out === 'invalid') return [`sizes ${JSON.stringify(sizes)} were refused`];
  const plan = bindPlan(spec, sizes);
  // the dense mask where it is small; at the limits the definition's walk alone
  const ir = every === 1 ? checkSource(src, { grid: [...sizes.grid], text: sizes.text }).ir! : null;
  const N = ir ? totalTokens(ir) : 0, mask = ir ? denseMask(ir, valid) : null;
  const bad: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\d+|t):(.*)$/.exec(line);
    if (!m) { bad.push(line); continue; }
    const keys = m[2].trim() === '' ? [] : m[2].trim().split(' ').map(Number);
    const q = m[1] === 't' ? null : decodeGroup(plan, Number(m[1]));
    const defined = keyTiles(plan, q, valid, { blockK: BK, runs }).flatMap((t) => Array.from({ length: t.n }, (_, i) => segToken(plan, t.seg, t.off + i)));
    if (defined.join(' ') !== keys.join(' ')) bad.push(`${m[1]}: the printed cursor's keys differ from compiler/cursor.ts`);
    if (!mask) continue;
    const row = q === null ? plan.layout.textOffset : groupSegment(plan, q).base;
    const want: number[] = [];
    for (let k = 0; k < N; k++) if (mask[row * N + k]) want.push(k);
    const got = [...keys].sort((a, b) => a - b);
    if (got.join(' ') !== want.join(' ')) bad.push(`${m[1]}: ${got.length} keys, the mask ${want.length}`);
    if (bad.length > 5) break;
  }
  return bad.map((b) => `sizes ${JSON.stringify(sizes)} valid ${valid}: ${b}`);
}

const FLUX_X = `pattern fx
grid   h=? w=?
group  h=16 w=16
order  raster
text   5 before
image attends crisscross + text
text  attends all
head_dim 128
`;
const FLUX_B = FLUX_X.replace('crisscross', 'neighbors(1)').replace('pattern fx', 'pattern fb');

describe('run-time sizes in the printed CUDA: one build walks the mask at every launch size', () => {
  const cases: [string, string, LaunchSizes[]][] = [
    ['Flux GRAT-X, raster', FLUX_X, [{ grid: [40, 52], text: 5 }, { grid: [1, 1], text: 5 }, { grid: [16, 16], text: 5 }, { grid: [17, 3], text: 5 }, { grid: [4097, 2], text: 5 }, { grid: [8, 8], text: 4 }]],
    ['Flux GRAT-B, raster', FLUX_B, [{ grid: [36, 20], text: 5 }, { grid: [1, 33], text: 5 }, { grid: [0, 4], text: 5 }]],
    ['video GRAT-X, t fixed, text at launch', VIDEO_X, [{ grid: [6, 18, 20], text: 3 }, { grid: [6, 1, 1], text: 0 }, { grid: [6, 16, 32], text: 7 }, { grid: [5, 8, 8], text: 3 }, { grid: [6, 257, 8], text: 3 }, { grid: [6, 8, 8], text: 65537 }]],
    ['grouped, shift border, a predicate on n', SHIFT_N, [{ grid: [13, 22], text: 3 }, { grid: [1, 1], text: 0 }, { grid: [4, 5], text: 1 }, { grid: [3, 9], text: 2 }]],
  ];
  for (const [name, src, sizes] of cases) {
    it(`${name}: ${sizes.map((s) => `${s.grid.join('x')}+${s.text}`).join(', ')}`, () => {
      for (const runs of [false, true]) {
        const spec = specOf(src, runs);
        expect(spec.runtime).not.toBeNull();
        const exe = build(spec, runs);
        for (const s of sizes) {
          for (const valid of [0, Math.min(2, s.text), s.text]) expect(mismatches(src, spec, exe, s, valid, runs)).toEqual([]);
        }
      }
    }, 120_000);
  }

  it('at the limits (4096 x 4096; 6 x 256 x 256 frames; 65,536 text): no signed overflow, the definition\'s keys, sampled query groups', () => {
    for (const [src, sizes, every] of [[FLUX_B, { grid: [4096, 4096], text: 5 }, 9973], [SHIFT_N, { grid: [4096, 4096], text: 65536 }, 99991], [VIDEO_X, { grid: [6, 256, 256], text: 65536 }, 997]] as const) {
      const spec = specOf(src, true);
      expect(mismatches(src, spec, build(spec, true), { grid: [...sizes.grid], text: sizes.text }, sizes.text, true, every)).toEqual([]);
    }
  }, 120_000);

  it('a fixed pattern checks `sizes` against its compiled sizes (NULL: the compiled ones)', () => {
    const spec = planKernel(checkSource(FLUX_B, { grid: [32, 48] }).ir!).spec!;
    expect(spec.runtime).toBeNull();
    expect(hostSizesC(spec)).toContain('const int compiled[3] = {32, 48, 5};');
    expect(paramsRuntimeC(spec)).toEqual({ fields: '', helpers: '' });
  });
});

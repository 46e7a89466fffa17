/**
 * The Hopper kernel's key-tile cursor (next_tile, printed by codegen/cursor.ts) with and without
 * whole-row runs (the spec's sm90.runs; term_segment: a GRAT-X row or frame-plane walked as runs
 * of whole image rows). The cursor and the geometry are taken verbatim from an emitted kernel,
 * compiled for the host with g++ (device qualifiers defined away) and walked for every image query
 * group; the keys it visits must be exactly the dense mask's row of that group (reference
 * semantics, each key once), in the order of the cursor's definition (compiler/cursor.ts), and
 * every full tile the producer would load as one contiguous box must be contiguous.
 * Ragged grids in raster order, 2-D and 3-D, so runs end in short tiles and in partial groups.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import type { PatternIR } from '../compiler/ir.js';
import { queryRuns } from '../compiler/keys.js';
import { denseMask } from '../compiler/reference.js';
import { DEFAULT_SM90_VARIANT, emitSpec, planKernel } from '../codegen/cuda/index.js';
import { decodeGroup, keyTiles, segToken } from '../compiler/cursor.js';
import { bindPlan } from '../compiler/plan.js';
import { VIDEO } from './support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-cursor-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const FLUX_X = `pattern fx
grid   h=40 w=52
group  h=16 w=16
order  raster
text   5 before
image attends crisscross + text
text  attends all
head_dim 128
`;
// the support file's video GRAT-X, ragged, in raster order, groups of 4 frames, 3 text tokens after
const VIDEO_X = VIDEO.replace('pattern video_grat_x', 'pattern vx').replace('grid  t=8 h=16 w=24', 'grid  t=6 h=18 w=20')
  .replace('group t=2', 'group t=4').replace('order grouped', 'order raster').replace('text  256 after', 'text  3 after');
// rows of 32 tokens: a frame-plane run's tiles cross no plane, a row-plane run's 8 x 32 planes hold two tiles
const VIDEO_X_EVEN = VIDEO_X.replace('grid  t=6 h=18 w=20', 'grid  t=8 h=16 w=32');
const FLUX_B = FLUX_X.replace('crisscross', 'neighbors(1)');

function irOf(src: string): PatternIR {
  const r = checkSource(src, {});
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.ir;
}

/** The emitted sm_90a kernel's constants, geometry and cursor (runs: the spec's sm90.runs). */
function cursorSource(ir: PatternIR, runs: number): string {
  const spec = planKernel(ir, { ...DEFAULT_SM90_VARIANT, runs: runs === 1 }).spec!;
  const file = emitSpec(spec).find((f) => f.path.endsWith('_sm90a.cu'));
  const cu = typeof file?.contents === 'string' ? file.contents : '';
  const from = cu.indexOf('constexpr int D = '), to = cu.indexOf('// ---- shared by both kernels');
  if (from < 0 || to < 0) throw new Error('cursor not found in the emitted kernel');
  return cu.slice(from, to);
}

/** A host program printing, per image query group, "g: key key ..." (or "bad ..." and exit 1). */
function harness(code: string): string {
  return `#include <algorithm>
#include <cstdio>
using std::min;
using std::max;
#define __device__
#define __forceinline__ inline
${code}
int main() {
  for (int g = 0; g < QUERY_GROUPS; ++g) {
    int q[NDIM];
    decode_group(g, q);
    Cursor cur;
    cursor_start(cur, 0, IMAGE_TOKENS);
    std::printf("%d:", g);
    for (;;) {
      Seg seg;
      int off;
      const int n = next_tile(cur, q, false, TEXT_COUNT, seg, off);
      if (n == 0) break;
      // the producer's box test: these tiles are loaded as one contiguous box from seg_token(seg, off)
      const bool plane_run = HAS_RUNS && !seg.contiguous && seg.lw == GRID_W && (seg.lw * seg.lh) % BK == 0;
      const bool flat = n == BK && (seg.contiguous || plane_run);
      const int first = plane_run ? seg_token(seg, off) : seg.base + off;
      for (int r = 0; r < n; ++r) {
        const int t = seg_token(seg, off + r);
        if (flat && t != first + r) { std::printf("\\nbad: group %d tile at %d not contiguous\\n", g, off); return 1; }
        std::printf(" %d", t);
      }
    }
    std::printf("\\n");
  }
  return 0;
}
`;
}

let walks = 0;
function walk(ir: PatternIR, runs: number): string {
  const name = `${ir.name}_${runs}_${walks++}`;
  const cpp = join(work, `${name}.cpp`), exe = join(work, name);
  writeFileSync(cpp, harness(cursorSource(ir, runs)));
  const c = spawnSync('g++', ['-std=c++17', '-O1', '-o', exe, cpp], { encoding: 'utf8' });
  if (c.status !== 0) throw new Error(`g++ failed: ${c.stderr}`);
  const r = spawnSync(exe, [], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return r.stdout + r.stderr;
}

/** Per query group: the cursor's keys against the dense mask's row of the group's first token. */
function mismatches(ir: PatternIR, out: string, runs: boolean): string[] {
  const N = ir.dims.reduce((n, d) => n * d.size, 1) + (ir.text?.count ?? 0);
  const mask = denseMask(ir);
  const bad: string[] = [];
  for (const line of out.trim().split('\n')) {
    const m = /^(\d+):(.*)$/.exec(line);
    if (!m) { bad.push(line); continue; }
    const g = Number(m[1]);
    const keys = m[2].trim() === '' ? [] : m[2].trim().split(' ').map(Number);
    const row = queryRuns(ir, g)[0].start;
    const want: number[] = [];
    for (let k = 0; k < N; k++) if (mask[row * N + k]) want.push(k);
    // the printed cursor walks the keys in its definition's order (compiler/cursor.ts)
    const plan = bindPlan(planKernel(ir).spec!);
    const defined = keyTiles(plan, decodeGroup(plan, g), ir.text?.count ?? 0, { blockK: 128, runs }).flatMap((t) => Array.from({ length: t.n }, (_, r) => segToken(plan, t.seg, t.off + r)));
    if (defined.join(' ') !== keys.join(' ')) bad.push(`group ${g}: the printed cursor's order differs from compiler/cursor.ts`);
    const got = [...keys].sort((a, b) => a - b);
    if (got.length !== want.length || got.some((k, i) => k !== want[i])) bad.push(`group ${g}: ${got.length} keys, mask ${want.length}`);
  }
  return bad;
}

describe('sm_90a cursor: whole-row runs (sm90.runs) visit exactly the mask\'s keys', () => {
  it('the derived patterns are the ones meant', () => {
    const dims = (src: string): number[][] => irOf(src).dims.map((d) => [d.size, d.group]);
    expect(dims(VIDEO_X)).toEqual([[6, 4], [18, 8], [20, 8]]);
    expect(irOf(VIDEO_X).order).toBe('raster');
    expect(dims(VIDEO_X_EVEN)).toEqual([[8, 4], [16, 8], [32, 8]]);
  });

  it('runs only where a term spans whole trailing axes in raster order', () => {
    const axes = (src: string, order?: string): readonly (number | null)[] => {
      return planKernel(irOf(order ? src.replace('order  raster', `order  ${order}`).replace('order raster', `order ${order}`) : src)).spec!.runAxes;
    };
    expect(axes(FLUX_X)).toEqual([1, null]);          // the row: whole image rows; the column: groups
    expect(axes(VIDEO_X)).toEqual([1, 2, null]);      // frame-plane: contiguous; row-plane: planes of rows
    expect(axes(FLUX_X, 'grouped')).toEqual([null, null]);
    expect(axes(FLUX_B)).toEqual([null]);
  });

  for (const [name, src] of [['Flux GRAT-X, ragged 40x52', FLUX_X], ['video GRAT-X, ragged 6x18x20', VIDEO_X],
    ['video GRAT-X, 8x16x32', VIDEO_X_EVEN], ['Flux GRAT-B (no runs)', FLUX_B]] as const) {
    it(`${name}: every query group's keys, with and without runs`, () => {
      const ir = irOf(src);
      for (const runs of [0, 1]) {
        const out = walk(ir, runs);
        expect(out).not.toMatch(/bad/);
        expect(mismatches(ir, out, runs === 1)).toEqual([]);
      }
    }, 120_000);
  }

  it('runs change the walk where they apply (tiles of whole rows, not of groups)', () => {
    const ir = irOf(FLUX_X);
    expect(walk(ir, 1)).not.toBe(walk(ir, 0));
  }, 120_000);
});

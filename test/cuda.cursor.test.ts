/**
 * The Hopper kernel's key-tile cursor (next_tile, printed by codegen/cursor.ts) with and without
 * whole-row runs (the spec's sm90.runs; term_segment: a GRAT-X row or frame-plane walked as runs
 * of whole image rows), and with edge boxes (sm90.edgeBoxes: a ragged raster group's key tile i is
 * TMA box i of the full group's shape, its keys those the box's layout leaves unmasked: the
 * kernel's edge_boxed / edge_box / edge_col, the TMA read modelled here with zeros past the grid).
 * The cursor and the geometry are taken verbatim from an emitted kernel,
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
import { DEFAULT_SM90_VARIANT, emitSpec, planKernel, planSm90, type Sm90Variant } from '../codegen/cuda/index.js';
import { edgeBoxTile, edgeBoxToken, edgeRule, edgeShapeOf } from '../codegen/cuda/sm90.js';
import { decodeGroup, keyTiles, segToken } from '../compiler/cursor.js';
import { bindPlan } from '../compiler/plan.js';
import { VIDEO } from './support/cli.js';
import { mulberry32 as rng } from '../runtime/random.js';

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

const variantOf = (runs: number | Partial<Sm90Variant>): Sm90Variant => ({ ...DEFAULT_SM90_VARIANT, ...(typeof runs === 'number' ? { runs: runs === 1 } : runs) });

/** The emitted sm_90a kernel's constants, geometry and cursor (runs: the spec's sm90.runs, or a variant), with the edge-box helpers where it has them. */
function cursorSource(ir: PatternIR, runs: number | Partial<Sm90Variant>): string {
  const spec = planKernel(ir, variantOf(runs)).spec!;
  const file = emitSpec(spec).find((f) => f.path.endsWith('_sm90a.cu'));
  const cu = typeof file?.contents === 'string' ? file.contents : '';
  const from = cu.indexOf('constexpr int D = '), to = cu.indexOf('// ---- shared by both kernels');
  if (from < 0 || to < 0) throw new Error('cursor not found in the emitted kernel');
  return cu.slice(from, to);
}

/**
 * The edge-box path of the harness: the kernel's box (edge_box: first plane and row in the group,
 * the stage's row count), the TMA read of the box from the group's origin (x, y, t of its first
 * token; what lies past the grid reads zeros), and the keys the consumers keep (edge_col).
 */
const EDGE_HARNESS = `      const int kind = n > 0 ? edge_boxed(seg) : 0;
      if (kind != 0) {
        int dt, dy;
        const int rows = edge_box(seg, off, kind == 2, dt, dy);
        if (rows > BK && ((rows & EDGE_ALT) != 0) != (kind == 2)) { std::printf("\\nbad: group %d box at %d: row count names the other box\\n", g, off); return 1; }
        const int rel = seg.base - IMAGE_OFFSET;
        const int x = rel % GRID_W, y = (rel / GRID_W) % GRID_H + dy, t = rel / (GRID_W * GRID_H) + dt;
        // the box of the map the producer takes: the raster box, or the alternate one
        const int bw = kind == 2 ? ALT_W : BOX_W, bh = kind == 2 ? ALT_H : BOX_H;
        int keys = 0;
        for (int r = 0; r < BK; ++r) {
          const int xx = r % bw, yy = (r / bw) % bh, tt = r / (bw * bh);
          const bool key = rows == BK || (rows > BK && (kind == 2 ? edge_col<ALT_W, ALT_H>(rows, r) : edge_col<BOX_W, BOX_H>(rows, r)));
          const bool in = x + xx < GRID_W && y + yy < GRID_H && t + tt < GRID_T;
          if (key && !in) { std::printf("\\nbad: group %d box at %d: key row %d past the grid\\n", g, off, r); return 1; }
          if (key) { std::printf(" %d", IMAGE_OFFSET + ((t + tt) * GRID_H + y + yy) * GRID_W + x + xx); ++keys; }
        }
        if (keys == 0) { std::printf("\\nbad: group %d box at %d holds no key\\n", g, off); return 1; }
        continue;
      }
`;

/** A host program printing, per image query group, "g: key key ..." (or "bad ..." and exit 1). */
function harness(code: string, edge = false): string {
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
${edge ? EDGE_HARNESS : ''}      // the producer's box test: these tiles are loaded as one contiguous box from seg_token(seg, off)
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
function walk(ir: PatternIR, runs: number | Partial<Sm90Variant>): string {
  const name = `${ir.name}_${walks++}`;
  const cpp = join(work, `${name}.cpp`), exe = join(work, name);
  const edge = planSm90(planKernel(ir, variantOf(runs)).spec!).edgeBoxes !== null;
  writeFileSync(cpp, harness(cursorSource(ir, runs), edge));
  const c = spawnSync('g++', ['-std=c++17', '-O1', '-o', exe, cpp], { encoding: 'utf8' });
  if (c.status !== 0) throw new Error(`g++ failed: ${c.stderr}`);
  const r = spawnSync(exe, [], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return r.stdout + r.stderr;
}

/**
 * Per query group: the cursor's keys against the dense mask's row of the group's first token, and
 * in the order of the definitions (compiler/cursor.ts's tiles; an edge-boxed group's tile as
 * sm90.ts's edgeBoxTile / edgeBoxToken read it).
 */
function mismatches(ir: PatternIR, out: string, runs: boolean | Partial<Sm90Variant>): string[] {
  const v = variantOf(typeof runs === 'boolean' ? { runs } : runs);
  const spec = planKernel(ir, v).spec!, sm = planSm90(spec);
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
    const plan = bindPlan(spec);
    const defined = keyTiles(plan, decodeGroup(plan, g), ir.text?.count ?? 0, { blockK: 128, runs: v.runs }).flatMap((t) => {
      const e = edgeShapeOf(sm.edgeBoxes, t.seg);
      if (e) {
        const box = e.alt ? sm.altBox! : sm.rasterBox!, b = edgeBoxTile(box, t.seg, t.off, 128);
        return Array.from({ length: 128 }, (_, r) => edgeBoxToken(plan, box, t.seg, b, r)).filter((k) => k >= 0);
      }
      return Array.from({ length: t.n }, (_, r) => segToken(plan, t.seg, t.off + r));
    });
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

/** Groups with a raster box (BK = 128: rows of w, a plane of h rows, planes) and one without (8 x 8 in 2-D). */
const GROUPS_2D = [[16, 8], [32, 8], [8, 16], [16, 16], [4, 32], [8, 8]];
const GROUPS_3D = [[4, 8, 8], [2, 8, 8], [2, 4, 8], [3, 4, 4], [2, 16, 8], [1, 8, 16]];

/** A random ragged pattern: GRAT-B or GRAT-X, 2-D or 3-D, text before / after / none, either order. */
function randomPattern(r: () => number): { src: string; what: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const d3 = r() < 0.5;
  const groups = d3 ? pick(GROUPS_3D) : pick(GROUPS_2D);
  // 1-3 groups a side, the last mostly ragged
  const sizes = groups.map((g) => g * Math.floor(1 + r() * 2) + Math.floor(r() * g) + (r() < 0.2 ? 0 : 1));
  const axes = d3 ? ['t', 'h', 'w'] : ['h', 'w'];
  const text = pick(['none', 'before', 'after']);
  const x = r() < 0.5;
  const order = r() < 0.75 ? 'raster' : 'grouped';
  const src = [
    'pattern rnd',
    `grid   ${axes.map((a, i) => `${a}=${sizes[i]}`).join(' ')}`,
    `group  ${axes.map((a, i) => `${a}=${Math.min(groups[i], sizes[i])}`).join(' ')}`,
    `order  ${order}`,
    ...(text === 'none' ? [] : [`text   ${1 + Math.floor(r() * 20)} ${text}`]),
    `image attends ${x ? (d3 ? 'crisscross(planes)' : 'crisscross') : 'neighbors(1)'}${text === 'none' ? '' : ' + text'}`,
    ...(text === 'none' ? [] : ['text  attends all']),
    'head_dim 128',
    '',
  ].join('\n');
  return { src, what: `${x ? 'GRAT-X' : 'GRAT-B'} ${sizes.join('x')} / ${groups.join('x')} ${order}, text ${text}` };
}

describe('sm_90a cursor: edge boxes (sm90.edgeBoxes) hold exactly the mask\'s keys', () => {
  it('the rule: HunyuanVideo 33x45x80\'s edge groups are raster boxes, Flux 48x85\'s 5 x 16 columns alternate boxes of 8 x 16', () => {
    const plan = (src: string): ReturnType<typeof planSm90> => planSm90(planKernel(irOf(src), variantOf({ edgeBoxes: true })).spec!);
    const shapes = (src: string): unknown => plan(src).edgeBoxes;
    const hunyuan = VIDEO_X.replace('grid  t=6 h=18 w=20', 'grid  t=33 h=45 w=80');
    expect(shapes(hunyuan)).toEqual([{ lw: 8, lh: 5, lt: 4, alt: false }, { lw: 8, lh: 8, lt: 1, alt: false }, { lw: 8, lh: 5, lt: 1, alt: false }]);
    expect(plan(hunyuan).altBox).toBeNull();
    const flux = FLUX_B.replace('grid   h=40 w=52', 'grid   h=48 w=85');
    expect(shapes(flux)).toEqual([{ lw: 5, lh: 16, lt: 1, alt: true }]);  // raster box 16 x 8: two boxes for one tile
    expect(plan(flux).altBox).toEqual({ w: 8, h: 16, t: 1 });
    // 40 = 2·16 + 8 rows, 52 = 3·16 + 4 columns: 16 x 8 and 4 x 8 in raster boxes, 4 x 16 in one 8 x 16 box
    expect(shapes(FLUX_B)).toEqual([{ lw: 16, lh: 8, lt: 1, alt: false }, { lw: 4, lh: 8, lt: 1, alt: false }, { lw: 4, lh: 16, lt: 1, alt: true }]);
    expect(shapes(VIDEO_X_EVEN)).toBeNull();  // divisible
    // with half tiles, no alternate box (the consumers spilled with both)
    const halfFlux = planSm90(planKernel(irOf(flux), variantOf({ edgeBoxes: true, halfTiles: true })).spec!);
    expect([halfFlux.altBox, halfFlux.edgeBoxes]).toEqual([null, null]);
    expect(planSm90(planKernel(irOf(hunyuan)).spec!).edgeBoxes === null).toBe(!DEFAULT_SM90_VARIANT.edgeBoxes);
  });

  for (const [name, src] of [['Flux GRAT-X, ragged 40x52', FLUX_X], ['video GRAT-X, ragged 6x18x20', VIDEO_X], ['Flux GRAT-B, ragged 40x52', FLUX_B]] as const) {
    it(`${name}: every query group's keys, edge boxes with and without runs`, () => {
      const ir = irOf(src);
      for (const runs of [false, true]) {
        const v = { runs, edgeBoxes: true };
        expect(planSm90(planKernel(ir, variantOf(v)).spec!).edgeBoxes).not.toBeNull();
        const out = walk(ir, v);
        expect(out).not.toMatch(/bad/);
        expect(mismatches(ir, out, v)).toEqual([]);
      }
    }, 120_000);
  }

  it('random ragged grids (2-D and 3-D, text or not, both orders, runs on and off): edge boxes on', () => {
    const seed = Number(process.env.GRATC_SEED ?? Date.now() % 1_000_000), r = rng(seed);
    let boxed = 0;
    for (let i = 0; i < 14; i++) {
      const { src, what } = randomPattern(r);
      const ir = irOf(src);
      const v = { runs: r() < 0.5, edgeBoxes: true };
      if (planSm90(planKernel(ir, variantOf(v)).spec!).edgeBoxes) boxed++;
      const out = walk(ir, v);
      const msg = `seed ${seed} case ${i}: ${what}, runs ${v.runs}\n${src}`;
      expect(out, msg).not.toMatch(/bad/);
      expect(mismatches(ir, out, v), msg).toEqual([]);
    }
    expect(boxed, `seed ${seed}`).toBeGreaterThan(0);
  }, 300_000);

  it('grids taken at launch: the kernel\'s edge_boxed applies edgeRule to every group shape (g++ against sm90.ts)', () => {
    for (const src of [FLUX_B, VIDEO_X, VIDEO_X.replace('group t=4', 'group t=3').replace('h=8 w=8', 'h=4 w=4')]) {
      const open = src.replace(/^grid(\s+)(.*)$/m, (_, sp: string, dims: string) => `grid${sp}${dims.replace(/=\d+/g, '=?')}`);
      const r = checkSource(open, { runtimeSizes: true });
      const ir = r.ir!;
      expect(ir.runtime?.dims.some((x) => x)).toBe(true);
      const spec = planKernel(ir, variantOf({ edgeBoxes: true })).spec!, sm = planSm90(spec);
      expect(sm.edgeBoxes).toBe('launch');
      const box = sm.rasterBox!, D = ir.dims.length, g = ir.dims.map((d) => d.group);
      const gw = g[D - 1], gh = g[D - 2], gt = D === 3 ? g[0] : 1;
      // every shape a group can have, and segments wider than a group (whole-row runs)
      const shapes: { lw: number; lh: number; lt: number; c: boolean }[] = [];
      for (let lt = 1; lt <= gt; lt++) for (let lh = 1; lh <= gh; lh++) for (let lw = 1; lw <= gw + 3; lw++) for (const c of [false, true]) shapes.push({ lw, lh, lt, c });
      const code = cursorSource(ir, { edgeBoxes: true });
      const prog = `#include <algorithm>\n#include <cstdio>\nusing std::min;\nusing std::max;\n#define __device__\n#define __forceinline__ inline\n${code}\nint main() {\n`
        + shapes.map((x) => `  std::printf("%d", edge_boxed(Seg{0, ${x.lw * x.lh * x.lt}, ${x.lw}, ${x.lh}, ${x.c}}));`).join('\n') + '\n  return 0;\n}\n';
      const cpp = join(work, `rule_${walks++}.cpp`), exe = cpp.replace('.cpp', '');
      writeFileSync(cpp, prog);
      const c = spawnSync('g++', ['-std=c++17', '-O1', '-o', exe, cpp], { encoding: 'utf8' });
      expect(c.status, c.stderr).toBe(0);
      const got = spawnSync(exe, [], { encoding: 'utf8' }).stdout;
      const want = shapes.map((x) => (!x.c && edgeRule(box, gw, gh, 128, x) ? '1' : '0')).join('');
      expect(got).toBe(want);
      expect(want).toMatch(/1/);
    }
  }, 120_000);
});

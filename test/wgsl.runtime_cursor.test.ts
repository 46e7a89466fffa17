/**
 * The cursor printed in WGSL for a plan with run-time sizes (codegen/cursor.ts: a `Geom` argument
 * `G` in every function) compiles on a WebGPU device (Dawn; lavapipe in CI) and walks, per query
 * group and for the text queries, the keys of the cursor's definition (compiler/cursor.ts bound to
 * the same sizes): one invocation per query tile writes its key count and a checksum. The WebGPU
 * host does not pass run-time sizes yet (E0923); this is what it will run (notes for helper B).
 */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { decodeGroup, keyTiles, segToken } from '../compiler/cursor.js';
import { bindPlan, kernelPlan, type KernelPlan, type LaunchSizes } from '../compiler/plan.js';
import { geomFields, printCursor, WGSL } from '../codegen/cursor.js';
import { runI32Shader } from './support/wgsl_i32.js';
import { SHIFT_N, VIDEO_X } from './support/runtime_patterns.js';


/** The Geom fields of a launch, in geomFields order (as a host fills them: codegen/cuda/index.ts hostSizesC). */
function geomOf(plan: KernelPlan, s: LaunchSizes): number[] {
  const b = bindPlan(plan, s), L = b.layout;
  const v: Record<string, number> = { image_offset: L.imageOffset, image_tokens: L.imageTokens, text_offset: L.textOffset, text_count: L.textCount, query_groups: L.queryGroups, tokens: L.tokens };
  b.dims.forEach((d, a) => { v[`n${a}`] = d.groups; v[`size${a}`] = d.size; });
  return geomFields(plan).map((f) => v[f]);
}

async function walkOnDevice(plan: KernelPlan, s: LaunchSizes, valid: number, runs: boolean): Promise<Int32Array> {
  const fields = geomFields(plan), G = bindPlan(plan, s).layout.queryGroups;
  const code = `${printCursor(plan, WGSL, { blockK: 64, runs })}
@group(0) @binding(0) var<storage, read> geom_in: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  var G: Geom;
${fields.map((f, i) => `  G.${f} = geom_in[${i}];`).join('\n')}
  let g = i32(id.x);
  if (g > G.query_groups) { return; }
  let text_tile = g == G.query_groups;  // the last invocation: the text queries (none without text, as the kernels launch no text tile)
  if (text_tile && G.text_count == 0) { out[2 * g] = 0; out[2 * g + 1] = 0; return; }
  var q: Coords;
  if (!text_tile) { decode_group(g, &q, G); }
  var c: Cursor;
  cursor_start(&c, 0, G.image_tokens);
  var n = 0;
  var sum = 0;
  loop {
    let t = next_tile(&c, q, text_tile, ${valid}, G);
    if (t.n == 0) { break; }
    for (var r = 0; r < t.n; r += 1) { n += 1; sum = sum + seg_token(t.seg, t.off + r, G) * (n % 7 + 1); }
  }
  out[2 * g] = n;
  out[2 * g + 1] = sum;
}
`;
  return runI32Shader(code, new Int32Array(geomOf(plan, s)), 2 * (G + 1));
}

/** The same count and checksum from the definition. */
function expected(plan: KernelPlan, s: LaunchSizes, valid: number, runs: boolean): number[] {
  const b = bindPlan(plan, s), out: number[] = [];
  const one = (q: readonly number[] | null): void => {
    let n = 0, sum = 0;
    for (const t of keyTiles(b, q, valid, { blockK: 64, runs })) for (let r = 0; r < t.n; r++) { n++; sum = (sum + segToken(b, t.seg, t.off + r) * (n % 7 + 1)) | 0; }
    out.push(n, sum);
  };
  for (let g = 0; g < b.layout.queryGroups; g++) one(decodeGroup(b, g));
  if (b.textQueries && b.layout.textCount > 0) one(null); else out.push(0, 0);
  return out;
}

describe('run-time sizes in the printed WGSL cursor', () => {
  for (const [name, src, sizes] of [
    ['video GRAT-X raster, t fixed, text at launch', VIDEO_X, [{ grid: [6, 18, 20], text: 3 }, { grid: [6, 1, 1], text: 0 }]],
    ['grouped, shift border, a predicate on n', SHIFT_N, [{ grid: [13, 22], text: 3 }, { grid: [1, 1], text: 0 }, { grid: [3, 9], text: 2 }]],
  ] as const) {
    it(`${name}: compiles and walks the definition's keys`, async () => {
      const plan = kernelPlan(checkSource(src, { runtimeSizes: true }).ir!);
      expect(plan.runtime).not.toBeNull();
      for (const runs of [false, true]) {
        for (const s of sizes) {
          const got = await walkOnDevice(plan, { grid: [...s.grid], text: s.text }, s.text, runs);
          const want = expected(plan, { grid: [...s.grid], text: s.text }, s.text, runs);
          expect(Array.from(got.subarray(0, want.length))).toEqual(want);
        }
      }
    }, 120_000);
  }
});

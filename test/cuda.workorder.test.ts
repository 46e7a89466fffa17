/**
 * The Hopper kernel's work order (query_group in kernel_sm90.cu.hbs): image tiles visit a part's
 * query groups in bands of BLOCK_ROWS group rows (the spec's sm90.blockRows), column by column. That function is
 * taken verbatim from an emitted kernel, compiled for the host with g++ (device qualifiers defined
 * away) and run over many parts: for every band height, row length and part (whole rows or not,
 * ragged last band) it must be a permutation of the part's groups, and the default band height
 * must keep a band's groups column by column.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { FLUX } from './support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-workorder-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));


function emittedQueryGroup(): { fn: string; blockRows: number } {
  const r = checkSource(FLUX, {});
  if (!r.ir) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  const file = emitCuda(r.ir).files.find((f) => f.path.endsWith('_sm90a.cu'));
  const cu = typeof file?.contents === 'string' ? file.contents : '';
  const fn = /__device__ __forceinline__ int query_group\(const Params& p, int g\) \{[\s\S]*?\n\}/.exec(cu)?.[0];
  const rows = /constexpr int BLOCK_ROWS = (\d+);/.exec(cu)?.[1];
  if (!fn || !rows) throw new Error('query_group or BLOCK_ROWS not found in the emitted kernel');
  return { fn, blockRows: Number(rows) };
}

/** A host program: for each (GROUPS_LAST, part) checks the order is a permutation; prints "ok" or the first failure. */
function harness(fn: string, blockRows: number): string {
  return `#include <algorithm>
#include <cstdio>
#include <vector>
using std::min;
#define __device__
#define __forceinline__ inline
constexpr int BLOCK_ROWS = ${blockRows};
constexpr int NDIM = 2;
static int GROUPS_LAST = 1;
struct Params { int first_group; int groups; };
${fn}
int main() {
  for (int gl = 1; gl <= 7; ++gl) {
    GROUPS_LAST = gl;
    const int total = 11 * gl;  // 11 rows of groups
    for (int first = 0; first < total; ++first)
      for (int count = 0; first + count <= total; ++count) {
        Params p{first, count};
        std::vector<int> seen(total, 0);
        for (int g = 0; g < count; ++g) {
          const int q = query_group(p, g);
          if (q < first || q >= first + count || seen[q]++) { std::printf("bad gl=%d first=%d count=%d g=%d -> %d\\n", gl, first, count, g, q); return 1; }
        }
        // whole rows: inside a band, consecutive work items walk down a column first
        if (BLOCK_ROWS > 1 && first % gl == 0 && count % gl == 0 && count >= 2 * gl && gl > 1) {
          if (query_group(p, 1) != first + gl) { std::printf("not column-major gl=%d first=%d count=%d\\n", gl, first, count); return 1; }
        }
      }
  }
  std::printf("ok\\n");
  return 0;
}
`;
}

function compileAndRun(program: string, name: string): string {
  const cpp = join(work, `${name}.cpp`), exe = join(work, name);
  writeFileSync(cpp, program);
  const c = spawnSync('g++', ['-std=c++17', '-O1', '-o', exe, cpp], { encoding: 'utf8' });
  if (c.status !== 0) return `g++ failed: ${c.stderr}`;
  const r = spawnSync(exe, [], { encoding: 'utf8' });
  return (r.stdout + r.stderr).trim();
}

describe('sm_90a work order: bands of group rows, column by column', () => {
  const { fn, blockRows } = emittedQueryGroup();

  it('the emitted default is a band height > 1', () => {
    expect(blockRows).toBeGreaterThan(1);
  });

  it('is a permutation of every part for band heights 0-8 and row lengths 1-7', () => {
    const out = [0, 1, 2, 3, 4, 5, 8].map((rows) => `${rows}: ${compileAndRun(harness(fn, rows), `order_${rows}`)}`);
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 8].map((rows) => `${rows}: ok`));
  }, 120_000);
});

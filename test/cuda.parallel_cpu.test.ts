/**
 * The CUDA package's multi-GPU code (_parallel.py: Ulysses, the spatial split, auto, the bytes
 * each rank sends) on real PyTorch without a GPU: test/support/parallel_checks.py runs it over
 * torch.distributed's gloo backend, one process per rank, with float64 stand-ins for the kernel
 * launches that read K/V through the same pointers and strides (scratch buffers poisoned with
 * NaN, so a halo row the plan forgot shows). Each rank's share of the output is compared with
 * float64 attention under compiler/reference.ts's dense mask, at 1-4 ranks (one or two world sizes a
 * pattern: each world is a set of processes, and CI has 2 cores), both layouts and
 * valid text lengths (all, half, 0), on ragged grids: text before, after and none, raster and
 * grouped order, GRAT-B and criss-cross, text queries that see the grid and that see only text,
 * a grid with too few group rows for 4 ranks (Ulysses only there), and a package whose grid and
 * text count are taken at launch run at three sizes (its bands planned at run time by _shard.py).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import type { PatternIR } from '../compiler/ir.js';
import { groupCount, totalTokens } from '../compiler/ir.js';
import { queryRuns } from '../compiler/keys.js';
import { denseMask } from '../compiler/reference.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { toNpy } from '../runtime/onnx/npy.js';
import { ROOT, tempDir } from './support/cli.js';
import { torchPythonOrSkip } from './support/torch_python.js';

const CHECKS = join(ROOT, 'test', 'support', 'parallel_checks.py');

const CASES: { name: string; src: string; worlds: number[]; sizes?: [number[], number][] }[] = [
  {
    name: 'b_before', worlds: [1, 3],
    src: `pattern b_before
grid h=9 w=10
group h=2 w=2
order raster
text 5 before
image attends neighbors(1) + text
text attends all
head_dim 64
dtype fp16`,
  },
  {
    name: 'x_after', worlds: [4],
    src: `pattern x_after
grid h=8 w=7
group h=2 w=3
order grouped
text 3 after
image attends crisscross + text
text attends all
head_dim 64
dtype fp16`,
  },
  {
    name: 'video_textonly', worlds: [4],
    src: `pattern video_textonly
grid t=5 h=4 w=6
group t=2 h=2 w=4
order raster
text 4 before
image attends neighbors(1) + text
text attends text
head_dim 64
dtype fp16`,
  },
  {
    // one package for every resolution: the bands and halos are planned at launch (_shard.py)
    name: 'b_open', worlds: [2], sizes: [[[9, 10], 5], [[7, 13], 0], [[12, 5], 2]],
    src: `pattern b_open
grid h=? w=?
group h=2 w=2
order raster
text ? before
image attends neighbors(1) + text
text attends all
head_dim 64
dtype fp16`,
  },
  {
    name: 'no_text', worlds: [2],
    src: `pattern no_text
grid h=7 w=9
group h=2 w=4
order grouped
image attends neighbors(1)
head_dim 64
dtype fp16`,
  },
];

function checked(src: string, opts: { grid?: number[]; text?: number; runtimeSizes?: boolean } = {}): PatternIR {
  const { ir, diagnostics } = checkSource(src, opts);
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return ir;
}

describe('the multi-GPU code of the CUDA package over gloo (CPU)', () => {
  CASES.forEach((c, i) => {
    it(`${c.name}: Ulysses, spatial and auto at ${c.worlds.join(', ')} rank(s) vs the float64 reference; bytes sent as predicted`, (ctx) => {
      const python = torchPythonOrSkip();
      if (!python) return ctx.skip();
      const ir = checked(c.src, c.sizes ? { runtimeSizes: true } : {});
      const dir = tempDir();
      const r = emitCuda(ir);
      expect(r.files.length, r.diagnostics.map((d) => d.message).join('; ')).toBeGreaterThan(0);
      for (const f of r.files) {
        mkdirSync(dirname(join(dir, 'pkg', f.path)), { recursive: true });
        writeFileSync(join(dir, 'pkg', f.path), f.contents);
      }
      // per size: the dense masks at valid text all / half / 0 and the query group of each token
      const sizes = (c.sizes ?? [[null, null]] as const).map(([grid, text], si) => {
        const at = grid === null ? ir : checked(c.src, { grid, text });
        const N = totalTokens(at), T = at.text?.count ?? 0;
        const masks: Record<number, string> = {};
        for (const valid of new Set([T, Math.floor(T / 2), 0])) {
          masks[valid] = join(dir, `mask_${si}_${valid}.npy`);
          writeFileSync(masks[valid], toNpy({ dtype: 'uint8', shape: [N, N], data: denseMask(at, valid) }));
        }
        const groups = new Int32Array(N).fill(-1);
        for (let g = 0; g < groupCount(at); g++) for (const run of queryRuns(at, g)) groups.fill(g, run.start, run.start + run.length);
        writeFileSync(join(dir, `groups_${si}.npy`), toNpy({ dtype: 'int32', shape: [N], data: groups }));
        return { grid, text, masks, groups: join(dir, `groups_${si}.npy`) };
      });
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ folder: join(dir, 'pkg'), module: `grat_${c.name}`, sizes, worlds: c.worlds, port: 29400 + 10 * i + (process.pid % 50) * 100 }));
      const p = spawnSync(python, [CHECKS, config], {
        cwd: dir, encoding: 'utf8', timeout: 240_000,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' },
      });
      const out = `${p.stdout}${p.stderr}`;
      expect(p.status, out).toBe(0);
      expect(out, out).toMatch(/^ok \d+$/m);
    }, 300_000);
  });
});

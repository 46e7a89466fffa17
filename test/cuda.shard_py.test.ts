/**
 * The package's _shard.py (the spatial split planned at sizes given at launch) agrees with
 * compiler/shard.ts's spatialPlan, the definition (itself checked against the dense mask in
 * test/shard.test.ts): the emitted package of patterns whose sizes are `?` plans 1-8 ranks at
 * random ragged sizes (and 1-row grids, text 0), and every plan, or refusal, must equal the
 * TypeScript one. Patterns: GRAT-B and criss-cross, shift borders, predicates (their bounds),
 * windows wider than short grids, 3-D, text before/after/none, image queries that see no text.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { bindPlan, kernelPlan } from '../compiler/plan.js';
import { spatialPlan } from '../compiler/shard.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { mulberry32 } from '../runtime/random.js';
import { tempDir } from './support/cli.js';
import { torchPythonOrSkip } from './support/torch_python.js';

const PATTERNS: Record<string, string> = {
  b_before: `grid h=? w=?\ngroup h=4 w=4\ntext ? before\nimage attends neighbors(1) + text\ntext attends all`,
  x_after: `grid h=? w=?\ngroup h=2 w=3\norder grouped\ntext ? after\nimage attends crisscross + text\ntext attends all`,
  shift_wide: `grid h=? w=?\ngroup h=2 w=2\nborder shift\nimage attends neighbors(h=3, w=1) + where(dh >= -4 && dh <= 1)`,
  pred_video: `grid t=? h=? w=?\ngroup t=2 h=2 w=4\ntext 5 before\nimage attends where(|dt| <= 2 && dh % 2 == 0) + neighbors(1)\ntext attends text`,
};

describe('_shard.py (spatial plans at launch sizes) vs compiler/shard.ts', () => {
  for (const [name, body] of Object.entries(PATTERNS)) {
    it(`${name}: plans for 1-8 ranks at random sizes equal the TypeScript ones`, (ctx) => {
      const python = torchPythonOrSkip();
      if (!python) return ctx.skip();
      const { ir, diagnostics } = checkSource(`pattern ${name}\n${body}\nhead_dim 64\n`, { runtimeSizes: true });
      expect(ir, diagnostics.map((d) => d.message).join('; ')).toBeTruthy();
      const plan = kernelPlan(ir!);
      const r = emitCuda(ir!);
      const dir = tempDir();
      for (const f of r.files) {
        mkdirSync(dirname(join(dir, f.path)), { recursive: true });
        writeFileSync(join(dir, f.path), f.contents);
      }
      const rand = mulberry32(name.length * 7919);
      const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
      const cases: { grid: number[]; text: number; world: number }[] = [];
      for (let i = 0; i < 60; i++) {
        const grid = plan.dims.map(() => (i % 10 === 0 ? 1 : int(1, 40)));
        const text = plan.text === null ? 0 : plan.text.count.kind === 'runtime' ? (i % 7 === 0 ? 0 : int(1, 20)) : plan.text.count.value;
        cases.push({ grid, text, world: int(1, 8) });
      }
      const want = cases.map((c) => {
        const p = spatialPlan(bindPlan(plan, { grid: c.grid, text: c.text }), c.world);
        return p.ok ? p.plan : { error: p.reason };
      });
      const mod = `grat_${name}`;
      const code = `import json, sys
sys.path.insert(0, ${JSON.stringify(dir)})
from ${mod} import _shard, _spec as s
out = []
for c in json.loads(sys.argv[1]):
    try:
        out.append(_shard.spatial_plan(c["world"], c["grid"], list(s.GROUP), c["text"], s.TEXT_PLACE, s.IMAGE_SEES_TEXT, s.SHARD_TERMS))
    except ValueError as e:
        out.append({"error": str(e)})
print(json.dumps(out))`;
      const p = spawnSync(python, ['-c', code, JSON.stringify(cases)], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
      expect(p.status, p.stderr).toBe(0);
      const got = JSON.parse(p.stdout) as unknown[];
      cases.forEach((c, i) => expect(got[i], JSON.stringify(c)).toEqual(want[i]));
      expect(want.some((w) => 'ranks' in (w as object) && (w as { world: number }).world > 2)).toBe(true);
    }, 90_000);
  }
});

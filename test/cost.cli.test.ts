/**
 * Work refused up front (compiler/cost.ts), end to end: each case ran for minutes, grew to
 * gigabytes or crashed before; now the command exits 1 with one line naming the quantity, the
 * amount and the limit, and writes nothing. Subprocesses, so an abort or a runaway heap shows as
 * such; time limits are generous (a refusal takes well under a second of CPU).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAIN, put, ROOT, tempDir } from './support/cli.js';
import { attentionModel, PATTERN } from './support/hostile_onnx.js';

interface Ran { code: number | null; signal: string | null; stdout: string; stderr: string; seconds: number }

/** gratc in `cwd`, killed after `limitS` seconds (a refusal needs a fraction of that). */
function run(args: readonly string[], cwd: string, limitS = 60): Ran {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: limitS * 1000, killSignal: 'SIGKILL' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** Exit 1 and exactly one line on stderr, saying what would be needed and the limit. */
function expectRefused(r: Ran, what: RegExp): void {
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr, r.stderr).toMatch(/^gratc: error: [^\n]* would need [^\n]* \(limit [^\n]*\); [^\n]*\n$/);
  expect(r.stderr).toMatch(what);
}

const tree = (n: number, leaf: (i: number) => string): string => {
  const t = (lo: number, hi: number): string => (hi - lo === 1 ? leaf(lo) : `(${t(lo, (lo + hi) >> 1)} && ${t((lo + hi) >> 1, hi)})`);
  return t(0, n);
};

describe('gratc patch: a hostile model\'s declared sequence length', () => {
  // a ~250-byte model whose one attention claims `seq` tokens; the pattern's `text ?` takes seq − 64
  const cases: [number, string[], RegExp][] = [
    // before: "Fatal JavaScript invalid size error" (exit 133) or growth to 21 GB
    [2 ** 31 - 1, [], /8\.59e\+10 bytes of constants/],
    // before: "internal error: Maximum call stack size exceeded"
    [200_064, [], /4\.00e\+10 elements in its largest intermediate tensor per batch·head/],
    // before: a 240 MB model written
    [30_000_064, [], /bytes of constants \(index tensors\)|largest intermediate/],
    // before: "internal error: denseMask: 20064 tokens is too many"
    [20_064, ['--dense-mask'], /the dense-mask lowering would need 20,064 tokens \(an N×N mask is built first\) \(limit 20,000\)/],
  ];
  for (const [seq, extra, what] of cases) {
    it(`seq ${seq.toLocaleString('en-US')}${extra.length ? ` ${extra.join(' ')}` : ''}: one line, exit 1, nothing written`, () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'm.onnx'), attentionModel(seq));
      writeFileSync(join(dir, 'p.grat'), PATTERN);
      const r = run(['patch', 'm.onnx', '--pattern', 'p.grat', '--out', 'o.onnx', ...extra], dir);
      expectRefused(r, what);
      expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'p.grat']);
      expect(r.seconds).toBeLessThan(30);
    });
  }

  it('the same model at a sane length is patched', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'm.onnx'), attentionModel(72));
    writeFileSync(join(dir, 'p.grat'), PATTERN);
    expect(run(['patch', 'm.onnx', '--pattern', 'p.grat', '--out', 'o.onnx'], dir).code).toBe(0);
    expect(existsSync(join(dir, 'o.onnx'))).toBe(true);
  });
});

describe('one cost model for every command', () => {
  // issue 16.4: valid, but every query group tests every key group
  const HALF = 'pattern half\ngrid h=? w=?\ngroup h=2 w=2\nimage attends where(dh % 2 == 0)\nhead_dim 64\ndtype bf16\n';

  it('group 2x2, where(dh % 2 == 0) at 512²: compile (cuda, onnx) and inspect refuse it alike, up front', () => {
    // before: onnx ran out of V8 heap at 256² (exit 134, 32 s); cuda ran 2 min 42 s at 512²
    const dir = tempDir();
    put(dir, 'half.grat', HALF);
    for (const args of [['compile', 'half.grat', '--grid', '512x512', '--target', 'cuda', '--out', 'c'], ['compile', 'half.grat', '--grid', '512x512', '--target', 'onnx', '--out', 'o'], ['inspect', 'half.grat', '--grid', '512x512']]) {
      const r = run(args, dir);
      expectRefused(r, /steps over the grid \(key groups visited, predicate nodes evaluated\) \(limit 3\.00e\+8\)/);
      expect(r.seconds).toBeLessThan(30);
    }
    for (const t of ['cuda', 'onnx']) expectRefused(run(['compile', 'half.grat', '--grid', '256x256', '--target', t, '--out', t], dir), /steps over the grid/);
    expect(readdirSync(dir)).toEqual(['half.grat']);
  });

  it('inspect: a predicate of 2,048 comparisons at 4x64x64 is refused (its nodes count at every key group)', () => {
    // before: 1e6 key groups, under the old limit of 3e8 visits, then more than 120 s of work
    const dir = tempDir();
    put(dir, 'p.grat', `pattern p\ngrid t=? h=? w=?\ngroup t=1 h=4 w=4\nimage attends where(${tree(2048, (i) => `dh * 1000 + dw * 7 + qh != ${i}`)})\nhead_dim 64\n`);
    const r = run(['inspect', 'p.grat', '--grid', '4x64x64'], dir);
    expectRefused(r, /counting the keys of every query group would need 2\.\d+e\+10 steps over the grid/);
    expect(r.seconds).toBeLessThan(30);
  });

  it('verify: a dense pattern at 19,881 tokens is refused for the reference\'s work, not let through by a token count', () => {
    // before: under the 20,000-token limit, so it ran (9.2 GB)
    const dir = tempDir();
    put(dir, 'dense.grat', 'pattern dense\ngrid h=? w=?\ngroup h=8 w=8\nimage attends all\nhead_dim 64\ndtype fp32\n');
    for (const backend of ['onnx', 'webgpu']) {
      const r = run(['verify', 'dense.grat', '--grid', '141x141', '--backend', backend], dir);
      expectRefused(r, /verify \(the float64 reference[^)]*\) would need \d\.\d+e\+1\d multiply-adds \(limit 4\.00e\+9\)/);
      expect(r.seconds).toBeLessThan(30);
    }
  });

  it('compile --target onnx: text 200000 before is refused in one line (before: a stack overflow as error E0901)', () => {
    const dir = tempDir();
    put(dir, 't.grat', 'pattern t\ngrid h=8 w=8\ngroup h=4 w=4\ntext 200000 before\nimage attends neighbors(1) + text\nhead_dim 16\ndtype fp32\n');
    expectRefused(run(['compile', 't.grat', '--target', 'onnx', '--out', 'o'], dir), /largest intermediate tensor per batch·head/);
  });

  it('compile --target onnx: Flux GRAT-X at 1024² is refused (before: 52 s, 6.5 GB, then "data is too long")', () => {
    const r = run(['compile', join(ROOT, 'examples', 'flux_grat_x.grat'), '--grid', '1024x1024', '--target', 'onnx', '--out', join(tempDir(), 'o')], ROOT);
    expectRefused(r, /bytes of constants \(index tensors\) \(limit 1\.61e\+9\)/);
    expect(r.seconds).toBeLessThan(30);
  });

  it('2,000 region terms: a positioned diagnostic at the 65th, for every target (before: two 250 MB .cu files; WGSL "Invalid string length")', () => {
    const dir = tempDir();
    const terms = Array.from({ length: 2000 }, (_, i) => (i % 2 ? `neighbors(${i % 7})` : `where(dh == ${i % 9} && dw <= ${i % 5})`));
    put(dir, 'many.grat', `pattern many\ngrid h=64 w=64\ngroup h=8 w=8\nimage attends ${terms.join(' +\n  ')}\nhead_dim 64\ndtype bf16\n`);
    for (const target of ['cuda', 'wgsl', 'onnx']) {
      const r = run(['compile', 'many.grat', '--target', target, '--out', target], dir);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^many\.grat:68:3: error\[E0406\]: this region has 2,000 terms; a region takes at most 64\n/);
    }
    expect(readdirSync(dir)).toEqual(['many.grat']);
  });
});

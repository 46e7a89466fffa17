/**
 * `gratc patch`, `gratc run` and `gratc demo`, in-process: tables, JSON, exit codes, hostile
 * input (one line, exit 1, nothing left behind).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommanderError } from 'commander';
import { buildProgram } from '../cli/run.js';
import { CliError, EXIT, oneLine } from '../cli/exit.js';
import { memoryIo } from '../cli/io.js';
import { registerDemo } from '../cli/commands/demo.js';
import { registerPatch } from '../cli/commands/patch.js';
import { registerRun } from '../cli/commands/run.js';
import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import { loadModel, saveModel } from '../runtime/onnx/model.js';
import { parseNpy } from '../runtime/onnx/npy.js';
import { maxAbsDiff } from '../runtime/onnx/run.js';

const F = join(import.meta.dirname, 'fixtures/onnx');
const dir = mkdtempSync(join(tmpdir(), 'gratc-onnx-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** runCli, with the ONNX commands registered (until cli/run.ts registers them itself). */
async function gratc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = memoryIo(dir);
  let code: number = EXIT.ok;
  const ctx = { io, exit: (c: number) => { code = Math.max(code, c); } };
  const program = buildProgram(ctx);
  const has = (n: string): boolean => program.commands.some((c) => c.name() === n);
  if (!has('patch')) registerPatch(program, ctx);
  if (!has('run')) registerRun(program, ctx);
  if (!has('demo')) registerDemo(program, ctx);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.code === 'commander.helpDisplayed' ? EXIT.ok : EXIT.usage;
    else if (e instanceof CliError) { io.err(`gratc: error: ${e.message}\n`); code = Math.max(code, e.exitCode); }
    else { io.err(`gratc: error: internal error: ${oneLine(e)}\n`); code = EXIT.usage; }
  }
  return { code, stdout: io.stdout, stderr: io.stderr };
}

writeFileSync(join(dir, 'p.grat'), 'pattern p\ngrid h=? w=?\ngroup h=4 w=4\ntext ? before\nimage attends neighbors(0) + text\nhead_dim 16\ndtype fp32\n');
writeFileSync(join(dir, 'bad.grat'), 'pattern p\ngrid h=8 w=8\nimage attends nowhere\n');
for (const f of ['dyn20_joint.onnx', 'ts17_fused_sdpa.onnx', 'text.npy', 'image.npy', 'x.npy']) copyFileSync(join(F, f), join(dir, f));

describe('gratc patch', () => {
  it('prints the table and writes the patched model', async () => {
    const r = await gratc('patch', 'dyn20_joint.onnx', '--pattern', 'p.grat', '--grid', '8x8', '--out', 'joint.grat.onnx');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^#\s+nodes\s+form\s+heads\s+head_dim\s+seq\s+scale\s+patched/);
    expect(r.stdout).toMatch(/matmul-softmax\s+2\s+16\s+72\s+0\.25\s+yes: ai\.grat::p_/);
    expect(r.stdout).toMatch(/patched 2 of 2 attentions → joint\.grat\.onnx/);
    expect(existsSync(join(dir, 'joint.grat.onnx'))).toBe(true);
  });

  it('--json', async () => {
    const r = await gratc('patch', 'ts17_fused_sdpa.onnx', '--pattern', 'p.grat', '--grid', '8x8', '--out', 'f.onnx', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ patched: 1, out: 'f.onnx', pattern: 'p' });
    expect(j.attentions[0]).toMatchObject({ form: 'matmul-softmax', heads: 2, headDim: 16, seq: 72, patched: true });
  });

  it('refuses a pattern that does not fit, writing nothing', async () => {
    const r = await gratc('patch', 'ts17_fused_sdpa.onnx', '--pattern', 'p.grat', '--grid', '9x9', '--out', 'none.onnx');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/no: sequence length 72 is shorter than the grid's 81 tokens/);
    expect(r.stderr).toBe("gratc: error: no attention of 'ts17_fused_sdpa.onnx' could be patched (see the table); nothing was written\n");
    expect(existsSync(join(dir, 'none.onnx'))).toBe(false);
  });

  it('hostile models: one line, exit 1, nothing left behind', async () => {
    const good = readFileSync(join(F, 'ts17_fused_sdpa.onnx'));
    writeFileSync(join(dir, 'trunc.onnx'), good.subarray(0, good.length >> 1));
    writeFileSync(join(dir, 'junk.onnx'), 'this is not a model at all');
    const { model } = await loadModel(join(F, 'ts17_fused_sdpa.onnx'));
    writeFileSync(join(dir, 'opset99.onnx'), toBinary(ModelProtoSchema, { ...model, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 99n })] }));
    await saveModel(model, join(dir, 'ext.onnx'), { externalThreshold: 0 });
    rmSync(join(dir, 'ext.onnx.data'));
    const before = readdirSync(dir).sort();
    for (const m of ['trunc.onnx', 'junk.onnx', 'missing.onnx', 'opset99.onnx', 'ext.onnx']) {
      const r = await gratc('patch', m, '--pattern', 'p.grat', '--grid', '8x8', '--out', 'hostile.onnx');
      expect(r.code, m).toBe(1);
      expect(r.stderr.trimEnd().split('\n'), m).toHaveLength(1);
      expect(r.stderr).toMatch(/^gratc: error: /);
      const ran = await gratc('run', m, '--input', 'x=x.npy');
      expect(ran.code, m).toBe(1);
      expect(ran.stderr.trimEnd().split('\n'), m).toHaveLength(1);
    }
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('pattern errors are diagnostics (exit 1); usage errors exit 2', async () => {
    const bad = await gratc('patch', 'ts17_fused_sdpa.onnx', '--pattern', 'bad.grat', '--out', 'x.onnx');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.grat:3:/);
    expect((await gratc('patch', 'ts17_fused_sdpa.onnx', '--pattern', 'p.grat')).code).toBe(2);
    expect((await gratc('patch', 'ts17_fused_sdpa.onnx', '--pattern', 'p.grat', '--grid', '8x8', '--out', 'ts17_fused_sdpa.onnx')).code).toBe(2);
  });
});

describe('gratc run', () => {
  it('runs original and patched models on .npy inputs', async () => {
    const r = await gratc('run', 'dyn20_joint.onnx', '--input', 'text=text.npy', '--input', 'image=image.npy', '--output', 'y.npy');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^y: float32\[1, 64, 32\] min .* → y\.npy/);
    const y = parseNpy(readFileSync(join(dir, 'y.npy')), 'y.npy');
    expect(maxAbsDiff(y, parseNpy(readFileSync(join(F, 'y_dyn20_joint.npy')), 'ref'))).toBeLessThan(1e-4);
    await gratc('patch', 'dyn20_joint.onnx', '--pattern', 'p.grat', '--grid', '8x8', '--out', 'joint2.grat.onnx');
    const p = await gratc('run', 'joint2.grat.onnx', '--input', 'text=text.npy', '--input', 'image=image.npy', '--json');
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout).outputs[0]).toMatchObject({ name: 'y', shape: [1, 64, 32], dtype: 'float32' });
  });

  it('bad inputs: one line, exit 1', async () => {
    const missing = await gratc('run', 'dyn20_joint.onnx', '--input', 'text=text.npy');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("gratc: error: missing input 'image' (the model takes text, image)\n");
    writeFileSync(join(dir, 'bad.npy'), 'nope');
    const bad = await gratc('run', 'ts17_fused_sdpa.onnx', '--input', 'x=bad.npy');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^gratc: error: 'bad\.npy' is not a usable \.npy file/);
    const shape = await gratc('run', 'ts17_fused_sdpa.onnx', '--input', 'x=text.npy');
    expect(shape.code).toBe(1);
    expect(shape.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect((await gratc('run', 'ts17_fused_sdpa.onnx', '--input', 'x.npy')).code).toBe(2);
  });
});

describe('gratc demo', () => {
  it('patches the default model, matches the dense-masked reference, reports density and speedup', async () => {
    const r = await gratc('demo', '--grid', '32x32', '--text', '8', '--repeat', '1', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rows).toHaveLength(2);
    expect(j.rows.every((x: { patched: boolean }) => x.patched)).toBe(true);
    expect(j.maxDiff).toBeLessThan(1e-4);
    expect(j.density).toBeGreaterThan(0);
    expect(j.density).toBeLessThan(1);
    // the figures agree with each other (timings vary run to run; their ratio is the speedup)
    expect(j.speedupBound).toBeCloseTo(1 / j.density, 6);
    expect(j.ms.original).toBeGreaterThan(0);
    expect(j.ms.patched).toBeGreaterThan(0);
    expect(j.speedup).toBeCloseTo(j.ms.original / j.ms.patched, 10);
    const t = await gratc('demo', '--grid', '32x32', '--text', '8', '--repeat', '1');
    expect(t.stdout).toMatch(/max diff\s+\S+ vs the dense-masked reference \(tolerance 1e-4\) ok/);
    expect(t.stdout).toContain(`density ${j.density.toFixed(4)} (at most ${j.speedupBound.toFixed(2)}x less attention work)`);
    expect(t.stdout).toMatch(/^time {7}original \d+\.\d ms, patched \d+\.\d ms \(cpu, median of 1\)$/m);
    expect(t.stdout).toMatch(/^speedup {4}\d+\.\d\dx$/m);
  });
});

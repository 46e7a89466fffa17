/**
 * `gratc verify`, in-process: the program is built as cli/run.ts builds it, plus the verify
 * command (registered here until cli/run.ts does), and errors become exit codes as runCli does.
 */
import { CommanderError } from 'commander';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { register } from '../cli/commands/verify.js';
import { CliError, EXIT } from '../cli/exit.js';
import { WorkRefused } from '../compiler/cost.js';
import { memoryIo } from '../cli/io.js';
import { buildProgram } from '../cli/run.js';
import { gpuTimeout } from './support/gpu_budget.js';

const ROOT = join(import.meta.dirname, '..');

async function gratc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = memoryIo(ROOT);
  let code = 0;
  const ctx = { io, exit: (c: number) => { code = Math.max(code, c); } };
  const program = buildProgram(ctx);
  if (!program.commands.some((c) => c.name() === 'verify')) register(program, ctx);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.code === 'commander.helpDisplayed' ? 0 : EXIT.usage;
    else if (e instanceof CliError) { io.err(`gratc: error: ${e.message}\n`); code = Math.max(code, e.exitCode); }
    else if (e instanceof WorkRefused) { io.err(`gratc: error: ${e.message}\n`); code = Math.max(code, EXIT.diagnostics); } else throw e;
  }
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('gratc verify', () => {
  it('runs the WGSL kernel and prints the max error per precision and layout', async () => {
    const r = await gratc('verify', 'examples/sliding_window_1d.grat', '--grid', '200', '--heads', '2');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sliding_window_1d: 200 tokens, batch 1, heads 2 on /);
    expect(r.stdout.match(/max \|error\| .* ok$/gm)).toHaveLength(4);
  }, gpuTimeout({ compiles: [64, 64], runs: 4 })); // f32 and f16: the kernels of webgpu.lavapipe's sliding window

  it('prints JSON, and exits 1 when an error is above the tolerance', async () => {
    // head_dim 64 (a 128 kernel's first dispatch costs lavapipe three times the CPU)
    const r = await gratc('verify', 'examples/cuda_dit_b.grat', '--valid', '5', '--layout', 'bnhd', '--precision', 'f16', '--tolerance', '1e-9', '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as { ok: boolean; tokens: number; runs: { valid: number; ok: boolean; maxAbsError: number }[] };
    expect(j).toMatchObject({ ok: false, tokens: 992 });
    expect(j.runs).toHaveLength(1);
    expect(j.runs[0]).toMatchObject({ valid: 5, ok: false });
    expect(j.runs[0].maxAbsError).toBeLessThan(4e-3);
  }, gpuTimeout({ compiles: [64], runs: 1 }));

  it('verifies the ONNX model through onnxruntime', async () => {
    const r = await gratc('verify', 'examples/sliding_window_1d.grat', '--grid', '160', '--backend', 'onnx', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, runs: [{ backend: 'onnx', ok: true }] });
  });

  it('takes text lengths per sample (--valid 300,0 with --batch 2) for both backends, and refuses a count that is not the batch', async () => {
    const onnx = await gratc('verify', 'examples/flux_grat_b.grat', '--grid', '8x8', '--backend', 'onnx', '--batch', '2', '--valid', '300,0', '--json');
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(JSON.parse(onnx.stdout)).toMatchObject({ ok: true, batch: 2, runs: [{ backend: 'onnx', valid: [300, 0], ok: true }] });
    const text = await gratc('verify', 'examples/flux_grat_b.grat', '--grid', '8x8', '--backend', 'onnx', '--batch', '3', '--valid', '0,900,7');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/onnx onnx-cpu bhnd valid=0,512,7: max \|error\| .* ok$/m); // clamped to the 512 text tokens
    // the kernels of webgpu.lavapipe's sliding window... have no text: cuda_dit_b (head_dim 64) has
    const gpu = await gratc('verify', 'examples/cuda_dit_b.grat', '--batch', '2', '--valid', '0,5', '--layout', 'bnhd', '--precision', 'f16', '--json');
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(JSON.parse(gpu.stdout)).toMatchObject({ ok: true, runs: [{ backend: 'webgpu', valid: [0, 5], ok: true }] });
    const wrong = await gratc('verify', 'examples/flux_grat_b.grat', '--grid', '8x8', '--backend', 'onnx', '--batch', '3', '--valid', '1,2');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe('gratc: error: --valid gives 2 lengths for --batch 3: give one per sample, or one for all\n');
    expect((await gratc('verify', 'examples/flux_grat_b.grat', '--grid', '8x8', '--valid', '1,x')).code).toBe(2);
  }, gpuTimeout({ compiles: [64], runs: 3 }));

  it('--launch-sizes runs the kernel and the model built with the ? sizes left to launch at --grid', async () => {
    const onnx = await gratc('verify', 'examples/flux_grat_b.grat', '--grid', '20x36', '--launch-sizes', '--backend', 'onnx', '--batch', '2', '--valid', '300,0', '--json');
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(JSON.parse(onnx.stdout)).toMatchObject({ ok: true, launchSizes: true, tokens: 720 + 512, runs: [{ backend: 'onnx', valid: [300, 0], ok: true }] });
    const gpu = await gratc('verify', 'examples/sliding_window_1d.grat', '--grid', '203', '--launch-sizes', '--batch', '2', '--layout', 'bnhd', '--precision', 'f32');
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(gpu.stdout).toMatch(/^sliding_window_1d: 203 tokens, batch 2, heads 1 on .* \(sizes taken at launch\)\n  webgpu f32-\S+ bnhd valid=0: max \|error\| .* ok\n$/);
    const fixed = await gratc('verify', 'examples/video_causal_anchor.grat', '--launch-sizes', '--backend', 'onnx', '--sample', '1');
    expect(fixed.code).toBe(2);
    expect(fixed.stderr).toMatch(/fixes every size: --launch-sizes needs a \? grid size or text count/);
  }, gpuTimeout({ compiles: [64], runs: 2 }));

  it('exits 2 on usage errors and 1 on errors in the file, with one-line messages', async () => {
    expect((await gratc('verify', 'examples/flux_grat_b.grat', '--grid', '8x8', '--layout', 'nhwc')).code).toBe(2);
    expect((await gratc('verify', 'examples/nope.grat')).code).toBe(2);
    // refused by the cost model before any work: one line naming the reference's multiply-adds
    const big = await gratc('verify', 'examples/flux_grat_b.grat', '--grid', '256x256');
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/^gratc: error: verify \(the float64 reference\) would need 5\.27e\+10 multiply-adds \(limit 4\.00e\+9\); .*--sample 8[^\n]*\n$/);
    expect((await gratc('verify', 'examples/flux_grat_b.grat')).code).toBe(1); // ? grid unbound
  });

  it('has help with an example', async () => {
    const r = await gratc('verify', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('$ gratc verify examples/flux_grat_b.grat');
  });
});

/**
 * Dawn's "maxDynamic...BuffersPerPipelineLayout artificially reduced" lines (printed by native
 * code on fd 2 whenever a Vulkan adapter opens) never reach the user; anything else native code
 * prints there still does (runtime/native_stderr.ts).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DAWN_LIMIT_NOTICE, withoutNoise } from '../runtime/native_stderr.js';
import { MAIN, ROOT } from './support/cli.js';

const NOTICE = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';

/**
 * Runs node with ARGS and returns its stderr as it reaches a shell pipe (a FIFO, as in
 * `gratc ... 2>&1 | less`): Node's own child pipes are sockets, which cannot be reopened, so
 * there the filter stands aside (runtime/native_stderr.ts).
 */
function stderrThroughFifo(args: readonly string[]): { code: number; stderr: string } {
  const r = spawnSync('bash', ['-c', 'set -o pipefail; "$0" "$@" 2>&1 >/dev/null | cat', process.execPath, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stderr: r.stdout };
}

describe('native stderr noise', () => {
  it('drops exactly the two Dawn lines', () => {
    const other = 'Warning: something else entirely\nerror: vkCreateDevice failed\n';
    expect(withoutNoise(NOTICE + other + NOTICE.replace('Uniform', 'Storage'))).toBe(other);
    expect(withoutNoise('x Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1 to 16 to fit dynamic offset allocation limit.\n')).not.toBe('');
    expect(DAWN_LIMIT_NOTICE.flags).toContain('g');
  });

  it('forwards what native code writes on fd 2 during the call, less the notice', () => {
    const dist = join(ROOT, 'dist', 'runtime', 'native_stderr.js');
    const r = stderrThroughFifo(['--input-type=module', '-e', `
      import { writeSync } from 'node:fs';
      const { quietNative } = await import(${JSON.stringify(dist)});
      process.stderr.write('before\\n');
      const v = await quietNative(async () => { writeSync(2, ${JSON.stringify(NOTICE)} + 'native: kept\\n'); return 42; });
      process.stderr.write('after ' + v + '\\n');`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('before\nnative: kept\nafter 42\n');
  });

  it('gratc verify --backend webgpu and onnxruntime\'s WebGPU provider print nothing on stderr (a pipe)', () => {
    const wgsl = stderrThroughFifo([MAIN, 'verify', 'examples/sliding_window_1d.grat', '--grid', '200', '--precision', 'f32', '--layout', 'bhnd']);
    expect(wgsl.code, wgsl.stderr).toBe(0);
    expect(wgsl.stderr).toBe('');
    const ort = stderrThroughFifo([MAIN, 'verify', 'examples/sliding_window_1d.grat', '--grid', '200', '--backend', 'onnx', '--ep', 'webgpu']);
    expect(ort.code, ort.stderr).toBe(0);
    expect(ort.stderr).toBe('');
  }, 180_000);
});

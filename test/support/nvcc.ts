/**
 * How the nvcc tests run a compiler: `run` (a child process's exit code and its stdout and stderr
 * together, never throwing) and `TORCH_FLAGS`, the flags torch.utils.cpp_extension passes nvcc
 * (so a kernel is compiled here as the generated package builds it on a GPU machine).
 */
import { spawn } from 'node:child_process';

export function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
    p.on('error', (e) => resolve({ code: -1, out: String(e) }));
  });
}

export const TORCH_FLAGS = ['-D__CUDA_NO_HALF_OPERATORS__', '-D__CUDA_NO_HALF_CONVERSIONS__', '-D__CUDA_NO_BFLOAT16_CONVERSIONS__',
  '-D__CUDA_NO_HALF2_OPERATORS__', '--expt-relaxed-constexpr', '-Xcompiler', '-fPIC'];

/** Runs `f` over `items` with at most `n` in flight (compiler processes), results in item order. */
export async function pool<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await f(items[i]); }
  }));
  return out;
}

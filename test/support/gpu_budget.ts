/**
 * Timeouts of the WebGPU tests, from the work each declares. On lavapipe a kernel's first dispatch
 * is its compile (LLVM): measured cold (MESA_SHADER_CACHE_DISABLE=true), with calm polling
 * (runtime/webgpu/dawn_poll.ts), up to ~7 CPU s at head_dim 64 and ~17 at 128. A run at test
 * sizes (upload, dispatch, read back, the float64 reference) takes under 1 CPU s. The allowance
 * is SLOWDOWN times that: CI runs two test files at once on 2 cores (one may be running two nvcc
 * processes), perhaps beside another CPU-bound process, and the rest is margin. Measured: lavapipe
 * beside cuda.nvcc_sm90a and a `yes` hog, with other work on the machine too (load average 9),
 * took 6.2 s of wall time per CPU s. So a timeout means a hang or a kernel far slower than it
 * should be, not a busy machine.
 */

/** CPU seconds of one kernel's first dispatch on lavapipe, by head_dim (other sizes: the larger). */
export const COMPILE_CPU_S: Readonly<Record<number, number>> = { 64: 7, 128: 17 };
/** CPU seconds of one verified run of a compiled kernel at test sizes. */
export const RUN_CPU_S = 1;
/** Wall time per CPU second allowed. */
export const SLOWDOWN = 10;
/** Device start-up and slack, seconds. */
const BASE_S = 20;

export interface GpuWork {
  /** head_dim of each kernel variant compiled (first dispatched) by the test. */
  readonly compiles: readonly number[];
  /** Runs (dispatch + read back + reference) of compiled kernels. */
  readonly runs: number;
}

const compileCpu = (headDim: number): number => COMPILE_CPU_S[headDim] ?? COMPILE_CPU_S[128];

/** The timeout (ms) of a test doing `work`. */
export function gpuTimeout(work: GpuWork): number {
  const cpu = work.compiles.reduce((s, d) => s + compileCpu(d), 0) + work.runs * RUN_CPU_S;
  return Math.round(1000 * (BASE_S + SLOWDOWN * cpu));
}

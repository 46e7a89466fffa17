/**
 * Calmer event polling for Dawn in Node. dawn.node (the `webgpu` package) delivers the results of
 * GPU promises (mapAsync, onSubmittedWorkDone, popErrorScope, ...) by re-arming `setImmediate`
 * with an anonymous native callback for as long as any of them is pending: a busy loop that holds
 * one core while the GPU works. With a software driver the GPU is the CPU: lavapipe compiles a
 * kernel (LLVM, seconds) at its first dispatch, and on a 2-core machine the loop beside it about
 * doubled that dispatch's CPU time (a 1-D window kernel, f32: 7.9 → 3.8 CPU s; 28.6 → 10.3 s wall
 * on a loaded machine).
 *
 * `calmDawnPolling()` lets each wait spin for its first SPIN_POLLS polls (a short wait keeps its
 * latency), then routes Dawn's re-arming through setTimeout(POLL_MS). A wait is the chain of
 * polls each scheduled from inside the previous one. Every other `setImmediate` is untouched.
 * Process-wide and for Node only; the benchmark, which times waits, does not install it.
 */

/** Polls of a wait that run back to back before it slows down. */
export const SPIN_POLLS = 100;
/** Milliseconds between later polls. */
export const POLL_MS = 1;

type Callback = (...args: unknown[]) => void;

/** dawn.node's poll callback: a native function without a name (napi). */
export const isDawnPoll = (f: unknown): f is Callback =>
  typeof f === 'function' && f.name === '' && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(f));

let installed = false;

export function calmDawnPolling(): void {
  if (installed) return;
  installed = true;
  const immediate = globalThis.setImmediate;
  let inPoll = false; // a poll is running: the re-arm it asks for continues its wait
  let polls = 0;      // polls of the current wait so far
  const calm = (cb: unknown, ...args: unknown[]): unknown => {
    if (!isDawnPoll(cb)) return (immediate as (cb: unknown, ...a: unknown[]) => unknown)(cb, ...args);
    polls = inPoll ? polls + 1 : 0;
    const poll = (): void => {
      inPoll = true;
      try { cb(...args); } finally { inPoll = false; }
    };
    return polls < SPIN_POLLS ? immediate(poll) : setTimeout(poll, POLL_MS);
  };
  // keeps util.promisify's hook and anything else hung on the original
  globalThis.setImmediate = Object.assign(calm, immediate) as unknown as typeof setImmediate;
}

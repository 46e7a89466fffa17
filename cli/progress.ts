/**
 * Progress for work that can take more than a few seconds (shader compilation on lavapipe, the
 * float64 reference, onnxruntime sessions, big emits, large ONNX models): one bar, on stderr,
 * drawn only when stderr is a terminal (`Io.progress`) and `--quiet` was not given, so stdout,
 * pipes, files and JSON output never see it. The bar names the running stage and clears itself
 * when the work ends, however it ends. (The Python loader's first nvcc build has its own line:
 * codegen/cuda/templates/loader.py.hbs.)
 */
import { SingleBar } from 'cli-progress';
import { Option } from 'commander';
import type { Io } from './io.js';

export interface Progress {
  /** `done` of the total steps are finished; `stage` is running now. */
  update(done: number, stage: string): void;
  /** Changes the number of steps (when it is known only once the work has started). */
  setTotal(total: number): void;
  /** Clears the bar (idempotent): before anything else is printed on stderr. */
  stop(): void;
}

const NONE: Progress = { update: () => undefined, setTotal: () => undefined, stop: () => undefined };

/** Bars not yet stopped: a command that throws midway must not leave one drawn (or its timer running). */
const live = new Set<Progress>();

/** Stops every bar still drawn (cli/run.ts, whatever way a command ends). */
export function stopAllProgress(): void {
  for (const p of [...live]) p.stop();
}

/** `-q, --quiet` for every command with progress. */
export const quietOption = (): Option => new Option('-q, --quiet', 'no progress on stderr (drawn only when stderr is a terminal)');

/** A bar of `total` steps, or one that draws nothing (not a terminal, or quiet). */
export function startProgress(io: Io, total: number, stage: string, quiet = false): Progress {
  const stream = io.progress;
  if (quiet || !stream) return NONE;
  const bar = new SingleBar({
    format: ' {bar} {value}/{total} {stage} ({duration_formatted})',
    hideCursor: true,
    clearOnComplete: true,
    gracefulExit: true,
    stream,
  });
  let steps = Math.max(1, total);
  bar.start(steps, 0, { stage });
  let stopped = false;
  const p: Progress = {
    update: (done, s) => { if (!stopped) bar.update(Math.min(done, steps), { stage: s }); },
    setTotal: (n) => { if (!stopped) { steps = Math.max(1, n); bar.setTotal(steps); } },
    stop: () => { if (!stopped) { stopped = true; live.delete(p); bar.stop(); } },
  };
  live.add(p);
  return p;
}

/** Runs `f` with a bar that is cleared when `f` returns or throws. */
export async function withProgress<T>(io: Io, opts: { total: number; stage: string; quiet?: boolean }, f: (p: Progress) => Promise<T>): Promise<T> {
  const p = startProgress(io, opts.total, opts.stage, opts.quiet);
  try {
    return await f(p);
  } finally {
    p.stop();
  }
}

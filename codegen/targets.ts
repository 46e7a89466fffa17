/**
 * The targets of this build and the `schedule <target>` settings each accepts, as every backend
 * declares them (codegen/<target>/target.ts). Light on purpose: the CLI reads it on every run
 * (the --target choices; the schedule table it passes to checkSource), without loading a
 * code generator (codegen/all.ts).
 */
import { TARGET as cuda } from './cuda/target.js';
import { TARGET as onnx } from './onnx/target.js';
import { TARGET as wgsl } from './wgsl/target.js';

const ALL = [cuda, wgsl, onnx] as const;

export type Target = (typeof ALL)[number]['name'];
export const TARGETS: readonly Target[] = ALL.map((t) => t.name);

/** What `checkSource(text, { schedules })` validates `schedule` statements against. */
export const SCHEDULE_KEYS: Readonly<Record<Target, readonly string[]>> = { [cuda.name]: cuda.scheduleKeys, [wgsl.name]: wgsl.scheduleKeys, [onnx.name]: onnx.scheduleKeys };

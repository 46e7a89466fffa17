/**
 * Schedule hints each target accepts (`schedule cuda block_q=128 ...`). Kept apart from the
 * pattern: they change how a kernel runs, never what it computes. Backends read them with
 * defaults and may reject values they cannot honour.
 */
import type { Target } from './ir.js';

export const SCHEDULE_KEYS: Readonly<Record<Target, readonly string[]>> = {
  cuda: ['block_q', 'block_k', 'warps', 'stages'],
  wgsl: ['block_q', 'block_k', 'workgroup'],
  onnx: ['query_chunk'],
};

/// <reference types="@webgpu/types" />
/**
 * Runs a pattern's WGSL kernel on random inputs and compares it with the float64 reference
 * (compiler/reference.ts, the definition). Node-only: `gratc verify --backend webgpu`, the tests
 * and the benchmark's correctness check use it.
 */
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { referenceAttention, resolveValid } from '../../compiler/reference.js';
import { compileWgsl } from '../../codegen/wgsl/source.js';
import { createGratAttention, fromHalf, toHalf, type GratKernelSource, type Layout, type Precision, type Reduction } from './index.js';
import { nodeGpu, type NodeBackend, type NodeGpu } from './node.js';

export interface VerifyOptions {
  readonly batch?: number;
  readonly heads?: number;
  readonly layout?: Layout;
  readonly precision?: Precision;
  readonly reduction?: Reduction;
  /** Valid text length (default: every text token). */
  readonly valid?: number;
  readonly seed?: number;
  /** Largest |error| accepted (default: 2e-4 for f32, 4e-3 for f16). */
  readonly tolerance?: number;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly maxAbsError: number;
  /** Where the largest error is: flat element index, expected and actual values. */
  readonly worst: { index: number; expected: number; actual: number };
  readonly tolerance: number;
  readonly kernel: string;
  readonly variant: string;
  readonly precision: Precision;
  readonly layout: Layout;
  readonly batch: number;
  readonly heads: number;
  readonly tokens: number;
  readonly valid: number;
  readonly seed: number;
  readonly device: string;
}

export const DEFAULT_TOLERANCE: Record<Precision, number> = { f32: 2e-4, f16: 4e-3 };

/** Seeded uniform [-1, 1) values (mulberry32). */
export function randomValues(n: number, seed: number): Float64Array {
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Values as the device stores them (rounded to f16 or f32), in float64. */
function quantize(x: Float64Array, p: Precision): Float64Array {
  return p === 'f16' ? x.map((v) => fromHalf(toHalf(v))) : Float64Array.from(Float32Array.from(x));
}

let shared: Promise<NodeGpu> | null = null;
/** One device per process (Dawn start-up costs ~1 s). */
export const sharedNodeGpu = (backend: NodeBackend = 'default'): Promise<NodeGpu> => (shared ??= nodeGpu(backend));

export async function verifyWebgpu(ir: PatternIR, opts: VerifyOptions = {}, gpu?: NodeGpu, prebuilt?: GratKernelSource): Promise<VerifyResult> {
  let source = prebuilt;
  if (!source) {
    const compiled = compileWgsl(ir);
    if (!compiled.source) throw new Error(compiled.diagnostics.map((d) => d.message).join('; ') || 'the WGSL backend cannot compile this pattern');
    source = compiled.source;
  }
  const g = gpu ?? await sharedNodeGpu();
  const attn = await createGratAttention(g.device, source, { precision: opts.precision, reduction: opts.reduction });
  const B = opts.batch ?? 1, H = opts.heads ?? 1, layout = opts.layout ?? 'bhnd';
  const seed = opts.seed ?? 1;
  const N = totalTokens(ir), D = ir.headDim, n = B * H * N * D;
  const p = attn.precision;
  const q = quantize(randomValues(n, seed), p), k = quantize(randomValues(n, seed + 1), p), v = quantize(randomValues(n, seed + 2), p);
  const valid = resolveValid(ir, opts.valid);
  const tq = attn.createTensor(layout, B, H, q), tk = attn.createTensor(layout, B, H, k), tv = attn.createTensor(layout, B, H, v);
  const out = attn.createTensor(layout, B, H, new Float32Array(n).fill(Number.NaN)); // unwritten rows show up as NaN
  attn.run({ q: tq, k: tk, v: tv, out, valid });
  const got = await attn.read(out);
  for (const t of [tq, tk, tv, out]) t.buffer.destroy();
  const want = referenceAttention(ir, q, k, v, { batch: B, heads: H, layout, valid });
  let max = 0, worst = { index: -1, expected: 0, actual: 0 };
  for (let i = 0; i < n; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= max)) { // NaN counts as the worst
      max = Number.isNaN(e) ? Infinity : e;
      worst = { index: i, expected: want[i], actual: got[i] };
      if (max === Infinity) break;
    }
  }
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE[p];
  return {
    ok: max <= tolerance,
    maxAbsError: max,
    worst,
    tolerance,
    kernel: source.kernel,
    variant: attn.variant.id,
    precision: p,
    layout,
    batch: B,
    heads: H,
    tokens: N,
    valid,
    seed,
    device: g.description,
  };
}

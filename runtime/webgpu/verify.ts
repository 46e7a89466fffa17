/// <reference types="@webgpu/types" />
/**
 * Runs a pattern's WGSL kernel on random inputs and compares it with the float64 reference
 * (compiler/reference.ts, the definition). Node-only: `gratc verify --backend webgpu`, the tests
 * and the benchmark's correctness check use it.
 */
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { groupCount } from '../../compiler/ir.js';
import type { Run } from '../../compiler/keys.js';
import { referenceAttention, resolveValid, sampleRows, type ReferenceOptions, type RowSample } from '../../compiler/reference.js';
import { compileWgsl } from '../../codegen/wgsl/source.js';
import { createGratAttention, fromHalf, toHalf, type GratKernelSource, type Layout, type Precision, type QStaging, type Reduction } from './index.js';
import { calmDawnPolling } from './dawn_poll.js';
import { nodeGpu, type NodeBackend, type NodeGpu } from './node.js';
import { mulberry32 } from '../random.js';

export interface VerifyOptions {
  readonly batch?: number;
  readonly heads?: number;
  readonly layout?: Layout;
  readonly precision?: Precision;
  readonly reduction?: Reduction;
  readonly qStaging?: QStaging;
  /** Subgroup matrices: true runs only that variant, false never (default: the runtime's choice). */
  readonly matrix?: boolean;
  /** Valid text length (default: every text token): one for every sample, or one per sample. */
  readonly valid?: number | readonly number[];
  readonly seed?: number;
  /** Largest |error| accepted (default: 2e-4 for f32, 4e-3 for f16). */
  readonly tolerance?: number;
  /** Check only this many image query groups (and the text rows) against the reference. */
  readonly sample?: number;
  /** Told the stage now running (progress). */
  readonly onStage?: (stage: 'compile' | 'run' | 'reference') => void;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly maxAbsError: number;
  /** Where the largest error is: flat element index, expected and actual values. */
  readonly worst: { index: number; expected: number; actual: number };
  readonly tolerance: number;
  readonly kernel: string;
  readonly variant: string;
  /** Why the runtime chose that variant on this device. */
  readonly reason: string;
  readonly precision: Precision;
  readonly layout: Layout;
  readonly batch: number;
  readonly heads: number;
  readonly tokens: number;
  /** The valid text length (clamped), or one per sample when lengths were given per sample. */
  readonly valid: number | number[];
  readonly seed: number;
  readonly device: string;
  /** The rows checked when sampling (null: every row was). */
  readonly sampled: RowSample | null;
}

export const DEFAULT_TOLERANCE: Record<Precision, number> = { f32: 2e-4, f16: 4e-3 };

/** The lengths per sample as given (clamped to [0, text count]), or one for all. */
export function resolveValids(ir: PatternIR, valid: number | readonly number[] | undefined, batch: number): number | number[] {
  if (typeof valid === 'number' || valid === undefined) return resolveValid(ir, valid);
  if (valid.length !== batch) throw new RangeError(`${valid.length} valid lengths for a batch of ${batch}: give one per sample, or one for all`);
  return valid.map((v) => resolveValid(ir, v));
}

/**
 * The float64 reference with a text length per sample: each sample is its own batch of one
 * (a sample's rows are contiguous in both layouts), so the definition is used as it is.
 */
export function referencePerSample(ir: PatternIR, q: Float32Array | Float64Array, k: Float32Array | Float64Array, v: Float32Array | Float64Array, opts: Omit<ReferenceOptions, 'valid'> & { valid: number | readonly number[] }): Float64Array {
  if (typeof opts.valid === 'number') return referenceAttention(ir, q, k, v, { ...opts, valid: opts.valid });
  const per = opts.heads * totalTokens(ir) * ir.headDim, out = new Float64Array(opts.batch * per);
  const part = (x: Float32Array | Float64Array, b: number): Float32Array | Float64Array => x.subarray(b * per, (b + 1) * per);
  opts.valid.forEach((valid, b) => out.set(referenceAttention(ir, part(q, b), part(k, b), part(v, b), { ...opts, batch: 1, valid }), b * per));
  return out;
}

/** Seeded uniform [-1, 1) values (mulberry32). */
export function randomValues(n: number, seed: number): Float64Array {
  const r = mulberry32(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * 2 - 1;
  return out;
}

/** Values as the device stores them (rounded to f16 or f32), in float64. */
function quantize(x: Float64Array, p: Precision): Float64Array {
  return p === 'f16' ? x.map((v) => fromHalf(toHalf(v))) : Float64Array.from(Float32Array.from(x));
}

/**
 * `n` of `0 .. G-1`, chosen by `seed`: the first and the last (grid corners, the ragged edge
 * groups; the first and last text rows) and the rest at random, in increasing order. All of
 * them when n >= G.
 */
export function samplePicks(G: number, n: number, seed: number): number[] {
  if (n >= G) return Array.from({ length: G }, (_, g) => g);
  const picked = new Set<number>([0, G - 1].slice(0, n));
  const r = randomValues(4 * n + 16, seed);
  for (let i = 0; picked.size < n && i < r.length; i++) picked.add(Math.floor(((r[i] + 1) / 2) * G));
  for (let g = 0; picked.size < n; g++) picked.add(g); // n < G: ends
  return [...picked].sort((a, b) => a - b);
}

/**
 * The sample `VerifyOptions.sample` asks for (n image query groups and n text query rows: a text
 * row sees every key, so it costs about a group), or undefined for every row.
 */
export const rowSample = (ir: PatternIR, sample: number | undefined, seed: number): RowSample | undefined =>
  sample === undefined ? undefined : { groups: samplePicks(groupCount(ir), sample, seed ^ 0x5a17), textRows: samplePicks(ir.text?.count ?? 0, sample, seed ^ 0x7e47) };

/**
 * Largest |got − want| over the given token rows (every element when `rows` is null), with its
 * flat index; NaN counts as the worst (Infinity). Tensors are [B, H, N, D] or [B, N, H, D].
 */
export function maxAbsErrorOver(got: ArrayLike<number>, want: ArrayLike<number>, rows: readonly Run[] | null, shape: { batch: number; heads: number; tokens: number; headDim: number; layout: Layout }): { max: number; index: number } {
  let max = 0, index = -1;
  const check = (i: number): boolean => {
    const e = Math.abs(got[i] - want[i]);
    if (e <= max) return false;
    max = Number.isNaN(e) ? Infinity : e;
    index = i;
    return max === Infinity;
  };
  if (rows === null) {
    for (let i = 0; i < got.length; i++) if (check(i)) break;
    return { max, index };
  }
  const { batch: B, heads: H, tokens: N, headDim: D, layout } = shape;
  const stride = layout === 'bhnd' ? D : H * D;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = layout === 'bhnd' ? (b * H + h) * N * D : (b * N * H + h) * D;
      for (const r of rows) {
        for (let t = r.start; t < r.start + r.length; t++) {
          for (let d = 0; d < D; d++) if (check(base + t * stride + d)) return { max, index };
        }
      }
    }
  }
  return { max, index };
}

let shared: Promise<NodeGpu> | null = null;
/**
 * One device per process (Dawn start-up costs ~1 s). Its waits poll calmly (dawn_poll.ts): verify
 * and the tests wait seconds for lavapipe's compiles, and a spinning wait halves the CPU left to them.
 */
export function sharedNodeGpu(backend: NodeBackend = 'default'): Promise<NodeGpu> {
  calmDawnPolling();
  return (shared ??= nodeGpu(backend));
}

export async function verifyWebgpu(ir: PatternIR, opts: VerifyOptions = {}, gpu?: NodeGpu, prebuilt?: GratKernelSource): Promise<VerifyResult> {
  let source = prebuilt;
  if (!source) {
    const compiled = compileWgsl(ir);
    if (!compiled.source) throw new Error(compiled.diagnostics.map((d) => d.message).join('; ') || 'the WGSL backend cannot compile this pattern');
    source = compiled.source;
  }
  const g = gpu ?? await sharedNodeGpu();
  opts.onStage?.('compile');
  const attn = await createGratAttention(g.device, source, { precision: opts.precision, reduction: opts.reduction, qStaging: opts.qStaging, matrix: opts.matrix });
  const B = opts.batch ?? 1, H = opts.heads ?? 1, layout = opts.layout ?? 'bhnd';
  const seed = opts.seed ?? 1;
  const N = totalTokens(ir), D = ir.headDim, n = B * H * N * D;
  const p = attn.precision;
  const q = quantize(randomValues(n, seed), p), k = quantize(randomValues(n, seed + 1), p), v = quantize(randomValues(n, seed + 2), p);
  const valid = resolveValids(ir, opts.valid, B);
  // a kernel compiled with sizes left to launch runs at the IR's (the pattern checked at a concrete size)
  const tq = attn.createTensor(layout, B, H, q, N), tk = attn.createTensor(layout, B, H, k, N), tv = attn.createTensor(layout, B, H, v, N);
  const out = attn.createTensor(layout, B, H, new Float32Array(n).fill(Number.NaN), N); // unwritten rows show up as NaN
  opts.onStage?.('run');
  attn.run({ q: tq, k: tk, v: tv, out, valid, ...(source.runtime ? { grid: ir.dims.map((d) => d.size) } : {}) });
  const got = await attn.read(out);
  for (const t of [tq, tk, tv, out]) t.buffer.destroy();
  const only = rowSample(ir, opts.sample, seed);
  opts.onStage?.('reference');
  const want = referencePerSample(ir, q, k, v, { batch: B, heads: H, layout, valid, only });
  const { max, index } = maxAbsErrorOver(got, want, only ? sampleRows(ir, only) : null, { batch: B, heads: H, tokens: N, headDim: D, layout });
  const worst = { index, expected: index < 0 ? 0 : want[index], actual: index < 0 ? 0 : got[index] };
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE[p];
  return {
    ok: max <= tolerance,
    maxAbsError: max,
    worst,
    tolerance,
    kernel: source.kernel,
    variant: attn.variant.id,
    reason: attn.reason,
    precision: p,
    layout,
    batch: B,
    heads: H,
    tokens: N,
    valid,
    seed,
    device: g.description,
    sampled: only ?? null,
  };
}

/**
 * Running models with onnxruntime-node: the CPU execution provider, or WebGPU (`ep: 'webgpu'`,
 * which needs a Vulkan driver; in CI a software one, lavapipe). Every failure of the runtime
 * becomes one OnnxError line.
 */
import * as ort from 'onnxruntime-node';
import { quietNative } from '../native_stderr.js';
import { OnnxError } from './model.js';
import type { NdArray, NpyDtype } from './npy.js';

export type Ep = 'cpu' | 'webgpu';
export const EPS: readonly Ep[] = ['cpu', 'webgpu'];
/** Most intra-op threads a session is given (100,000 asked of onnxruntime hung at 2 GB). */
export const MAX_THREADS = 1024;

export interface SessionOptions {
  readonly ep?: Ep;
  /** Intra-op threads (default: onnxruntime's choice, one per core). */
  readonly threads?: number;
  /**
   * Whether idle intra-op threads spin waiting for work. Default: no (onnxruntime's own default
   * is yes). On small or shared machines a spinning pool loses its time slices between ops and
   * every op waits on it: on the 2-core benchmark machine spinning made the dense attention graph
   * ~15% and a patched one (hundreds of short ops) up to ~1.7× slower; see bench/onnx/NOTES.md.
   */
  readonly spinning?: boolean;
  /**
   * Whether nodes the EP has no kernel for may run on the CPU EP (onnxruntime's default: yes).
   * `false` makes session creation fail instead (`session.disable_cpu_ep_fallback`): on the WebGPU
   * EP a CPU node is a hidden device↔host transfer and a sync; bench/onnx/NOTES.md "WebGPU EP".
   */
  readonly cpuFallback?: boolean;
  /** Write an onnxruntime profile (JSON) with this file prefix; `session.endProfiling()` ends it. */
  readonly profile?: string;
}

const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();

/** Opens a session on a model file (external data is found beside it) or on model bytes. */
export async function openSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const ep = opts.ep ?? 'cpu';
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 0 && opts.threads <= MAX_THREADS)) {
    throw new OnnxError(`${opts.threads} intra-op threads: at most ${MAX_THREADS}`);
  }
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    extra: { session: { intra_op: { allow_spinning: opts.spinning ? '1' : '0' }, ...(opts.cpuFallback === false ? { disable_cpu_ep_fallback: '1' } : {}) } },
    ...(opts.profile ? { enableProfiling: true, profileFilePrefix: opts.profile } : {}),
    logSeverityLevel: 3,
  };
  try {
    // the WebGPU provider's Dawn prints its limit clamping on fd 2 (runtime/native_stderr.ts)
    const create = (): Promise<ort.InferenceSession> => (typeof model === 'string' ? ort.InferenceSession.create(model, so) : ort.InferenceSession.create(model, so));
    return ep === 'webgpu' ? await quietNative(create) : await create();
  } catch (e) {
    const msg = oneLine(e);
    if (ep === 'webgpu' && /adapter|webgpu|dawn|vulkan/i.test(msg)) throw new OnnxError(`the WebGPU execution provider found no usable GPU adapter (${msg}); install a Vulkan driver (lavapipe for software)`);
    throw new OnnxError(`onnxruntime could not load the model: ${msg}`);
  }
}

const ORT_TYPE: Record<NpyDtype, ort.Tensor.Type> = {
  float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool', float16: 'float16',
};

export function toTensor(a: NdArray): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[a.dtype], a.data as never, a.shape as number[]);
}

export function fromTensor(t: ort.Tensor): NdArray {
  const dtype = (Object.entries(ORT_TYPE).find(([, v]) => v === t.type)?.[0] ?? null) as NpyDtype | null;
  if (!dtype) throw new OnnxError(`output of type ${t.type} cannot be saved as .npy`);
  return { dtype, shape: [...t.dims], data: t.data as NdArray['data'] };
}

/** Runs one inference; checks that every model input is given and no unknown one is. */
export async function runSession(session: ort.InferenceSession, inputs: Readonly<Record<string, NdArray>>): Promise<Record<string, NdArray>> {
  const missing = session.inputNames.filter((n) => !(n in inputs));
  if (missing.length) throw new OnnxError(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} (the model takes ${session.inputNames.join(', ')})`);
  const extra = Object.keys(inputs).filter((n) => !session.inputNames.includes(n));
  if (extra.length) throw new OnnxError(`the model has no input ${extra.map((m) => `'${m}'`).join(', ')} (it takes ${session.inputNames.join(', ')})`);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) feeds[k] = toTensor(v);
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await session.run(feeds);
  } catch (e) {
    throw new OnnxError(`onnxruntime failed to run the model: ${oneLine(e)}`);
  }
  const res: Record<string, NdArray> = {};
  for (const name of session.outputNames) res[name] = fromTensor(out[name] as ort.Tensor);
  return res;
}

/** Opens, runs once, releases. */
export async function runModel(model: string | Uint8Array, inputs: Readonly<Record<string, NdArray>>, opts: SessionOptions = {}): Promise<Record<string, NdArray>> {
  const s = await openSession(model, opts);
  try {
    return await runSession(s, inputs);
  } finally {
    await s.release();
  }
}

/** Median (and fastest) wall time of `repeat` runs after `warmup` runs, in ms. */
export async function timeSession(session: ort.InferenceSession, inputs: Readonly<Record<string, NdArray>>, repeat = 5, warmup = 1): Promise<{ median: number; min: number; all: number[] }> {
  for (let i = 0; i < warmup; i++) await runSession(session, inputs);
  const all: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    await runSession(session, inputs);
    all.push(performance.now() - t0);
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], all };
}

export function maxAbsDiff(a: NdArray, b: NdArray): number {
  if (a.data.length !== b.data.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(Number(a.data[i]) - Number(b.data[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

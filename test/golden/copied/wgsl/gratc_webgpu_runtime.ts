/// <reference types="@webgpu/types" />
/**
 * The WebGPU runtime of gratc's WGSL kernels: the same code runs in Node (the `webgpu` package,
 * see node.ts) and in browsers. It imports nothing (no Node modules, no packages), so a browser
 * can load it as a plain ES module.
 *
 * A compiled pattern is a `GratKernelSource` (its sizes and the WGSL of every variant: emitted
 * by `gratc compile --target wgsl` into a typed module, or built in Node by codegen/wgsl).
 * `createGratAttention(device, source)` picks the variant the device supports, creates its
 * pipeline once per device (cached by kernel name, variant and the device limits it depends on)
 * and returns an object that binds q/k/v/out buffers in [B, H, N, D] or [B, N, H, D] layout,
 * takes the valid text length per call (one for all samples or one per sample), dispatches and
 * reads results back on request.
 */

export type Layout = 'bhnd' | 'bnhd';
export type Precision = 'f32' | 'f16';
/** 'sg4': the subgroup-matrix variant's softmax (a query row's 4 invocations); the others are the SIMT variants' row reductions. */
export type Reduction = 'sg16' | 'sg8' | 'shared' | 'sg4';
/** Where a variant keeps the query tile: workgroup memory ('tile', faster) or the q buffer ('global', fits 16 KiB). */
export type QStaging = 'tile' | 'global';

/** One compiled shader of a pattern (codegen/wgsl/spec.ts: WgslVariant + its code). */
export interface GratVariantSource {
  readonly id: string;
  readonly precision: Precision;
  readonly reduction: Reduction;
  readonly qStaging: QStaging;
  readonly lanes: number;
  readonly threads: number;
  readonly workgroupStorage: number;
  readonly features: readonly string[];
  readonly minSubgroupSize: number;
  /** QK^T and PV on subgroup matrices of this shape (codegen/wgsl/spec.ts SUBGROUP_MATRIX); absent: SIMT FMAs. */
  readonly matrix?: GratMatrixShape;
  readonly code: string;
}

/** Dawn's `chromium-experimental-subgroup-matrix` (codegen/wgsl/spec.ts SUBGROUP_MATRIX_FEATURE). */
export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/** A subgroup-matrix product as adapters list them (GPUSubgroupMatrixConfig: component types, M x N x K). */
export interface GratMatrixConfig {
  readonly componentType: string;
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

/** What a subgroup-matrix variant needs: a config the adapter lists, and subgroups of exactly `subgroupSize` invocations. */
export interface GratMatrixShape extends GratMatrixConfig { readonly subgroupSize: number }

/**
 * Sizes a pattern takes at launch (`grid h=? w=?` compiled without --grid): what the runtime
 * computes per call from the call's grid and text count. Mirrors compiler/plan.ts (bindPlan,
 * launchSizesError) and codegen/cursor.ts (the Geom fields), which this file cannot import.
 */
export interface GratRuntimeSizes {
  /** Per grid dim, outermost first: the compiled size, or null when taken at launch. */
  readonly grid: readonly (number | null)[];
  readonly group: readonly number[];
  /** The largest size of each dim (a compiled dim: its size), text count, tokens and query groups. */
  readonly max: { readonly grid: readonly number[]; readonly text: number; readonly tokens: number; readonly groups: number };
  /** The text segment: where it is and its compiled count, or null when the count is taken at launch. */
  readonly text: { readonly place: 'before' | 'after'; readonly count: number | null } | null;
  /** Which keys text queries see (null: no text queries). */
  readonly textQueries: { readonly grid: boolean; readonly text: boolean } | null;
  /** Query tiles per full group, rows per tile; text tiles split in [1, maxSplits] with at least splitKeys keys a split. */
  readonly tilesPerGroup: number;
  readonly blockQ: number;
  readonly splitKeys: number;
  readonly maxSplits: number;
  /** The kernels' `Geom` uniform (binding 8): its i32 fields in order. */
  readonly geom: readonly string[];
}

/** A compiled pattern: what the runtime needs (N = tokens, D = head_dim as literal types). */
export interface GratKernelSource<N extends number = number, D extends number = number> {
  readonly kernel: string; // pure function of the specialization: the pipeline-cache key
  readonly pattern: string;
  /** Tokens (with `runtime`: the most a launch may have). */
  readonly tokens: N;
  readonly headDim: D;
  /** Text tokens (with `runtime`: the most a launch may have). */
  readonly textCount: number;
  readonly gridTiles: number; // workgroups per (batch, head); with `runtime`, computed per launch (0 here)
  /** Present when some size is taken at launch (GratRunArgs.grid, the tensors' token count). */
  readonly runtime?: GratRuntimeSizes;
  /**
   * Split-K of text query tiles: `splits` workgroups per text tile write partials of `rows`
   * (padded) text rows to scratch buffers (bindings 5, 6); the `combine` entry point merges
   * them. Absent or splits 1: one dispatch, no scratch.
   */
  readonly textSplit?: { readonly splits: number; readonly rows: number };
  readonly scale: number;
  readonly preferred: Precision;
  readonly variants: readonly GratVariantSource[];
}

/** The element order of a tensor's four dimensions, by layout. */
export type ShapeOf<L extends Layout, N extends number, D extends number> = L extends 'bhnd'
  ? readonly [batch: number, heads: number, tokens: N, headDim: D]
  : readonly [batch: number, tokens: N, heads: number, headDim: D];

/** A GPU buffer holding one of q, k, v or out, with its shape and element type. */
export interface GratTensor<N extends number = number, D extends number = number, L extends Layout = Layout> {
  readonly buffer: GPUBuffer;
  readonly layout: L;
  readonly shape: ShapeOf<L, N, D>;
  readonly precision: Precision;
  readonly batch: number;
  readonly heads: number;
}

/** q decides the layout; k, v and out must have the same (NoInfer: they do not widen it). */
export interface GratRunArgs<N extends number, D extends number, L extends Layout> {
  readonly q: GratTensor<N, D, L>;
  readonly k: GratTensor<N, D, NoInfer<L>>;
  readonly v: GratTensor<N, D, NoInfer<L>>;
  readonly out: GratTensor<N, D, NoInfer<L>>;
  /**
   * Valid text length (default: every text token): one for every sample, one per sample (an
   * array or Int32Array of `batch` lengths: CFG batches, batched prompts), or a GPU buffer of
   * `batch` i32 lengths (STORAGE usage; e.g. computed on the device). Clamped to [0, text count].
   */
  readonly valid?: GratValid;
  /** Softmax scale (default: the pattern's). */
  readonly scale?: number;
  /**
   * The grid sizes of this call, outermost first, when the pattern takes them at launch (a
   * compiled size must be given as it is). The text count is then the tensors' tokens − the grid's.
   */
  readonly grid?: readonly number[];
}

/** Text lengths of a run: see GratRunArgs.valid. */
export type GratValid = number | readonly number[] | Int32Array | GPUBuffer;

export interface GratCreateOptions {
  /** Element type of the buffers (default: f16 when the pattern asks for fp16/bf16 and the device has shader-f16, else f32). */
  readonly precision?: Precision;
  /** Force a reduction (tests); default: subgroups when the device has them, else shared memory. */
  readonly reduction?: Reduction;
  /** Force the query staging (tests); default: 'tile' when the device's workgroup storage allows it, else 'global'. */
  readonly qStaging?: QStaging;
  /** The adapter's smallest subgroup size, when the device does not say (see requestGratDevice). */
  readonly subgroupMinSize?: number;
  /** The adapter's largest subgroup size, when the device does not say. */
  readonly subgroupMaxSize?: number;
  /** The adapter's subgroup-matrix configs (adapter.info.subgroupMatrixConfigs), when the device does not say. */
  readonly subgroupMatrixConfigs?: readonly GratMatrixConfig[];
  /**
   * Subgroup matrices (tensor cores): undefined tries them first wherever the device offers the
   * feature and a matching config (f16 precision only); true runs only them (precision f16
   * unless asked otherwise); false never.
   */
  readonly matrix?: boolean;
}

export interface GratAttention<N extends number = number, D extends number = number> {
  readonly source: GratKernelSource<N, D>;
  readonly device: GPUDevice;
  readonly variant: GratVariantSource;
  /** Why this variant runs on this device (the fastest that fits; what the faster ones lacked). */
  readonly reason: string;
  readonly precision: Precision;
  readonly tokens: N;
  readonly headDim: D;
  /**
   * A storage buffer for q, k, v or out; `data` (f32 values) is converted to the precision.
   * `tokens`: the sequence length, for a pattern that takes sizes at launch (default: source.tokens).
   */
  createTensor<L extends Layout>(layout: L, batch: number, heads: number, data?: Float32Array | Float64Array, tokens?: number): GratTensor<N, D, L>;
  /** Writes f32 values into a tensor (converted to its precision). */
  write(t: GratTensor<N, D>, data: Float32Array | Float64Array): void;
  /** Records the dispatch into a pass encoder of the caller's (no submit). */
  encode(pass: GPUComputePassEncoder, args: GratRunArgs<N, D, Layout>): void;
  /** Encodes and submits one run. */
  run<L extends Layout>(args: GratRunArgs<N, D, L>): void;
  /** Copies a tensor back and returns its values as f32. */
  read(t: GratTensor<N, D>): Promise<Float32Array>;
}

/** Adapter facts the runtime needs but a GPUDevice may not expose (older implementations). */
interface AdapterFacts { readonly subgroupMinSize: number; readonly subgroupMaxSize: number; readonly subgroupMatrixConfigs: readonly GratMatrixConfig[] }
const adapterFacts = new WeakMap<GPUDevice, AdapterFacts>();

type AdapterInfoWithSubgroups = GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: Iterable<GratMatrixConfig> };

/** An adapter info's facts (configs copied into plain objects: Dawn's are host objects). */
function factsOf(info: AdapterInfoWithSubgroups | undefined): AdapterFacts {
  const configs = info?.subgroupMatrixConfigs ? [...info.subgroupMatrixConfigs] : [];
  return {
    subgroupMinSize: info?.subgroupMinSize ?? 0,
    subgroupMaxSize: info?.subgroupMaxSize ?? 0,
    subgroupMatrixConfigs: configs.map((c) => ({ componentType: String(c.componentType), resultComponentType: String(c.resultComponentType), M: Number(c.M), N: Number(c.N), K: Number(c.K) })),
  };
}

/** Limits to ask for less of than the adapter offers (tests: a 16 KiB device on a larger adapter). */
export interface GratDeviceCap { readonly maxComputeWorkgroupStorageSize?: number }

/**
 * Requests a device with what gratc's kernels can use: shader-f16, subgroups and subgroup
 * matrices when the adapter has them, and the adapter's largest workgroup storage and buffer sizes.
 */
export async function requestGratDevice(adapter: GPUAdapter, label = 'gratc', cap: GratDeviceCap = {}): Promise<GPUDevice> {
  const want = ['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE].filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    label,
    requiredFeatures: want,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: Math.min(l.maxComputeWorkgroupStorageSize, cap.maxComputeWorkgroupStorageSize ?? Infinity),
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  adapterFacts.set(device, factsOf((adapter as GPUAdapter & { info?: AdapterInfoWithSubgroups }).info));
  return device;
}

/** The device's adapter facts: the options' overrides, else what requestGratDevice saw, else device.adapterInfo. */
function deviceFacts(device: GPUDevice, opts: GratCreateOptions): AdapterFacts {
  const known = adapterFacts.get(device) ?? factsOf((device as GPUDevice & { adapterInfo?: AdapterInfoWithSubgroups }).adapterInfo);
  return {
    subgroupMinSize: opts.subgroupMinSize ?? known.subgroupMinSize,
    subgroupMaxSize: opts.subgroupMaxSize ?? known.subgroupMaxSize,
    subgroupMatrixConfigs: opts.subgroupMatrixConfigs ?? known.subgroupMatrixConfigs,
  };
}

const configText = (c: GratMatrixConfig): string => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`;

export class GratError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GratError';
  }
}

/** A variant and why the device runs it. */
export interface GratChoice { readonly variant: GratVariantSource; readonly reason: string }

/** Preference order (after subgroup matrices): subgroup reductions before workgroup memory, the staged query tile before re-reads. */
const REDUCTION_ORDER: readonly Reduction[] = ['sg16', 'sg8', 'shared'];
const STAGING_ORDER: readonly QStaging[] = ['tile', 'global'];

/**
 * The variant a device runs: of the precision asked (or preferred and supported), the first in
 * preference order whose features, subgroup size, workgroup storage and invocations the device
 * has; `reason` says what each faster variant lacked. At f16 the subgroup-matrix variants come
 * first: they need the feature, a config the adapter lists (component types, M x N x K) and
 * subgroups of exactly their size.
 */
export function chooseVariantWithReason(source: GratKernelSource, device: GPUDevice, opts: GratCreateOptions = {}): GratChoice {
  const f16 = device.features.has('shader-f16');
  const precision: Precision = opts.precision ?? (opts.matrix === true || (source.preferred === 'f16' && f16) ? 'f16' : 'f32');
  if (precision === 'f16' && !f16) throw new GratError(`precision f16 needs the 'shader-f16' feature, which this device lacks (request it, or use f32)`);
  const facts = deviceFacts(device, opts), sgMin = facts.subgroupMinSize;
  const wgs = device.limits.maxComputeWorkgroupStorageSize, inv = device.limits.maxComputeInvocationsPerWorkgroup;
  /** Why a variant cannot run here (null: it can). */
  const lacks = (v: GratVariantSource): string | null => {
    const missing = v.features.filter((f) => !device.features.has(f));
    if (missing.length) return `no ${missing.join(', ')}`;
    const m = v.matrix;
    if (m) {
      // the tiles are partitioned among threads / subgroupSize subgroups: the size must be exact
      if (facts.subgroupMinSize !== m.subgroupSize || facts.subgroupMaxSize !== m.subgroupSize) {
        return `subgroups of ${facts.subgroupMinSize || '?'}..${facts.subgroupMaxSize || '?'} invocations, needs exactly ${m.subgroupSize}`;
      }
      if (!facts.subgroupMatrixConfigs.some((c) => c.componentType === m.componentType && c.resultComponentType === m.resultComponentType && c.M === m.M && c.N === m.N && c.K === m.K)) {
        return `no subgroup-matrix config ${configText(m)} (the adapter lists ${facts.subgroupMatrixConfigs.map(configText).join(', ') || 'none'})`;
      }
    } else if (v.minSubgroupSize > 0 && sgMin < v.minSubgroupSize) return `subgroups of ${sgMin || 'unknown size'} < ${v.minSubgroupSize}`;
    if (v.workgroupStorage > wgs) return `needs ${v.workgroupStorage} B of workgroup storage > ${wgs} B`;
    if (v.threads > inv) return `needs ${v.threads} invocations > ${inv}`;
    return null;
  };
  const reductions = opts.reduction ? [opts.reduction] : REDUCTION_ORDER;
  const stagings = opts.qStaging ? [opts.qStaging] : STAGING_ORDER;
  const skipped: string[] = [];
  // subgroup matrices first (f16 only; a forced reduction or staging asks for a SIMT variant)
  const matrixFirst = opts.matrix !== false && precision === 'f16' && !opts.reduction && !opts.qStaging;
  const candidates: GratVariantSource[] = [
    ...(matrixFirst ? source.variants.filter((x) => x.matrix && x.precision === precision) : []),
    ...(opts.matrix === true ? [] : stagings.flatMap((st) => reductions.map((r) => source.variants.find((x) => !x.matrix && x.precision === precision && x.reduction === r && x.qStaging === st)))),
  ].filter((x): x is GratVariantSource => x !== undefined);
  if (opts.matrix === true && !candidates.length) throw new GratError(`${source.kernel} has no ${precision} subgroup-matrix variant (matrix: true needs precision f16)`);
  // a device that offers subgroup matrices is told why an f32 run does not use them
  if (!matrixFirst && opts.matrix !== false && device.features.has(SUBGROUP_MATRIX_FEATURE)) {
    for (const v of source.variants.filter((x) => x.matrix)) skipped.push(`not ${v.id} (${precision !== v.precision ? `precision ${precision}; it takes ${v.precision}` : 'a reduction or staging was forced'})`);
  }
  for (const v of candidates) {
    const why = lacks(v);
    if (why === null) {
      const forced = [opts.precision && 'precision', opts.reduction && 'reduction', opts.qStaging && 'staging', opts.matrix !== undefined && 'matrix'].filter(Boolean);
      const head = `${v.id}: ${precision}${opts.precision ? '' : source.preferred === 'f16' && !f16 ? ' (no shader-f16)' : ''}, workgroup storage ${v.workgroupStorage} of ${wgs} B`;
      return { variant: v, reason: [head, ...(forced.length ? [`forced ${forced.join(', ')}`] : []), ...skipped].join('; ') };
    }
    skipped.push(`not ${v.id} (${why})`);
  }
  const want = candidates.length ? candidates : source.variants.filter((x) => x.precision === precision);
  const need = want.length ? Math.min(...want.map((x) => x.workgroupStorage)) : 0;
  throw new GratError(`no ${precision}${opts.reduction ? ` ${opts.reduction}` : ''}${opts.qStaging ? ` ${opts.qStaging}` : ''} variant of ${source.kernel} fits this device`
    + ` (workgroup storage ${wgs} B, need ${need} B; subgroup min size ${sgMin};`
    + ` features ${[...device.features].filter((f) => f === 'shader-f16' || f === 'subgroups' || f === SUBGROUP_MATRIX_FEATURE).join(', ') || 'none'})`
    + (skipped.length ? `: ${skipped.join('; ')}` : ''));
}

/** The variant a device runs (chooseVariantWithReason without the reason). */
export const chooseVariant = (source: GratKernelSource, device: GPUDevice, opts: GratCreateOptions = {}): GratVariantSource =>
  chooseVariantWithReason(source, device, opts).variant;

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** FNV-1a (32-bit) of a string: tells two WGSL texts apart in the cache key. */
function codeHash(code: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < code.length; i++) h = Math.imul(h ^ code.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/**
 * The cache key: the kernel (the specialization), the variant, the WGSL itself (the kernel name
 * hashes the spec, not the template that printed it: two gratc versions share names) and the
 * device limits it was checked against.
 */
function pipelineKey(source: GratKernelSource, v: GratVariantSource, device: GPUDevice): string {
  const l = device.limits;
  return `${source.kernel}|${v.id}|${v.code.length}:${codeHash(v.code)}|wgs${l.maxComputeWorkgroupStorageSize}|inv${l.maxComputeInvocationsPerWorkgroup}|sb${l.maxStorageBufferBindingSize}`;
}

async function buildPipeline(device: GPUDevice, source: GratKernelSource, v: GratVariantSource, entryPoint: string): Promise<GPUComputePipeline> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: `${source.kernel}.${v.id}`, code: v.code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) {
    await device.popErrorScope();
    throw new GratError(`WGSL of ${source.kernel}.${v.id} does not compile: ${errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join('; ')}`);
  }
  const pipeline = await device.createComputePipelineAsync({ label: `${source.kernel}.${v.id}.${entryPoint}`, layout: 'auto', compute: { module, entryPoint } });
  const err = await device.popErrorScope();
  if (err) throw new GratError(`pipeline ${source.kernel}.${v.id}: ${err.message}`);
  return pipeline;
}

/** The pipeline of a variant's entry point ('main', or 'combine' for split text tiles) on a device, created once. */
export function pipelineFor(device: GPUDevice, source: GratKernelSource, v: GratVariantSource, entryPoint = 'main'): Promise<GPUComputePipeline> {
  let m = pipelines.get(device);
  if (!m) pipelines.set(device, (m = new Map()));
  const key = `${pipelineKey(source, v, device)}|${entryPoint}`;
  let p = m.get(key);
  if (!p) {
    p = buildPipeline(device, source, v, entryPoint);
    m.set(key, p);
    p.catch(() => m.delete(key));
  }
  return p;
}

/** Number of pipelines created on a device so far (tests: the cache works). */
export const cachedPipelineCount = (device: GPUDevice): number => pipelines.get(device)?.size ?? 0;

// ---- f16 conversion (round to nearest even) ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function encodeValues(data: Float32Array | Float64Array, precision: Precision): Uint8Array {
  if (precision === 'f32') {
    const a = data instanceof Float32Array ? data : Float32Array.from(data);
    return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  }
  const h = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) h[i] = toHalf(data[i]);
  return new Uint8Array(h.buffer);
}

const isGpuBuffer = (x: GratValid): x is GPUBuffer =>
  typeof x === 'object' && !Array.isArray(x) && !ArrayBuffer.isView(x) && 'usage' in x && 'size' in x;

/**
 * The kernel's binding 7: `batch` i32 text lengths. A number or an array is checked and
 * uploaded (values above the text count are clamped here, as the kernel does); a GPU buffer is
 * bound as it is (the kernel clamps each value to [0, text count]).
 */
function validBuffer(device: GPUDevice, valid: GratValid, batch: number, textCount: number): GPUBuffer {
  if (isGpuBuffer(valid)) {
    if (!(valid.usage & GPUBufferUsage.STORAGE)) throw new GratError('the valid-lengths buffer needs STORAGE usage');
    if (valid.size < 4 * batch) throw new GratError(`the valid-lengths buffer holds ${valid.size} B; ${batch} samples need ${4 * batch} B (i32 each)`);
    return valid;
  }
  const each = typeof valid === 'number' ? null : Array.from(valid);
  if (each !== null && each.length !== batch) throw new GratError(`valid has ${each.length} lengths; the batch has ${batch} samples (give one per sample, or one number for all)`);
  const lengths = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const x = each === null ? valid as number : each[b];
    if (!Number.isInteger(x) || x < 0) throw new GratError(`valid${each === null ? '' : `[${b}]`} must be a non-negative integer, got ${x}`);
    lengths[b] = Math.min(x, textCount);
  }
  const buf = device.createBuffer({ label: 'gratc.valid', size: 4 * batch, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buf, 0, lengths);
  return buf;
}

/** What a launch of a pattern that takes sizes at launch needs: its text count, tile counts and Geom fields. */
export interface Launch { readonly textCount: number; readonly textTiles: number; readonly splits: number; readonly rows: number; readonly gridTiles: number; readonly geom: Int32Array | null }

/**
 * The launch at `grid` and `tokens` (the text is the rest): checked against the compiled sizes and
 * the limits (as compiler/plan.ts launchSizesError), then the layout (bindPlan) and the tiles.
 */
export function launchOf(rt: GratRuntimeSizes, grid: readonly number[] | undefined, tokens: number): Launch {
  const D = rt.grid.length;
  const g = grid ?? (rt.grid.every((x) => x !== null) ? rt.grid as number[] : null);
  if (!g) throw new GratError(`this pattern takes its grid at launch: pass grid (${D} sizes, outermost first)`);
  if (g.length !== D) throw new GratError(`the grid has ${D} dims, got ${g.length} sizes`);
  g.forEach((x, a) => {
    if (!Number.isSafeInteger(x) || x < 1) throw new GratError(`grid size ${a} must be a positive integer, got ${x}`);
    const fixed = rt.grid[a];
    if (fixed !== null && x !== fixed) throw new GratError(`grid size ${a} is compiled as ${fixed}, got ${x}`);
    if (x > rt.max.grid[a]) throw new GratError(`grid size ${a} is ${x}, past the limit ${rt.max.grid[a]}`);
  });
  const imageTokens = g.reduce((n, x) => n * x, 1);
  const textCount = tokens - imageTokens;
  const fixedText = rt.text ? rt.text.count : 0;
  if (fixedText !== null && textCount !== fixedText) throw new GratError(`${tokens} tokens, but the grid ${g.join('x')} (${imageTokens}) + ${fixedText} text tokens are ${imageTokens + fixedText}`);
  if (textCount < 0 || textCount > rt.max.text) throw new GratError(`${tokens} tokens leave ${textCount} text tokens beside the grid ${g.join('x')}; between 0 and ${rt.max.text} may`);
  if (tokens > rt.max.tokens) throw new GratError(`${tokens} tokens, past the limit ${rt.max.tokens}`);
  const n = g.map((x, a) => Math.ceil(x / rt.group[a]));
  const queryGroups = n.reduce((p, x) => p * x, 1);
  if (queryGroups > rt.max.groups) throw new GratError(`${queryGroups} query groups, past the limit ${rt.max.groups}`);
  const before = rt.text?.place === 'before';
  const values: Record<string, number> = {
    image_offset: before ? textCount : 0, image_tokens: imageTokens, text_offset: before ? 0 : imageTokens,
    text_count: textCount, query_groups: queryGroups, tokens,
  };
  g.forEach((x, a) => { values[`n${a}`] = n[a]; values[`size${a}`] = x; });
  const geom = Int32Array.from(rt.geom, (f) => {
    if (!(f in values)) throw new GratError(`unknown geometry field ${f}`);
    return values[f];
  });
  const tq = rt.textQueries;
  const textTiles = tq ? Math.ceil(textCount / rt.blockQ) : 0;
  const textKeys = (tq?.grid ? imageTokens : 0) + (tq?.text ? textCount : 0);
  const splits = textTiles ? Math.max(1, Math.min(rt.maxSplits, Math.floor(textKeys / rt.splitKeys))) : 1;
  return { textCount, textTiles, splits, rows: textTiles * rt.blockQ, gridTiles: textTiles * splits + queryGroups * rt.tilesPerGroup, geom };
}

/** Creates the attention object of a compiled pattern on a device (pipeline built once per device). */
export async function createGratAttention<N extends number, D extends number>(
  device: GPUDevice, source: GratKernelSource<N, D>, opts: GratCreateOptions = {},
): Promise<GratAttention<N, D>> {
  const { variant, reason } = chooseVariantWithReason(source, device, opts);
  const pipeline = await pipelineFor(device, source, variant);
  const split = source.textSplit && source.textSplit.splits > 1 ? source.textSplit : null;
  const combine = split || source.runtime?.textQueries ? await pipelineFor(device, source, variant, 'combine') : null;
  // scratch of the text splits (grown on demand, kept for later calls)
  let scratch: { rows: number; o: GPUBuffer; ml: GPUBuffer } | null = null;
  const scratchFor = (rows: number, bh: number): { o: GPUBuffer; ml: GPUBuffer } => {
    if (scratch && scratch.rows >= rows) return scratch;
    const oBytes = rows * D * 4;
    if (oBytes > device.limits.maxStorageBufferBindingSize || oBytes > device.limits.maxBufferSize) {
      throw new GratError(`the text splits of ${bh} (batch × heads) need a ${oBytes} B scratch buffer; this device binds at most ${device.limits.maxStorageBufferBindingSize} B (use fewer heads per call)`);
    }
    scratch?.o.destroy();
    scratch?.ml.destroy();
    scratch = {
      rows,
      o: device.createBuffer({ label: 'gratc.split.o', size: oBytes, usage: GPUBufferUsage.STORAGE }),
      ml: device.createBuffer({ label: 'gratc.split.ml', size: rows * 8, usage: GPUBufferUsage.STORAGE }),
    };
    return scratch;
  };
  const N = source.tokens, D = source.headDim, D4 = D / 4;
  const rt = source.runtime ?? null;
  const precision = variant.precision;
  const bytesPer = precision === 'f16' ? 2 : 4;
  const maxX = device.limits.maxComputeWorkgroupsPerDimension;
  const tokensOf = (t: GratTensor<N, D>): number => (t.layout === 'bhnd' ? t.shape[2] : t.shape[1]);

  const checkTensor = (name: string, t: GratTensor<N, D>, ref: GratTensor<N, D>): void => {
    if (t.precision !== precision) throw new GratError(`${name} holds ${t.precision} values; this kernel runs ${precision}`);
    if (t.layout !== ref.layout || t.batch !== ref.batch || t.heads !== ref.heads || tokensOf(t) !== tokensOf(ref)) {
      throw new GratError(`${name} is ${t.layout} [${t.shape.join(', ')}], q is ${ref.layout} [${ref.shape.join(', ')}]: they must match`);
    }
    if (t.buffer.size < t.batch * t.heads * tokensOf(t) * D * bytesPer) throw new GratError(`${name}'s buffer is smaller than its shape`);
  };

  const self: GratAttention<N, D> = {
    source, device, variant, reason, precision, tokens: N, headDim: D,

    createTensor<L extends Layout>(layout: L, batch: number, heads: number, data?: Float32Array | Float64Array, tokens?: number): GratTensor<N, D, L> {
      const n = tokens ?? N;
      for (const [k, x] of [['batch', batch], ['heads', heads], ['tokens', n]] as const) {
        if (!Number.isInteger(x) || x < 1) throw new GratError(`${k} must be a positive integer, got ${x}`);
      }
      if (!rt && n !== N) throw new GratError(`${source.pattern} is compiled for ${N} tokens, got ${n}`);
      if (rt && n > rt.max.tokens) throw new GratError(`${n} tokens, past the limit ${rt.max.tokens} of ${source.pattern}`);
      if (layout !== 'bhnd' && layout !== 'bnhd') throw new GratError(`unknown layout ${String(layout)}`);
      const elems = batch * heads * n * D;
      const buffer = device.createBuffer({
        label: `${source.pattern}.${layout}`,
        size: elems * bytesPer,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      const shape = (layout === 'bhnd' ? [batch, heads, n, D] : [batch, n, heads, D]) as unknown as ShapeOf<L, N, D>;
      const t: GratTensor<N, D, L> = { buffer, layout, shape, precision, batch, heads };
      if (data) self.write(t, data);
      return t;
    },

    write(t: GratTensor<N, D>, data: Float32Array | Float64Array): void {
      const elems = t.batch * t.heads * tokensOf(t) * D;
      if (data.length !== elems) throw new GratError(`expected ${elems} values for [${t.shape.join(', ')}], got ${data.length}`);
      device.queue.writeBuffer(t.buffer, 0, encodeValues(data, t.precision));
    },

    encode(pass: GPUComputePassEncoder, args: GratRunArgs<N, D, Layout>): void {
      const { q, k, v, out } = args;
      checkTensor('k', k, q); checkTensor('v', v, q); checkTensor('out', out, q); checkTensor('q', q, q);
      const B = q.batch, H = q.heads, Nq = tokensOf(q);
      if (B * H > maxX) throw new GratError(`batch × heads = ${B * H} exceeds the device's ${maxX} workgroups per dimension`);
      const launch = rt ? launchOf(rt, args.grid, Nq) : { textCount: source.textCount, gridTiles: source.gridTiles, textTiles: 0, splits: source.textSplit?.splits ?? 1, rows: source.textSplit?.rows ?? 0, geom: null };
      if (!rt && args.grid !== undefined) throw new GratError(`${source.pattern} is compiled for its grid; grid is for patterns compiled with sizes left to launch`);
      const validBuf = validBuffer(device, args.valid ?? launch.textCount, B, launch.textCount);
      const scale = args.scale ?? source.scale;
      const [sb, sh, sn] = q.layout === 'bhnd' ? [H * Nq * D4, Nq * D4, D4] : [Nq * H * D4, D4, H * D4];
      const tilesX = Math.max(1, Math.min(launch.gridTiles, maxX));
      const tilesY = Math.ceil(launch.gridTiles / tilesX);
      const params = new ArrayBuffer(rt ? 48 : 32);
      const u = new Uint32Array(params), f = new Float32Array(params);
      u[0] = 0; u[1] = H; u[2] = sb; u[3] = sh; u[4] = sn; u[5] = tilesX; f[6] = scale * Math.LOG2E; u[7] = 0;
      if (rt) { u[8] = launch.textTiles; u[9] = launch.splits; u[10] = launch.gridTiles; }
      const ubuf = device.createBuffer({ label: 'gratc.params', size: params.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(ubuf, 0, params);
      const buffers: [number, GPUBuffer][] = [[0, ubuf], [1, q.buffer], [2, k.buffer], [3, v.buffer], [4, out.buffer], [7, validBuf]];
      let gbuf: GPUBuffer | null = null;
      if (launch.geom) {
        gbuf = device.createBuffer({ label: 'gratc.geom', size: Math.ceil(launch.geom.byteLength / 16) * 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(gbuf, 0, launch.geom);
        buffers.push([8, gbuf]);
      }
      // split text tiles write partials (compiled in when the launch may split: a run-time text always may)
      const splitting = rt ? !!rt.textQueries : split !== null;
      const sc = splitting ? scratchFor(Math.max(1, B * H * launch.rows * launch.splits), B * H) : null;
      if (sc) buffers.push([5, sc.o], [6, sc.ml]);
      const bind = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: buffers.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
      });
      if (launch.gridTiles === 0) return; // nothing to compute (no query rows)
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(tilesX, tilesY, B * H);
      if (combine && sc && launch.textCount > 0) {
        // the next dispatch sees this one's writes (each dispatch is its own usage scope)
        const entries: [number, GPUBuffer][] = [[0, ubuf], [4, out.buffer], [5, sc.o], [6, sc.ml], ...(gbuf ? [[8, gbuf] as [number, GPUBuffer]] : [])];
        const cbind = device.createBindGroup({
          layout: combine.getBindGroupLayout(0),
          entries: entries.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
        });
        pass.setPipeline(combine);
        pass.setBindGroup(0, cbind);
        pass.dispatchWorkgroups(Math.ceil((launch.textCount * D4) / 64), 1, B * H);
      }
    },

    run<L extends Layout>(args: GratRunArgs<N, D, L>): void {
      const enc = device.createCommandEncoder({ label: 'gratc.run' });
      const pass = enc.beginComputePass();
      self.encode(pass, args);
      pass.end();
      device.queue.submit([enc.finish()]);
    },

    async read(t: GratTensor<N, D>): Promise<Float32Array> {
      const size = t.batch * t.heads * tokensOf(t) * D * bytesPer;
      const staging = device.createBuffer({ label: 'gratc.read', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(t.buffer, 0, staging, 0, size);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const bytes = staging.getMappedRange().slice(0);
      staging.unmap();
      staging.destroy();
      if (t.precision === 'f32') return new Float32Array(bytes);
      const h = new Uint16Array(bytes), out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = fromHalf(h[i]);
      return out;
    },
  };
  return self;
}

/**
 * The numerics of the sm_90a kernel's `precision: 'int8'` (issue 20), in TypeScript: exactly the
 * integer algorithm the pre-pass and the consumers implement, so a CPU test can hold it against the
 * float64 reference (compiler/reference.ts) before any GPU run. Each fact of the algorithm is a
 * constant or function here and the CUDA templates print the same constants (INT8_*).
 *
 * Pre-pass (one pass over q, k, v of each (batch, head), bf16/fp16 in):
 *   K: smoothed: k' = k - mean over the tokens of each channel (softmax ignores the per-row constant
 *      q·mean; 20σ outlier channels are offsets, removed exactly), then one scale per (batch, head),
 *      sk = max|k'|/127. Per key-tile scales would need the cursor's tile membership in the pre-pass
 *      (raster tiles are not runs of memory); per-token K scales cost a multiply per score.
 *   Q: smoothed too (as SageAttention2 does): q' = q - mean over the tokens; what the mean adds to
 *      the scores is a per-key term, the key's bias b = scale·log2(e)·mean(q)·k' (fp32, one per
 *      token), which the consumer adds to each score (one FADD a score). Then one scale per token,
 *      sq = max|q'|/127, q8 = rn(q' / sq): finer than a block, and free in the kernel (a consumer
 *      thread's two rows fold it into their row constant). Without Q smoothing, 20σ outlier
 *      channels of Q set every token's scale: 2.9-3.2 % relative L1 (the test's numbers), at the bar.
 *   V: one scale per (batch, head, channel), sv = max|v|/127, written transposed ([d, tokens],
 *      keys contiguous: the K-major B operand 8-bit wgmma needs for P·V).
 * Consumer, per key tile of BK = 128 keys (the kernel's stage):
 *   S = q8·k8 in int32 (exact: |S| <= 127²·128 < 2^22, so the int→float conversion is the
 *   0x4B400000 magic add, exact), x = S · c_row + b_key with c_row = sq·sk·scale·log2(e) (fp32);
 *   the running max m is an integer (ceil of the row max over every tile so far, log2 units; no lazy
 *   rescale and no max-free softmax: both let p reach 2^8, and u8 P needs p <= 1), so the rescale
 *   by 2^(m_old - m) is exact: O >>= k, l · 2^-k;
 *   p = 2^(x - m) in [0, 1]; P8 = rn(255 p) (u8, by the 2^23 magic add); l += Σ P8 (the weights O
 *   gets, exactly: a flat softmax's rounding does not bias the mean);
 *   O += P8·V8 in int32 across all key tiles (the wgmma accumulator itself: no second set of
 *   registers; a tile adds at most 255·127·128 < 2^22, and INT8_L_GUARD keeps O < 2^31).
 *   Epilogue: out = float(O) · sv / l.
 *
 * Why not e4m3 (FP8) for P and V: with a flat softmax O is an average of V, so O's relative error is
 * about V's relative quantization error: 3 mantissa bits give 3.5 % relative L1 on Gaussian inputs
 * here (P and V e4m3, V per channel, Q·Kᵀ as int8; an earlier session measured 4.8-5.1 % with e4m3
 * Q·Kᵀ too), over the 3 %; 8-bit integers give 1.0-1.5 %, at the same tensor-core rate on
 * Hopper (e4m3Attention below is the emulation the test shows missing the bar).
 */
import type { PatternIR } from '../../compiler/ir.js';
import { attentionBlocks, resolveValid, runTokens, tensorAddressing, type Floats, type Layout } from '../../compiler/reference.js';

/** Keys per consumer tile (the sm_90a kernel's BK) and the integer ranges. */
export const INT8_BK = 128;
export const INT8_QK_MAX = 127; // s8 Q and K
export const INT8_V_MAX = 127; // s8 V
export const INT8_P_MAX = 255; // u8 P

const f32 = Math.fround;
const LOG2E = Math.log2(Math.E);

/** Round to nearest, ties to even (cvt.rni / the magic-number add). */
export const rne = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** The pre-pass's output for one tensor set: int8 values (same layout as the input) and the scales. */
export interface Quantized {
  readonly q8: Int8Array;
  readonly k8: Int8Array;
  readonly v8: Int8Array;
  /** [b][h][token] */
  readonly sq: Float32Array;
  /** [b][h] */
  readonly sk: Float32Array;
  /** [b][h][d] */
  readonly sv: Float32Array;
  /** [b][h][token]: scale·log2(e)·(mean of Q)·k' of each key, added to its scores (zeros without Q smoothing) */
  readonly bias: Float32Array;
}

export interface QuantOptions {
  readonly batch: number;
  readonly heads: number;
  readonly layout: Layout;
  readonly valid?: number;
}

/** The pre-pass (see the file comment); smoothQ false: Q unsmoothed, biases 0 (the test's counter-example). */
export function quantize(ir: PatternIR, q: Floats, k: Floats, v: Floats, opts: QuantOptions, smoothQ = true): Quantized {
  const { batch: B, heads: H } = opts, D = ir.headDim;
  const { size, stride, base } = tensorAddressing(ir, 'quantize', { q, k, v }, opts);
  const N = size / (B * H * D);
  const q8 = new Int8Array(size), k8 = new Int8Array(size), v8 = new Int8Array(size);
  const sq = new Float32Array(B * H * N), sk = new Float32Array(B * H), sv = new Float32Array(B * H * D);
  const mean = new Float64Array(D), qmean = new Float64Array(D), vmax = new Float64Array(D);
  const bias = new Float32Array(B * H * N), cScale = ir.scale * LOG2E;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const bh = base(b, h), ih = b * H + h;
    mean.fill(0);
    qmean.fill(0);
    vmax.fill(0);
    for (let t = 0; t < N; t++) for (let d = 0; d < D; d++) {
      mean[d] += k[bh + t * stride + d];
      qmean[d] += q[bh + t * stride + d];
      vmax[d] = Math.max(vmax[d], Math.abs(v[bh + t * stride + d]));
    }
    for (let d = 0; d < D; d++) { mean[d] = f32(mean[d] / N); qmean[d] = smoothQ ? f32(qmean[d] / N) : 0; }
    for (let t = 0; t < N; t++) {
      const o = bh + t * stride;
      let m = 0;
      for (let d = 0; d < D; d++) m = Math.max(m, Math.abs(f32(q[o + d] - qmean[d])));
      const s = m > 0 ? f32(m / INT8_QK_MAX) : 1;
      sq[ih * N + t] = s;
      for (let d = 0; d < D; d++) q8[o + d] = Math.max(-INT8_QK_MAX, Math.min(INT8_QK_MAX, rne(f32(q[o + d] - qmean[d]) / s)));
      // the key's bias: what Q's mean adds to every score of this key, in the softmax's log2 units
      let kb = 0;
      for (let d = 0; d < D; d++) kb += qmean[d] * f32(k[o + d] - mean[d]);
      bias[ih * N + t] = f32(kb * cScale);
    }
    let km = 0;
    for (let t = 0; t < N; t++) for (let d = 0; d < D; d++) km = Math.max(km, Math.abs(f32(k[bh + t * stride + d] - mean[d])));
    const ks = km > 0 ? f32(km / INT8_QK_MAX) : 1;
    sk[ih] = ks;
    for (let d = 0; d < D; d++) sv[ih * D + d] = vmax[d] > 0 ? f32(vmax[d] / INT8_V_MAX) : 1;
    for (let t = 0; t < N; t++) for (let d = 0; d < D; d++) {
      const o = bh + t * stride + d;
      k8[o] = Math.max(-INT8_QK_MAX, Math.min(INT8_QK_MAX, rne(f32(k[o] - mean[d]) / ks)));
      v8[o] = Math.max(-INT8_V_MAX, Math.min(INT8_V_MAX, rne(v[o] / sv[ih * D + d])));
    }
  }
  return { q8, k8, v8, sq, sk, sv, bias };
}

/** A consumer row's state: the running max (an integer, log2 units), l (Σ P8, fp32) and O (int32). */
export interface Int8Row { m: number; l: number; readonly o: Float64Array; /** largest |O| seen (the test's overflow check) */ peak: number }
export const newRow = (D: number): Int8Row => ({ m: -Infinity, l: 0, o: new Float64Array(D), peak: 0 });

/**
 * l (Σ P8) past which the row's max is raised by one (O >>= 1, l /= 2) before a tile's P·V: keeps
 * |O| <= 127·l + 127·255·BK < 2^31 (rows of a flat softmax over more than ~33k keys: P loses bits
 * there, over that many keys).
 */
export const INT8_L_GUARD = 2 ** 23;

/**
 * One key tile of a row (x: its n scores in log2 units, bias added; v8(j, d): key j's V): the running
 * max is an integer (ceil), so a rescale is O >>= k (arithmetic shift; k >= 31: O = 0) and l · 2^-k,
 * exact; then p = 2^(x - m) <= 1, P8 = rn(255 p), l += Σ 255 p, O += Σ P8 · V8 (int32).
 */
export function int8Tile(r: Int8Row, x: Float64Array, n: number, v8: (j: number, d: number) => number, D: number, guard = INT8_L_GUARD): void {
  let tileMax = -Infinity;
  for (let j = 0; j < n; j++) tileMax = Math.max(tileMax, x[j]);
  let mNew = Math.max(r.m, Math.ceil(tileMax));
  let k = r.m === -Infinity ? 0 : mNew - r.m;
  while (f32(r.l * 2 ** -k) > guard) { mNew += 1; k += 1; }
  if (k > 0) {
    for (let d = 0; d < D; d++) r.o[d] = k >= 31 ? 0 : Math.floor(r.o[d] / 2 ** k);
    r.l = f32(r.l * 2 ** -k);
  }
  r.m = mNew;
  let rowSum = 0;
  for (let j = 0; j < n; j++) {
    const p8 = rne(f32(f32(2 ** f32(x[j] - r.m)) * INT8_P_MAX));
    rowSum += p8; // exact (an int32 sum in the kernel: the magic-added floats' bits, minus n · 0x4B000000)
    if (p8 !== 0) for (let d = 0; d < D; d++) r.o[d] += p8 * v8(j, d);
  }
  r.l = f32(r.l + rowSum);
  for (let d = 0; d < D; d++) r.peak = Math.max(r.peak, Math.abs(r.o[d]));
}

/** How P and V enter the second product: the kernel's u8 × s8, or the e4m3 emulation (the rejected design). */
type PvMode = 'int8' | 'e4m3';

/** Round to the nearest e4m3 value (3 mantissa bits, exponent bias 7, subnormals, max 448; ties to even). */
export function e4m3(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.min(Math.abs(x), 448);
  const e = Math.max(Math.floor(Math.log2(a)), -6); // subnormals below 2^-6 step by 2^-9
  const step = 2 ** (e - 3);
  return Math.sign(x) * Math.min(448, rne(a / step) * step);
}

/**
 * The kernel's forward over every visible pair (attentionBlocks' rows and key runs, key tiles of
 * INT8_BK keys in run order), from the pre-pass's integers; or (mode 'e4m3') the same with P and V
 * in e4m3 (V scaled per channel to 448, P scaled by 448) and fp32 accumulation.
 */
function forward(ir: PatternIR, qz: Quantized, v: Floats, opts: QuantOptions, mode: PvMode): Float64Array {
  const { batch: B, heads: H } = opts, D = ir.headDim;
  const { size, stride, base } = tensorAddressing(ir, 'int8Attention', { v }, opts);
  const N = size / (B * H * D);
  const valid = resolveValid(ir, opts.valid);
  const out = new Float64Array(size);
  const cScale = ir.scale * LOG2E;
  const x = new Float64Array(INT8_BK), pq = new Float64Array(INT8_BK);
  const o = new Float64Array(D), acc = new Float64Array(D);
  const PMAX = 448; // e4m3 P's scale
  // e4m3 V: per-channel scale to 448
  const vE = mode === 'e4m3' ? new Float64Array(size) : null, svE = mode === 'e4m3' ? new Float32Array(B * H * D) : null;
  if (vE && svE) for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const bh = base(b, h);
    for (let d = 0; d < D; d++) {
      let m = 0;
      for (let t = 0; t < N; t++) m = Math.max(m, Math.abs(v[bh + t * stride + d]));
      const s = m > 0 ? f32(m / 448) : 1;
      svE[(b * H + h) * D + d] = s;
      for (let t = 0; t < N; t++) vE[bh + t * stride + d] = e4m3(v[bh + t * stride + d] / s);
    }
  }
  for (const { rows, cols } of attentionBlocks(ir, valid)) {
    const keys = runTokens(cols);
    if (keys.length === 0) continue; // rows stay 0
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
      const bh = base(b, h), ih = b * H + h;
      for (const r of rows) for (let t = r.start; t < r.start + r.length; t++) {
        const qo = bh + t * stride;
        const cRow = f32(f32(qz.sq[ih * N + t] * qz.sk[ih]) * cScale);
        let m = -Infinity, l = 0;
        o.fill(0);
        const st = newRow(D);
        for (let j0 = 0; j0 < keys.length; j0 += INT8_BK) {
          const n = Math.min(INT8_BK, keys.length - j0);
          let tileMax = -Infinity;
          for (let j = 0; j < n; j++) {
            const ko = bh + keys[j0 + j] * stride;
            let s = 0; // int32, exact
            for (let d = 0; d < D; d++) s += qz.q8[qo + d] * qz.k8[ko + d];
            x[j] = f32(f32(s * cRow) + qz.bias[ih * N + keys[j0 + j]]);
            tileMax = Math.max(tileMax, x[j]);
          }
          if (mode === 'int8') {
            const vrow = (j: number): number => bh + keys[j0 + j] * stride;
            int8Tile(st, x, n, (j, d) => qz.v8[vrow(j) + d], D);
            continue;
          }
          const mNew = Math.max(m, tileMax);
          const alpha = m === -Infinity ? 0 : f32(2 ** f32(m - mNew));
          m = mNew;
          let rowSum = 0;
          for (let j = 0; j < n; j++) {
            const p = f32(2 ** f32(x[j] - m));
            const ps = f32(p * PMAX);
            rowSum = f32(rowSum + ps);
            pq[j] = e4m3(ps);
          }
          l = f32(f32(l * alpha) + rowSum);
          acc.fill(0);
          for (let j = 0; j < n; j++) {
            const vo = bh + keys[j0 + j] * stride;
            for (let d = 0; d < D; d++) acc[d] = f32(acc[d] + pq[j] * vE![vo + d]);
          }
          for (let d = 0; d < D; d++) o[d] = f32(f32(o[d] * alpha) + acc[d]);
        }
        if (mode === 'int8') { l = st.l; o.set(st.o); }
        const inv = l > 0 ? f32(1 / l) : 0;
        const sv = mode === 'int8' ? qz.sv : svE!; // (int8: O is int32, converted here)
        for (let d = 0; d < D; d++) out[qo + d] = f32(f32(o[d] * sv[ih * D + d]) * inv);
      }
    }
  }
  return out;
}

/** The int8 kernel's output (pre-pass and consumer), float64 array of the input's layout. */
export function int8Attention(ir: PatternIR, q: Floats, k: Floats, v: Floats, opts: QuantOptions, smoothQ = true): Float64Array {
  return forward(ir, quantize(ir, q, k, v, opts, smoothQ), v, opts, 'int8');
}

/** The rejected design: Q·Kᵀ as int8 above, P and V in e4m3 (FlashAttention-3's FP8 P·V). */
export function e4m3Attention(ir: PatternIR, q: Floats, k: Floats, v: Floats, opts: QuantOptions): Float64Array {
  return forward(ir, quantize(ir, q, k, v, opts), v, opts, 'e4m3');
}

/** Relative L1 (Σ|a - ref| / Σ|ref|) and cosine similarity of two flat outputs. */
export function errorMetrics(a: Floats, ref: Floats): { relL1: number; cosine: number } {
  let num = 0, den = 0, dot = 0, na = 0, nr = 0;
  for (let i = 0; i < ref.length; i++) {
    num += Math.abs(a[i] - ref[i]);
    den += Math.abs(ref[i]);
    dot += a[i] * ref[i];
    na += a[i] * a[i];
    nr += ref[i] * ref[i];
  }
  return { relL1: den > 0 ? num / den : 0, cosine: na > 0 && nr > 0 ? dot / Math.sqrt(na * nr) : 1 };
}

/**
 * The backward half of the reference (issue 21): float64 gradients of `referenceAttention`,
 * the definition the backward kernels are tested against. It walks the same blocks (query runs ×
 * key runs, `attentionBlocks`) as the forward, so both passes read the IR the same way; no N×N matrix.
 *
 * Per query row i with visible keys J (empty J: O_i = 0 and every gradient from row i is 0):
 *   S_ij = scale · q_i·k_j,  lse_i = max_j S_ij + log Σ_j exp(S_ij − max),  P_ij = exp(S_ij − lse_i),
 *   O_i = Σ_j P_ij v_j,  D_i = dO_i·O_i,  dS_ij = P_ij (dO_i·v_j − D_i),
 *   dQ_i = scale Σ_j dS_ij k_j,  dK_j += scale dS_ij q_i,  dV_j += P_ij dO_i.
 */
import type { PatternIR } from './ir.js';
import type { Run } from './keys.js';
import { attentionBlocks, resolveValid, runTokens, softmaxRow, tensorAddressing, type Floats, type Layout } from './reference.js';

export interface BackwardOptions {
  /**
   * Valid text length: one for the whole batch, or one per sample (length `batch`); each is
   * resolved as the forward resolves its `valid` (default: the text count; clamped to [0, count]).
   */
  readonly valid?: number | readonly number[];
  readonly batch: number;
  readonly heads: number;
  /** bhnd: [batch, heads, tokens, headDim]; bnhd: [batch, tokens, heads, headDim]. Gradients use the same. */
  readonly layout: Layout;
}

export interface AttentionGradients {
  readonly dQ: Float64Array;
  readonly dK: Float64Array;
  readonly dV: Float64Array;
}

/**
 * Float64 dQ, dK, dV of softmax(scale · q kᵀ + mask) v for the output gradient dO, with the mask
 * implied by the IR (scale: `ir.scale`, as the forward). O(visible pairs · D) per batch·head.
 */
export function referenceAttentionBackward(ir: PatternIR, q: Floats, k: Floats, v: Floats, dO: Floats, opts: BackwardOptions): AttentionGradients {
  const who = 'referenceAttentionBackward';
  const { batch: B, heads: H } = opts;
  const D = ir.headDim, scale = ir.scale;
  const { size, stride, base } = tensorAddressing(ir, who, { q, k, v, dO }, opts);
  const perSample = typeof opts.valid === 'object' ? opts.valid : null;
  if (perSample && perSample.length !== B) throw new RangeError(`${who}: valid has ${perSample.length} entries, expected one per sample (batch ${B})`);
  const validOf = (b: number): number => resolveValid(ir, perSample ? perSample[b] : (opts.valid as number | undefined));
  const dQ = new Float64Array(size), dK = new Float64Array(size), dV = new Float64Array(size);
  let p = new Float64Array(0);
  const o = new Float64Array(D), dq = new Float64Array(D);

  const backRows = (b: number, rows: readonly Run[], cols: readonly Run[]): void => {
    const keyIdx = runTokens(cols), nk = keyIdx.length;
    if (nk === 0) return; // the rows output 0 whatever q, k, v are: no gradient flows through them
    if (p.length < nk) p = new Float64Array(nk);
    for (let h = 0; h < H; h++) {
      const bh = base(b, h);
      for (const r of rows) {
        for (let t = r.start; t < r.start + r.length; t++) {
          const qo = bh + t * stride;
          softmaxRow(q, k, v, qo, bh, stride, keyIdx, D, scale, p, o); // this row's forward: P and O
          let rowD = 0;
          for (let d = 0; d < D; d++) rowD += dO[qo + d] * o[d];
          // backward of this row
          dq.fill(0);
          for (let j = 0; j < nk; j++) {
            const ko = bh + keyIdx[j] * stride;
            let dp = 0;
            for (let d = 0; d < D; d++) dp += dO[qo + d] * v[ko + d];
            const ds = p[j] * (dp - rowD) * scale;
            for (let d = 0; d < D; d++) {
              dq[d] += ds * k[ko + d];
              dK[ko + d] += ds * q[qo + d];
              dV[ko + d] += p[j] * dO[qo + d];
            }
          }
          for (let d = 0; d < D; d++) dQ[qo + d] = dq[d];
        }
      }
    }
  };

  // samples sharing a valid length share the blocks
  const blocksByValid = new Map<number, ReturnType<typeof attentionBlocks>>();
  for (let b = 0; b < B; b++) {
    const valid = validOf(b);
    let blocks = blocksByValid.get(valid);
    if (!blocks) blocksByValid.set(valid, (blocks = attentionBlocks(ir, valid)));
    for (const { rows, cols } of blocks) backRows(b, rows, cols);
  }
  return { dQ, dK, dV };
}

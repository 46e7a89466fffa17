/**
 * The emitted sm_80 backward kernels (preprocess, dK/dV, dQ) and their host entry K_backward,
 * compiled with g++ against a host emulation of the CUDA features they use
 * (test/support/cuda_emu.h: fibers for threads, mma.sync m16n8k16 and ldmatrix computed by the
 * PTX ISA fragment layouts) and run on the CPU: dQ, dK, dV against the float64 reference
 * (compiler/reference_backward.ts) on fresh random inputs with spiky keys, per-sample text lengths
 * (0 included), ragged grids, 1-3 dims, text before/after/none, a predicate, shift borders, both
 * orders, both layouts, bf16 and fp16, head_dim 64 and 128, sizes compiled in and taken at launch.
 * A case also gives the lse output a gradient (dlse). The gradient buffers start as NaNs (every element must be written); keys nobody sees get dK and
 * dV of exactly 0, rows that see nothing dQ of exactly 0. The kernel text is the emitted one: only
 * the inline PTX helpers, the shared-memory symbol and the <<<>>> launch syntax are replaced. The
 * forward kernel (measured on GPUs) runs through the same emulation first and must match the
 * reference too: a check of the emulation's fragment layouts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { totalTokens } from '../compiler/ir.js';
import { denseMask } from '../compiler/reference.js';
import { referenceAttentionBackward } from '../compiler/reference_backward.js';
import { emitCuda } from '../codegen/cuda/index.js';
import { fromHalf, toHalf } from '../codegen/wgsl/runtime.js';
import { mulberry32 } from '../runtime/random.js';
import { ROOT } from './support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'gratc-bwd-emu-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const cudaInclude = (): string | null => {
  for (const d of [process.env.CUDA_HOME ? join(process.env.CUDA_HOME, 'include') : '', '/usr/local/cuda/include', '/usr/local/cuda-13.0/include']) {
    if (d && spawnSync('test', ['-f', join(d, 'cuda_bf16.h')]).status === 0) return d;
  }
  return null;
};

type Dtype = 'bf16' | 'fp16';
interface Case {
  readonly name: string;
  readonly src: string;
  readonly sizes: { grid: number[]; text: number };
  readonly runtime: boolean;
  readonly dtype: Dtype;
  readonly layout: 'bhnd' | 'bnhd';
  readonly valid: readonly number[]; // per sample
  /** A gradient of the lse output too (a loss that uses the returned lse). */
  readonly dlse?: boolean;
}

const bf16Bits = (x: number): number => {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer);
  return ((u[0] + 0x7fff + ((u[0] >> 16) & 1)) >>> 16) & 0xffff;
};
const fromBf16 = (b: number): number => new Float32Array(new Uint32Array([b << 16]).buffer)[0];
const bitsOf = (t: Dtype, x: number): number => (t === 'bf16' ? bf16Bits(x) : toHalf(x));
const valueOf = (t: Dtype, b: number): number => (t === 'bf16' ? fromBf16(b) : fromHalf(b));

/** The emitted kernel file (both namespaces and their host entries, not the row copy), made host-compilable (see the file comment). */
function hostSource(cu: string, kernel: string): string {
  let s = cu.slice(cu.indexOf(`namespace ${kernel}_impl {`));
  const cut = (from: string, to: string, by: string): void => {
    const a = s.indexOf(from), b = s.indexOf(to, a);
    if (a < 0 || b < 0) throw new Error(`not found in the kernel: ${from}`);
    s = s.slice(0, a) + by + s.slice(b);
  };
  cut('// ---- tensor-core helpers ----', '/** Element offset of (row', 'EMU_MMA_HELPERS\n');  // the forward's
  cut('// ---- tensor-core helpers ----', '/** Element offset of (row', 'EMU_MMA_HELPERS\n');  // the backward's
  cut('// ---- row copy for the multi-GPU code', 'extern "C" {\n\nconst char*', '');
  const replace = (re: RegExp, by: string): void => {
    const before = s;
    s = s.replace(re, by);
    if (s === before) throw new Error(`not found in the kernel: ${re}`);
  };
  replace(/\/\*\* 4-byte global→shared copy[^\n]*\n__device__ __forceinline__ void cp_async4[\s\S]*?\n}\n/, '');
  replace(/asm\("ex2\.approx\.ftz\.f32 %0, %1;" : "=f"\(y\) : "f"\(x\)\);/g, 'y = exp2f(x);');
  replace(/extern __shared__ __align__\(128\) unsigned char smem_raw\[\];/g, 'unsigned char* smem_raw = emu::smem;');
  replace(/(\w+<T>)<<<([^,]+), ([^,]+), ([^,]+), ([^>]+)>>>\(([^)]*)\);/g, 'emu_launch($1, $2, $3, $4, $5, $6);');
  return `#include "${join(ROOT, 'test', 'support', 'cuda_emu.h')}"\n${s}`;
}

interface Data { q: Float64Array; k: Float64Array; v: Float64Array; o: Float64Array; dO: Float64Array; lse: Float64Array; bits: Record<'q' | 'k' | 'v' | 'o' | 'dO', Uint16Array> }

/** Fresh random inputs (some spiky keys), rounded to the dtype; O and lse in float64 from the mask (O rounded as the forward stores it). */
function inputs(ir: PatternIR, c: Case, B: number, H: number, seed: number): Data {
  const N = totalTokens(ir), D = ir.headDim, size = B * H * N * D, rand = mulberry32(seed);
  const stride = c.layout === 'bhnd' ? D : H * D;
  const base = (b: number, h: number): number => (c.layout === 'bhnd' ? (b * H + h) * N * D : (b * N * H + h) * D);
  const make = (scale: number, spiky: boolean): [Float64Array, Uint16Array] => {
    const bits = new Uint16Array(size), x = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      let v = (2 * rand() - 1) * scale;
      if (spiky && rand() < 0.01) v *= 12;
      bits[i] = bitsOf(c.dtype, v);
      x[i] = valueOf(c.dtype, bits[i]);
    }
    return [x, bits];
  };
  const [q, qb] = make(1.5, false), [k, kb] = make(1.5, true), [v, vb] = make(1, false), [dO, db] = make(1, false);
  const o = new Float64Array(size), ob = new Uint16Array(size), lse = new Float64Array(B * H * N).fill(-Infinity);
  const p = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    const mask = denseMask(ir, c.valid[b]);
    for (let h = 0; h < H; h++) {
      const bh = base(b, h);
      for (let i = 0; i < N; i++) {
        let mx = -Infinity;
        for (let j = 0; j < N; j++) {
          if (!mask[i * N + j]) continue;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[bh + i * stride + d] * k[bh + j * stride + d];
          p[j] = s * ir.scale;
          mx = Math.max(mx, p[j]);
        }
        if (mx === -Infinity) continue; // no key: O = 0, lse = -inf
        let sum = 0;
        for (let j = 0; j < N; j++) if (mask[i * N + j]) sum += Math.exp(p[j] - mx);
        const l = mx + Math.log(sum);
        lse[(b * H + h) * N + i] = l;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < N; j++) if (mask[i * N + j]) acc += Math.exp(p[j] - l) * v[bh + j * stride + d];
          o[bh + i * stride + d] = acc;
        }
      }
    }
  }
  for (let i = 0; i < size; i++) ob[i] = bitsOf(c.dtype, o[i]);
  return { q, k, v, o, dO, lse, bits: { q: qb, k: kb, v: vb, o: ob, dO: db } };
}

const cArray = (ty: string, name: string, xs: ArrayLike<number>): string => `alignas(16) static ${ty} ${name}[${Math.max(1, xs.length)}] = {${Array.from(xs, (x) => (Number.isFinite(x) ? String(x) : x > 0 ? 'INFINITY' : '-INFINITY')).join(',')}};`;

function harness(c: Case, kernel: string, d: Data, B: number, H: number, N: number, D: number, dlse: Float32Array | null): string {
  const st = c.layout === 'bhnd' ? [H * N * D, N * D, D] : [N * H * D, D, H * D];
  return `
${cArray('uint16_t', 'q_', d.bits.q)}
${cArray('uint16_t', 'k_', d.bits.k)}
${cArray('uint16_t', 'v_', d.bits.v)}
${cArray('uint16_t', 'o_', d.bits.o)}
${cArray('uint16_t', 'do_', d.bits.dO)}
${cArray('float', 'lse_', d.lse)}
${cArray('int', 'valid_', c.valid)}
${dlse ? cArray('float', 'dlse_', dlse) : ''}
static const float* DLSE_ = ${dlse ? 'dlse_' : 'nullptr'};
int main() {
  const long long n = ${B * H * N * D};
  uint16_t* g[3];
  for (int i = 0; i < 3; ++i) { g[i] = static_cast<uint16_t*>(std::aligned_alloc(16, n * 2 + 16)); for (long long j = 0; j < n; ++j) g[i][j] = 0x7fc1; }
  float* ws = static_cast<float*>(std::aligned_alloc(16, ${2 * B * H * N} * 4 + 16));
  long long strides[24];
  for (int t = 0; t < 8; ++t) { strides[3 * t] = ${st[0]}; strides[3 * t + 1] = ${st[1]}; strides[3 * t + 2] = ${st[2]}; }
  const int sizes[] = {${[...c.sizes.grid, c.sizes.text].join(', ')}};
  const int rc = ${kernel}_backward(${c.dtype === 'bf16' ? 0 : 1}, do_, q_, k_, v_, o_, lse_, DLSE_, g[0], g[1], g[2], strides, ${B}, ${H}, sizes, valid_, 0, SCALE_, ws, nullptr);
  std::printf("rc %d\\n", rc);
  for (int i = 0; i < 3; ++i) {
    for (long long j = 0; j < n; ++j) std::printf("%u ", static_cast<unsigned>(g[i][j]));
    std::printf("\\n");
  }
  // the forward kernel through the same emulation (its layouts are the GPU-verified ones): o and lse
  uint16_t* fo = static_cast<uint16_t*>(std::aligned_alloc(16, n * 2 + 16));
  float* fl = static_cast<float*>(std::aligned_alloc(16, ${B * H * N} * 4 + 16));
  for (long long j = 0; j < n; ++j) fo[j] = 0x7fc1;
  for (long long j = 0; j < ${B * H * N}; ++j) fl[j] = NAN;
  const int rcf = ${kernel}_forward(${c.dtype === 'bf16' ? 0 : 1}, q_, k_, v_, fo, fl, strides, ${B}, ${H}, sizes, valid_, 0, SCALE_, nullptr);
  std::printf("rcf %d\\n", rcf);
  for (long long j = 0; j < n; ++j) std::printf("%u ", static_cast<unsigned>(fo[j]));
  std::printf("\\n");
  for (long long j = 0; j < ${B * H * N}; ++j) std::printf("%.9g ", fl[j]);
  std::printf("\\n");
  return 0;
}
`;
}

function runCase(c: Case, seed: number): string[] {
  const B = c.valid.length, H = 2;
  const r = c.runtime ? checkSource(c.src, { runtimeSizes: true }) : checkSource(c.src, { grid: c.sizes.grid, text: c.sizes.text });
  if (!r.ir) throw new Error(r.diagnostics.map((x) => x.message).join('; '));
  const at = checkSource(c.src, { grid: c.sizes.grid, text: c.sizes.text }).ir!;
  const e = emitCuda(r.ir);
  const kernel = e.info.kernel as string;
  const cu = e.files.find((f) => f.path.endsWith(`${kernel}.cu`))!.contents as string;
  const N = totalTokens(at), D = at.headDim;
  const d = inputs(at, c, B, H, seed);
  const rand = mulberry32(seed ^ 0x5eed);
  const dlse = c.dlse ? Float32Array.from({ length: B * H * N }, () => 2 * rand() - 1) : null;
  const src = `${hostSource(cu, kernel)}\nconstexpr float SCALE_ = ${at.scale};\n${harness(c, kernel, d, B, H, N, D, dlse)}`;
  const cpp = join(work, `${c.name}.cpp`), exe = join(work, c.name);
  writeFileSync(cpp, src);
  const cc = spawnSync('g++', ['-std=c++20', '-O1', '-w', '-U_FORTIFY_SOURCE', `-I${cudaInclude()}`, '-o', exe, cpp], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`g++: ${cc.stderr.slice(0, 4000)}`);
  const x = spawnSync(exe, [], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 300_000 });
  const lines = x.stdout.trim().split('\n');
  const errs: string[] = [];
  if (lines[0] !== 'rc 0') return [`${c.name}: ${lines[0]} ${x.stderr.slice(0, 500)}`];
  // the forward through the emulation first: it checks the emulation's fragment layouts against a kernel verified on GPUs
  if (lines[4] !== 'rcf 0') return [`${c.name}: forward ${lines[4]}`];
  const fo = lines[5].trim().split(' ').map((b) => valueOf(c.dtype, Number(b)));
  const fl = lines[6].trim().split(' ').map(Number);
  let oScale = 1e-2, oErr = 0, lseErr = 0, lseInf = 0;
  for (let j = 0; j < d.o.length; j++) { oScale = Math.max(oScale, Math.abs(d.o[j])); oErr = Math.max(oErr, Number.isFinite(fo[j]) ? Math.abs(fo[j] - d.o[j]) : Infinity); }
  for (let j = 0; j < d.lse.length; j++) {
    if (d.lse[j] === -Infinity || fl[j] === -Infinity) { if (d.lse[j] !== fl[j]) lseInf++; continue; }
    lseErr = Math.max(lseErr, Number.isFinite(fl[j]) ? Math.abs(fl[j] - d.lse[j]) : Infinity);
  }
  if (oErr > (c.dtype === 'bf16' ? 2e-2 : 5e-3) * oScale || lseErr > 1e-2 || lseInf) errs.push(`${c.name}: the emulated forward is off (o ${oErr.toExponential(2)} of ${oScale.toExponential(2)}, lse ${lseErr.toExponential(2)}, ${lseInf} -inf mismatches): the emulation is wrong`);
  const ref = referenceAttentionBackward(at, d.q, d.k, d.v, d.dO, { batch: B, heads: H, layout: c.layout, valid: c.valid });
  if (dlse) addLseGradient(at, c, d, dlse, ref, B, H);
  const tol = c.dtype === 'bf16' ? 3e-2 : 8e-3;
  // structural zeros: a row that sees no key (dQ), a key no row sees (dK, dV), per sample
  const seesAny: Uint8Array[] = [], seenBy: Uint8Array[] = [];
  for (let b = 0; b < B; b++) {
    const m = denseMask(at, c.valid[b]), rows = new Uint8Array(N), cols = new Uint8Array(N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) if (m[i * N + j]) { rows[i] = 1; cols[j] = 1; }
    seesAny.push(rows); seenBy.push(cols);
  }
  const tokenOf = (j: number): [number, number] => {
    const e = Math.floor(j / D);
    return c.layout === 'bhnd' ? [Math.floor(e / (H * N)), e % N] : [Math.floor(e / (N * H)), Math.floor(e / H) % N];
  };
  (['dQ', 'dK', 'dV'] as const).forEach((name, i) => {
    const got = lines[1 + i].trim().split(' ').map((b) => valueOf(c.dtype, Number(b)));
    const want = ref[name], reached = name === 'dQ' ? seesAny : seenBy;
    let scale = 1e-2, worst = 0, at_ = -1, nan = 0, notZero = 0;
    for (let j = 0; j < want.length; j++) scale = Math.max(scale, Math.abs(want[j]));
    for (let j = 0; j < want.length; j++) {
      if (!Number.isFinite(got[j])) { nan++; continue; }
      const [b, t] = tokenOf(j);
      if (!reached[b][t] && got[j] !== 0) notZero++;
      const err = Math.abs(got[j] - want[j]);
      if (err > worst) { worst = err; at_ = j; }
    }
    if (nan) errs.push(`${c.name} ${name}: ${nan} elements not written or not finite`);
    if (notZero) errs.push(`${c.name} ${name}: ${notZero} elements nonzero where no pair reaches them`);
    if (worst > tol * scale) errs.push(`${c.name} ${name}: max error ${worst.toExponential(2)} at ${at_} (got ${got[at_]}, want ${want[at_]}) > ${tol} x ${scale.toExponential(2)}`);
  });
  return errs;
}

/** The lse output's part of the gradients (d lse_i / d S_ij = P_ij): dQ_i += scale Σ_j P_ij g_i k_j, dK_j += scale Σ_i P_ij g_i q_i. */
function addLseGradient(ir: PatternIR, c: Case, d: Data, g: Float32Array, ref: { dQ: Float64Array; dK: Float64Array }, B: number, H: number): void {
  const N = totalTokens(ir), D = ir.headDim, stride = c.layout === 'bhnd' ? D : H * D;
  const base = (b: number, h: number): number => (c.layout === 'bhnd' ? (b * H + h) * N * D : (b * N * H + h) * D);
  for (let b = 0; b < B; b++) {
    const mask = denseMask(ir, c.valid[b]);
    for (let h = 0; h < H; h++) {
      const bh = base(b, h);
      for (let i = 0; i < N; i++) {
        const l = d.lse[(b * H + h) * N + i];
        if (l === -Infinity) continue;
        for (let j = 0; j < N; j++) {
          if (!mask[i * N + j]) continue;
          let s = 0;
          for (let e = 0; e < D; e++) s += d.q[bh + i * stride + e] * d.k[bh + j * stride + e];
          const w = Math.exp(s * ir.scale - l) * g[(b * H + h) * N + i] * ir.scale;
          for (let e = 0; e < D; e++) {
            ref.dQ[bh + i * stride + e] += w * d.k[bh + j * stride + e];
            ref.dK[bh + j * stride + e] += w * d.q[bh + i * stride + e];
          }
        }
      }
    }
  }
}

const P = (name: string, body: string): string => `pattern ${name}\n${body}`;
const CASES: Case[] = [
  { name: 'b_raster_before', src: P('e1', 'grid h=? w=?\ngroup h=2 w=3\norder raster\ntext 3 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64\ndtype bf16\n'),
    sizes: { grid: [5, 7], text: 3 }, runtime: true, dtype: 'bf16', layout: 'bhnd', valid: [2, 0] },
  { name: 'b_raster_dlse', src: P('e1', 'grid h=? w=?\ngroup h=2 w=3\norder raster\ntext 3 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64\ndtype bf16\n'),
    sizes: { grid: [5, 7], text: 3 }, runtime: true, dtype: 'fp16', layout: 'bnhd', valid: [3, 1], dlse: true },
  { name: 'pred_grouped_after', src: P('e2', 'grid h=5 w=6\ngroup h=2 w=2\norder grouped\nborder shift\ntext 4 after\nimage attends neighbors(h=1, w=0) + where(kw >= nw - 1 && dh >= -1) + text\ntext attends text\nhead_dim 64\ndtype fp16\n'),
    sizes: { grid: [5, 6], text: 4 }, runtime: false, dtype: 'fp16', layout: 'bnhd', valid: [4, 1] },
  { name: 'x_3d_128', src: P('e3', 'grid t=2 h=3 w=5\ngroup t=1 h=2 w=2\norder raster\ntext 2 after\nimage attends crisscross\ntext attends grid\nhead_dim 128\ndtype bf16\n'),
    sizes: { grid: [2, 3, 5], text: 2 }, runtime: false, dtype: 'bf16', layout: 'bnhd', valid: [0, 2] },
  { name: 'one_token_no_text', src: P('e4', 'grid h=? w=?\ngroup h=1 w=1\nimage attends neighbors(1)\nhead_dim 128\ndtype fp16\n'),
    sizes: { grid: [1, 1], text: 0 }, runtime: true, dtype: 'fp16', layout: 'bhnd', valid: [0] },
  { name: 'window_1d_text0', src: P('e5', 'grid n=?\ngroup n=16\ntext ? before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64\ndtype bf16\n'),
    sizes: { grid: [83], text: 0 }, runtime: true, dtype: 'bf16', layout: 'bhnd', valid: [0, 0] },
  // a key group of 80 tokens (two dK/dV tiles, one short) and a query group of 80 rows (two dQ tiles)
  { name: 'big_groups', src: P('e6', 'grid h=10 w=17\ngroup h=8 w=10\norder raster\ntext 70 before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 64\ndtype bf16\n'),
    sizes: { grid: [10, 17], text: 70 }, runtime: false, dtype: 'bf16', layout: 'bhnd', valid: [70, 5] },
];

describe('the backward kernels, emulated on the CPU, == the float64 reference', () => {
  const seed = (Math.random() * 2 ** 31) | 0;
  for (const c of CASES) {
    it(`${c.name} (${c.dtype}, ${c.layout}, valid ${c.valid.join('/')}${c.dlse ? ', with d lse' : ''}, seed ${seed})`, (ctx) => {
      if (!cudaInclude()) return ctx.skip();
      expect(runCase(c, seed)).toEqual([]);
    }, 600_000);
  }
});

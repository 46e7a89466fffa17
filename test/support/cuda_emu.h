// A host emulation of the few CUDA features the generated backward kernels use, for
// test/cuda.backward_emu.test.ts: the emitted kernel source runs on the CPU, each CTA's threads as
// fibers (one OS thread; _setjmp/_longjmp switches, makecontext for the first entry) that meet at
// __syncthreads and at every warp-wide operation (mma.sync m16n8k16, ldmatrix .x4 and .trans,
// __shfl_xor_sync), which are computed from the 32 lanes' operands by their PTX ISA fragment
// layouts. cp.async copies at once (its waits are then no-ops); ex2.approx is exp2f. Shared memory
// is filled with NaNs before each CTA, so a read of an unwritten element shows in the results.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <setjmp.h>
#include <ucontext.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#undef __global__
#undef __device__
#undef __forceinline__
#undef __shared__
#undef __launch_bounds__
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static  // (the kernels' __shared__ variables: one copy for the fibers of the CTA running)
#define __launch_bounds__(...)
#define cudaFuncSetAttribute(...) cudaSuccess
#define cudaGetLastError() cudaSuccess
#define cudaGetErrorString(e) "(emulated)"
using std::max;
using std::min;

inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline float __logf(float x) { return std::log(x); }
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32); }

namespace emu {
constexpr int SMEM = 1 << 18;
alignas(128) inline unsigned char smem[SMEM];
struct Bar { int arrived = 0, phase = 0, count = 0; };
struct Warp { Bar bar; uint32_t a[32][4]; uint32_t b[32][2]; float c[32][4]; uint32_t addr[32]; float f[32]; };
struct Fiber { jmp_buf ctx; ucontext_t uc; bool started = false, done = false; int tid = 0; std::vector<char> stack; };
inline jmp_buf sched;
inline std::vector<Fiber> fibers;
inline Fiber* cur = nullptr;
inline Bar cta;
inline Warp warps[32];
inline uint3 block;
inline void (*body)() = nullptr;
inline void (*on_block)() = nullptr;  // (cuda_emu90.h: its per-CTA state)

inline void yield() {
  if (!_setjmp(cur->ctx)) _longjmp(sched, 1);
}
inline void barrier(Bar& b) {
  const int phase = b.phase;
  if (++b.arrived == b.count) { b.arrived = 0; b.phase++; return; }
  while (b.phase == phase) yield();
}
inline int tid() { return cur->tid; }
inline int lane() { return cur->tid & 31; }
inline Warp& warp() { return warps[cur->tid >> 5]; }

inline void entry() {
  body();
  cur->done = true;
  _longjmp(sched, 1);
}

/** Runs `fn` as `threads` fibers for every block of `grid`, blocks one after another. */
template <typename F>
void launch(dim3 grid, int threads, F fn) {
  static F* held;
  held = &fn;
  body = [] { (*held)(); };
  fibers.assign(threads, Fiber{});
  for (int z = 0; z < (int)grid.z; ++z)
    for (int y = 0; y < (int)grid.y; ++y)
      for (int x = 0; x < (int)grid.x; ++x) {
        block = make_uint3(x, y, z);
        std::memset(smem, 0xff, SMEM);  // NaN bit patterns
        cta = Bar{0, 0, threads};
        for (int w = 0; w < (threads + 31) / 32; ++w) warps[w].bar = Bar{0, 0, 32};
        if (on_block) on_block();
        for (int t = 0; t < threads; ++t) {
          Fiber& f = fibers[t];
          f.started = false; f.done = false; f.tid = t;
          f.stack.resize(1 << 17);
          getcontext(&f.uc);
          f.uc.uc_stack.ss_sp = f.stack.data();
          f.uc.uc_stack.ss_size = f.stack.size();
          f.uc.uc_link = nullptr;
          makecontext(&f.uc, entry, 0);
        }
        for (bool alive = true; alive;) {
          alive = false;
          for (Fiber& f : fibers) {
            if (f.done) continue;
            alive = true;
            cur = &f;
            if (!_setjmp(sched)) {
              if (!f.started) { f.started = true; setcontext(&f.uc); }
              else _longjmp(f.ctx, 1);
            }
          }
        }
      }
}
}  // namespace emu

#define threadIdx (make_uint3(emu::tid(), 0, 0))
#define blockIdx (emu::block)
inline void __syncthreads() { emu::barrier(emu::cta); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::barrier(emu::warp().bar); }
inline float __shfl_xor_sync(unsigned, float v, int m) {
  emu::Warp& w = emu::warp();
  w.f[emu::lane()] = v;
  emu::barrier(w.bar);
  const float r = w.f[emu::lane() ^ m];
  emu::barrier(w.bar);
  return r;
}
#define __cvta_generic_to_shared(p) (static_cast<size_t>(reinterpret_cast<const unsigned char*>(p) - emu::smem))

namespace emu {
template <typename T> inline float elem(uint16_t bits);
template <> inline float elem<__nv_bfloat16>(uint16_t bits) { return __uint_as_float(static_cast<unsigned>(bits) << 16); }
template <> inline float elem<__half>(uint16_t bits) { __half_raw r; r.x = bits; return __half2float(__half(r)); }
inline uint16_t half_of(uint32_t w, int i) { return static_cast<uint16_t>(i ? w >> 16 : w & 0xffff); }

/** D = A B + C for one warp (m16n8k16, row.col): lane L holds A, B, C fragments by the PTX ISA layouts. */
template <typename T>
void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  Warp& w = warp();
  const int L = lane();
  for (int i = 0; i < 4; ++i) { w.a[L][i] = a[i]; w.c[L][i] = c[i]; }
  w.b[L][0] = b0; w.b[L][1] = b1;
  barrier(w.bar);
  auto A = [&](int r, int k) {  // a0: (g, 2t..), a1: (g+8, 2t..), a2: (g, 2t+8..), a3: (g+8, 2t+8..)
    const int g = r & 7, hi = r >> 3, kk = k & 7, kh = k >> 3;
    return elem<T>(half_of(w.a[g * 4 + kk / 2][hi + 2 * kh], kk & 1));
  };
  auto B = [&](int k, int n) {  // b0: (2t.., g), b1: (2t+8.., g)
    const int kk = k & 7, kh = k >> 3;
    return elem<T>(half_of(w.b[n * 4 + kk / 2][kh], kk & 1));
  };
  const int g = L >> 2, t = L & 3;
  float out[4];
  for (int i = 0; i < 4; ++i) {
    const int r = g + 8 * (i >> 1), n = 2 * t + (i & 1);
    float s = w.c[L][i];
    for (int k = 0; k < 16; ++k) s += A(r, k) * B(k, n);
    out[i] = s;
  }
  barrier(w.bar);
  for (int i = 0; i < 4; ++i) c[i] = out[i];
}

/** ldmatrix.x4 (.trans): lane i gives the address of row i % 8 of matrix i / 8. */
inline void ldm(uint32_t (&r)[4], uint32_t addr, bool trans) {
  Warp& w = warp();
  const int L = lane();
  w.addr[L] = addr;
  barrier(w.bar);
  auto at = [&](int m, int row, int col) { uint16_t x; std::memcpy(&x, smem + w.addr[m * 8 + row] + 2 * col, 2); return x; };
  for (int m = 0; m < 4; ++m) {
    const uint16_t lo = trans ? at(m, 2 * (L & 3), L >> 2) : at(m, L >> 2, 2 * (L & 3));
    const uint16_t hi = trans ? at(m, 2 * (L & 3) + 1, L >> 2) : at(m, L >> 2, 2 * (L & 3) + 1);
    r[m] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  }
  barrier(w.bar);
}

inline void copy(uint32_t dst, const void* src, int bytes, int src_bytes) {
  std::memset(smem + dst, 0, bytes);
  if (src_bytes > 0) std::memcpy(smem + dst, src, src_bytes);
}
}  // namespace emu

/** kernel<<<grid, threads, smem, stream>>>(args) as the tests rewrite it. */
template <typename K, typename... A>
void emu_launch(K kernel, dim3 grid, int threads, int, cudaStream_t, const A&... args) {
  emu::launch(grid, threads, [&] { kernel(args...); });
}

// the replacements of the kernels' tensor-core helpers (the mma partial), inside the kernel's namespace
#define EMU_MMA_HELPERS \
  template <typename T> \
  inline void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) { emu::mma<T>(c, a, b0, b1); } \
  inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) { emu::ldm(r, addr, false); } \
  inline void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) { emu::ldm(r, addr, true); } \
  inline void cp_async16(uint32_t dst, const void* src, int src_bytes) { emu::copy(dst, src, 16, src_bytes); } \
  inline void cp_async4(uint32_t dst, const void* src, int src_bytes) { emu::copy(dst, src, 4, src_bytes); } \
  inline void cp_async_commit() {} \
  template <int N> inline void cp_async_wait() {}

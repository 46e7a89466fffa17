// The sm_90a (Hopper) features the generated kernel_sm90 kernels use, on top of cuda_emu.h (fibers
// for threads), for test/cuda.sm90_emu.test.ts:
//   wgmma.mma_async m64nNk16 (bf16/fp16, f32 accumulators): A and B from smem by 128-byte-swizzle
//     matrix descriptors (K-major, or B MN-major with the transpose bit), or A from registers; the
//     128 threads of the warpgroup meet and each computes its own accumulators by the PTX ISA
//     fragment layout, at issue (fence/commit/wait are then no-ops: a correct kernel neither
//     rewrites the operands nor reads the accumulators before its wait);
//   mbarrier init / arrive / arrive.expect_tx / try_wait.parity (phase, pending count, tx bytes);
//   cp.async.bulk.tensor 3-5d tile loads with CU_TENSOR_MAP_SWIZZLE_128B, zero fill out of bounds,
//     complete_tx on the mbarrier at once; cuTensorMapEncodeTiled (through
//     cudaGetDriverEntryPointByVersion) keeps base, dims, strides and box in the map's 128 bytes;
//   named barriers (bar.sync / bar.arrive id, count), __any_sync, atomicAdd, setmaxnreg, prefetch
//     and the proxy fences (no-ops).
// The swizzle is the hardware's: 16-byte chunk bits 4-6 of a shared address XOR its bits 7-9.
#pragma once
#include "cuda_emu.h"
#include <cuda.h>
#include <cudaTypedefs.h>
#include <atomic>
#include <climits>
#include <map>

#define GRAT_SM90A_BODY 1
#define __grid_constant__
#define __trap() std::abort()
#define cudaGetSymbolAddress(p, s) (*(p) = static_cast<void*>(&(s)), cudaSuccess)
#define cudaMemsetAsync(p, v, n, s) (std::memset((p), (v), (n)), cudaSuccess)
#define cudaGetDevice(d) (*(d) = 0, cudaSuccess)
#define cudaDeviceGetAttribute(x, a, d) (*(x) = emu90::SMS, cudaSuccess)
#define cudaGetDriverEntryPointByVersion(name, fn, ver, flags, qr) emu90::entry_point((name), (fn), (qr))

inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline int atomicAdd(int* p, int v) { const int old = *p; *p += v; return old; }
inline bool __any_sync(unsigned, bool pred) {
  emu::Warp& w = emu::warp();
  w.f[emu::lane()] = pred ? 1.f : 0.f;
  emu::barrier(w.bar);
  bool any = false;
  for (int i = 0; i < 32; ++i) any = any || w.f[i] != 0.f;
  emu::barrier(w.bar);
  return any;
}

namespace emu90 {
inline int SMS = 3;  // CTAs of a persistent launch (they run one after another)
// what ran (the test checks that the paths it means to cover did): TMA boxes, wgmma by warpgroup-instruction
inline long long tma_loads = 0, wgmmas = 0;

/** The hardware's 128-byte swizzle of a shared-memory byte address. */
inline uint32_t sw128(uint32_t a) { return a ^ (((a >> 7) & 7u) << 4); }

struct MBar { int count = 0, pending = 0, phase = 0; long long tx = 0; };
inline std::map<uint32_t, MBar> mbars;
struct Named { int arrived = 0, gen = 0; };
inline Named named[16];
struct Group { emu::Bar bar; float* acc[128]; uint32_t a[128][4]; };
inline Group groups[4];

inline void on_block() {
  mbars.clear();
  for (Named& n : named) n = Named{};
  for (int g = 0; g < 4; ++g) groups[g].bar = emu::Bar{0, 0, 128};
}

inline void mbar_complete_if_done(MBar& m) {
  if (m.pending == 0 && m.tx == 0) { m.phase++; m.pending = m.count; }
}
inline void mbar_init(uint32_t bar, int count) { mbars[bar] = MBar{count, count, 0, 0}; }
inline void mbar_arrive(uint32_t bar) {
  MBar& m = mbars.at(bar);
  if (m.pending <= 0) { std::fprintf(stderr, "emu90: mbarrier %u: arrive past its count\n", bar); std::abort(); }
  m.pending--;
  mbar_complete_if_done(m);
}
inline void mbar_expect_tx(uint32_t bar, uint32_t bytes) { mbars.at(bar).tx += bytes; mbar_arrive(bar); }
inline void mbar_complete_tx(uint32_t bar, uint32_t bytes) { MBar& m = mbars.at(bar); m.tx -= bytes; mbar_complete_if_done(m); }
/** try_wait.parity in a loop: the phase of parity `parity` has completed (the current phase's parity differs). */
inline void mbar_wait(uint32_t bar, int parity) {
  while ((mbars.at(bar).phase & 1) == (parity & 1)) emu::yield();
}

inline void named_sync(int id, int n) {
  Named& b = named[id];
  const int gen = b.gen;
  if (++b.arrived == n) { b.arrived = 0; b.gen++; return; }
  while (b.gen == gen) emu::yield();
}
inline void named_arrive(int id, int n) {
  Named& b = named[id];
  if (++b.arrived == n) { b.arrived = 0; b.gen++; }
}

// ---- tensor maps: opaque[0] base, [1] rank, [2..6] dims, [7..10] byte strides of dims 1.., [11..15] box ----
inline CUresult encode_tiled(CUtensorMap* m, CUtensorMapDataType, cuuint32_t rank, void* base, const cuuint64_t* dims, const cuuint64_t* strides,
                             const cuuint32_t* box, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle swizzle, CUtensorMapL2promotion,
                             CUtensorMapFloatOOBfill) {
  if (rank < 1 || rank > 5 || swizzle != CU_TENSOR_MAP_SWIZZLE_128B || box[0] * 2 != 128) return CUDA_ERROR_INVALID_VALUE;
  std::memset(m, 0, sizeof(CUtensorMap));
  uint64_t* o = reinterpret_cast<uint64_t*>(m);
  o[0] = reinterpret_cast<uint64_t>(base);
  o[1] = rank;
  for (cuuint32_t i = 0; i < rank; ++i) { o[2 + i] = dims[i]; o[11 + i] = box[i]; if (box[i] < 1 || box[i] > 256) return CUDA_ERROR_INVALID_VALUE; }
  for (cuuint32_t i = 0; i + 1 < rank; ++i) { o[7 + i] = strides[i]; if (strides[i] % 16) return CUDA_ERROR_INVALID_VALUE; }
  return CUDA_SUCCESS;
}
inline cudaError_t entry_point(const char* name, void** fn, cudaDriverEntryPointQueryResult* qr) {
  if (std::strcmp(name, "cuTensorMapEncodeTiled") != 0) return cudaErrorInvalidValue;
  *fn = reinterpret_cast<void*>(&encode_tiled);
  *qr = cudaDriverEntryPointSuccess;
  return cudaSuccess;
}

/** A TMA tile load of the box at coordinates c (fastest first) into dst (swizzled), zeros out of bounds; complete_tx on bar. */
inline void tma(uint32_t dst, const CUtensorMap* map, uint32_t bar, const int* c, int rank) {
  const uint64_t* o = reinterpret_cast<const uint64_t*>(map);
  if (static_cast<int>(o[1]) != rank) { std::fprintf(stderr, "emu90: tma rank %d on a map of rank %d\n", rank, static_cast<int>(o[1])); std::abort(); }
  const unsigned char* base = reinterpret_cast<const unsigned char*>(o[0]);
  int box[5] = {1, 1, 1, 1, 1};
  for (int i = 0; i < rank; ++i) box[i] = static_cast<int>(o[11 + i]);
  uint32_t off = 0;
  int i_[5];
  for (i_[4] = 0; i_[4] < box[4]; ++i_[4])
    for (i_[3] = 0; i_[3] < box[3]; ++i_[3])
      for (i_[2] = 0; i_[2] < box[2]; ++i_[2])
        for (i_[1] = 0; i_[1] < box[1]; ++i_[1])
          for (i_[0] = 0; i_[0] < box[0]; ++i_[0], off += 2) {
            bool in = true;
            long long byte = 0;
            for (int d = 0; d < rank; ++d) {
              const long long x = static_cast<long long>(c[d]) + i_[d];
              if (x < 0 || x >= static_cast<long long>(o[2 + d])) in = false;
              byte += x * (d == 0 ? 2 : static_cast<long long>(o[7 + d - 1]));
            }
            uint16_t v = 0;
            if (in) std::memcpy(&v, base + byte, 2);
            std::memcpy(emu::smem + sw128(dst + off), &v, 2);
          }
  tma_loads++;
  mbar_complete_tx(bar, off);
}

/** Element (row, col) of a 128B-swizzled operand: K-major (row = M or N, col = K) or MN-major (row = K, col = M or N). */
template <typename T>
inline float operand(uint64_t desc, int row, int col, bool mn_major) {
  const uint32_t start = static_cast<uint32_t>(desc & 0x3FFF) << 4;
  const uint32_t lbo = static_cast<uint32_t>((desc >> 16) & 0x3FFF) << 4, sbo = static_cast<uint32_t>((desc >> 32) & 0x3FFF) << 4;
  if ((desc >> 62) != 1) { std::fprintf(stderr, "emu90: only the 128-byte swizzle is emulated\n"); std::abort(); }
  const uint32_t a = mn_major ? start + (col / 64) * lbo + (row / 8) * sbo + (row % 8) * 128 + (col % 64) * 2
                              : start + (row / 8) * sbo + (row % 8) * 128 + col * 2;  // (col < 16: inside one 128-byte row)
  uint16_t bits;
  std::memcpy(&bits, emu::smem + sw128(a), 2);
  return emu::elem<T>(bits);
}

/** wgmma m64nNk16 for this thread of its warpgroup: A from smem (desc_a) or registers (a), B from smem (K-major, or MN-major when trans_b). */
template <int N, typename T>
inline void wgmma(float* d, bool from_regs, uint64_t desc_a, const uint32_t* a, uint64_t desc_b, bool trans_b, bool scale_d) {
  const int ctid = emu::tid() & 127;
  Group& g = groups[emu::tid() >> 7];
  if (from_regs) for (int i = 0; i < 4; ++i) g.a[ctid][i] = a[i];
  emu::barrier(g.bar);
  const int warp = ctid >> 5, lane = ctid & 31, gr = lane >> 2, t = lane & 3;
  auto A = [&](int m, int k) -> float {
    if (!from_regs) return operand<T>(desc_a, m, k, false);
    // the mma.sync m16n8k16 A layout per warp: a0 (g, 2t..), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
    const int w = m >> 4, r = m & 15, g2 = r & 7, hi = r >> 3, kk = k & 7, kh = k >> 3;
    return emu::elem<T>(emu::half_of(g.a[w * 32 + g2 * 4 + kk / 2][hi + 2 * kh], kk & 1));
  };
  float out[N / 2];
  for (int i = 0; i < N / 2; ++i) {
    const int j = i >> 2, e = i & 3;
    const int m = warp * 16 + gr + 8 * (e >> 1), n = 8 * j + 2 * t + (e & 1);
    float s = scale_d ? d[i] : 0.f;
    for (int k = 0; k < 16; ++k) s += A(m, k) * (trans_b ? operand<T>(desc_b, k, n, true) : operand<T>(desc_b, n, k, false));
    out[i] = s;
  }
  emu::barrier(g.bar);
  if (ctid == 0) wgmmas++;
  for (int i = 0; i < N / 2; ++i) d[i] = out[i];
}
inline const bool hooked = (emu::on_block = &on_block, true);
}  // namespace emu90

// the replacements of the kernel's wgmma wrappers and Hopper primitives, inside the kernel's namespace
#define EMU90_WGMMA \
  template <int N, typename T> struct Wgmma { \
    static void ss(float (&d)[N / 2], uint64_t a, uint64_t b, int scale_d) { emu90::wgmma<N, T>(d, false, a, nullptr, b, false, scale_d != 0); } \
    static void rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b) { emu90::wgmma<N, T>(d, true, 0, a, b, true, true); } \
  };
#define EMU90_HELPERS \
  EMU90_WGMMA \
  inline void cp_async16(uint32_t dst, const void* src, int src_bytes) { emu::copy(dst, src, 16, src_bytes); } \
  inline void cp_async_commit() {} \
  template <int N> inline void cp_async_wait() {} \
  inline void mbar_init(uint32_t bar, int count) { emu90::mbar_init(bar, count); } \
  inline void mbar_arrive(uint32_t bar) { emu90::mbar_arrive(bar); } \
  inline void mbar_wait(uint32_t bar, int parity) { emu90::mbar_wait(bar, parity); } \
  inline void fence_proxy_async() {} \
  inline void mbar_expect_tx(uint32_t bar, uint32_t bytes) { emu90::mbar_expect_tx(bar, bytes); } \
  inline void tma3(uint32_t dst, const CUtensorMap* m, uint32_t bar, int c0, int c1, int c2) { const int c[] = {c0, c1, c2}; emu90::tma(dst, m, bar, c, 3); } \
  inline void tma4(uint32_t dst, const CUtensorMap* m, uint32_t bar, int c0, int c1, int c2, int c3) { const int c[] = {c0, c1, c2, c3}; emu90::tma(dst, m, bar, c, 4); } \
  inline void tma5(uint32_t dst, const CUtensorMap* m, uint32_t bar, int c0, int c1, int c2, int c3, int c4) { const int c[] = {c0, c1, c2, c3, c4}; emu90::tma(dst, m, bar, c, 5); } \
  inline void named_sync(int id, int n) { emu90::named_sync(id, n); } \
  inline void named_arrive(int id, int n) { emu90::named_arrive(id, n); } \
  inline void wg_fence() {} \
  inline void wg_commit() {} \
  template <int N> inline void wg_wait() {} \
  template <int M> inline void fence_regs(float (&)[M]) {} \
  template <int M> inline void fence_regs(uint32_t (&)[M][4]) {}

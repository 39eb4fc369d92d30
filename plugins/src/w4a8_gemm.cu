// Kernel family 2: W4A8 GEMM with integer (or, for the baseline, float) group
// scales on mma.sync (sm_80+): the path of sm_80/sm_89 GPUs, of group sizes
// below 128, and of the decode shapes where it beats the sm_90a wgmma kernel
// (family 3, w4a8_wgmma.cu); run_gemm below chooses (use_wgmma_path).
//
// Computes contract steps 3-5 on the INT8 activations of family 1 (at M = 1
// with small K and N it quantizes them itself, steps 1-2: kFusedQuant below):
//   P[m,g,n]  = sum_{k in group g} xq[m,k] * q[n,k]          (INT8 tensor cores, INT32)
//   acc[m,n] += P[m,g,n] * S[n,g]                             (INT32, integer scale)
//   Y[m,n]    = (float(acc) * sa[m]) * C[n] (+ B[n])          (one conversion per output)
// The float-scale baseline instead keeps a float sum: accf += float(P) * s[n,g],
// Y = accf * sa[m] (+ B[n]); it exists to measure what integer scales save.
//
// Data layout. Weights stay in the exported layout nk_u4x8: row n of Wq is
// output channel n, 32-bit word j holds k = 8j..8j+7 as nibbles u = q + 8
// (nibble i in bits 4i..4i+3). Activations are int8 [M, K] row-major.
//
// Work split. A warp computes a 16 x (8*NT) tile of Y with mma.sync
// m16n8k32 (s8 x s8 -> s32, sm_80+). Two block shapes (template kKWarps):
//   kKWarps = 1: 4 warps side by side along N, each over all of K (large M);
//   kKWarps = 8: 8 warps over the same 16 columns, each over 1/8 of the
//     groups (small M, where the grid would otherwise be far too small to
//     keep the memory system busy). The warps' partial sums, already scaled
//     per group, are added in shared memory in a fixed order and the block
//     finishes the epilogue: no atomics, no workspace, no second kernel. For
//     integer scales the split is exact whatever the order (INT32 addition is
//     associative), a property float scales do not have.
//
// The k permutation trick. The mma sums over its 32 k "slots"; any bijection
// between slots and actual k is fine as long as A and B use the same one. The
// fragment of m16n8k32 gives thread t = lane % 4 the slots 4t..4t+3 (registers
// a0/a1 and b0) and 16+4t..16+4t+3 (a2/a3 and b1). We map them to actual
// k = base + 0..3 and base + 4..7 with base = CHUNK/4 * t + 8 * s for step s of
// a chunk of CHUNK = 32 * W consecutive k (W = 1, 2 or 4 words; a chunk never
// spans two groups). Then:
//   - a thread's B data for a whole chunk is W consecutive 32-bit words of its
//     row: one vector load (uint4 for W = 4), and step s uses word s;
//   - its A data is 8 * W consecutive bytes of each of its two rows; step s uses
//     bytes 8s..8s+7: the low 4 bytes are a0 (a1 for row + 8), the high 4 are a2 (a3).
//
// Unpacking 4 bits to int8 in registers: int4_unpack.cuh.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "act_quant.cuh"
#include "block_timeline.cuh"
#include "common.cuh"
#include "gemm_paths.h"
#include "int4_unpack.cuh"
#include "sm90_async.cuh"  // cp_async_4 (valid from sm_80)

namespace is {

constexpr int kWarps = 4;   // warps per block, side by side along N
constexpr int kNT = 2;      // n8 tiles per warp: a warp covers 16 columns
constexpr int kBlockN = kWarps * kNT * 8;
// Chunks whose operands are loaded ahead (see Pipelining): 4 for the N-split
// shape; 2 for the K-split shape, whose 8-warp blocks must fit twice per SM
// (128 registers a thread). The 8-row K-split kernel (M <= 8, rows 8..15
// empty) is given 2 or 3 by its launcher (kRows8ShallowMaxK); until v26 it
// had 4, which the H100 measured slower. IS_NSPLIT_STAGES and
// IS_ROWS16_STAGES (build-time measurement knobs, scripts/build_variant.sh)
// set the other two; the 16-row kernel's 3 stages spill (PERF.md, "ninth
// session": rejected on the H200).
#ifndef IS_NSPLIT_STAGES
#define IS_NSPLIT_STAGES 4
#endif
#ifndef IS_ROWS16_STAGES
#define IS_ROWS16_STAGES 2
#endif
template <int kKWarps>
constexpr int kStagesFor = kKWarps == 1 ? IS_NSPLIT_STAGES : IS_ROWS16_STAGES;

__device__ __forceinline__ void mma_s8(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                       uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 16 or 8 bytes from shared memory at a 32-bit shared address (fewer registers than a generic pointer).
__device__ __forceinline__ uint4 lds128(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
  return v;
}
__device__ __forceinline__ uint2 lds64(uint32_t addr) {
  uint2 v;
  asm volatile("ld.shared.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "r"(addr));
  return v;
}

// Load W consecutive 32-bit words with one vector load (the caller guarantees alignment).
template <int W>
__device__ __forceinline__ void load_words(const void* p, uint32_t (&out)[W]) {
  if constexpr (W == 4) {
    uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w;
  } else if constexpr (W == 2) {
    uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    out[0] = v.x; out[1] = v.y;
  } else {
    out[0] = __ldg(reinterpret_cast<const uint32_t*>(p));
  }
}

template <bool kIntScale>
using Acc = typename std::conditional<kIntScale, int, float>::type;

// kRows16: the block's 16 rows may all hold tokens; false when M <= 8 (rows
// 8..15 of the m16 tile are then zero: not loaded, not stored).
// kFusedQuant (K-split shape, M <= kFusedRows; used at M = 1, see
// use_fused_quant): the block quantizes the
// activations itself (contract steps 1-2, act_quant.cuh) instead of reading
// xq and sa from the quantization kernel: after its first weight loads are
// in flight, every block takes the row maxima over all of X (M * K values,
// from L2), quantizes the rows into its dynamic shared memory (rows
// kFusedRowPad bytes longer than K, so that the A loads of different rows
// fall in different banks) and reads its A fragments from there. One kernel
// per call instead of two: the hand-off between them was 1.8-3.1 us of each
// decode call (PERF.md, v9).
constexpr int kFusedRows = 4;
constexpr int kFusedRowPad = 16;
// M rows of fused_row_bytes(K); larger take the quantization kernel. With the
// kernel's ~8 KB of static shared memory this stays within the default 48 KB
// per block, so no cudaFuncSetAttribute is needed (use_fused_quant's M * K
// bound keeps it at <= 16.4 KB today).
constexpr int kFusedMaxSmem = 32 * 1024;
// Bytes between fused rows in shared memory: 16-byte aligned, plus the pad.
__host__ __device__ constexpr int64_t fused_row_bytes(int64_t K) { return (K + 15) / 16 * 16 + kFusedRowPad; }

template <typename T, bool kIntScale, int W, int kKWarps, bool kRows16, bool kFusedQuant = false,
          int kStagesArg = kStagesFor<kKWarps>>
__global__ void __launch_bounds__(kKWarps == 1 ? kWarps * 32 : kKWarps * 32, kKWarps == 1 ? 1 : 2)
w4a8_gemm_kernel(const T* __restrict__ x, const int8_t* __restrict__ xq, const float* __restrict__ sa,
                 const uint32_t* __restrict__ wq, const int32_t* __restrict__ S, const float* __restrict__ s_float,
                 const float* __restrict__ C, const T* __restrict__ bias, T* __restrict__ y, int M, int N, int K,
                 int group_size) {
  static_assert(!kFusedQuant || (kKWarps > 1 && !kRows16), "fused quantization: K-split blocks, M <= 8");
  // Timeline build only (block_timeline.cuh): variant W * 100 + kKWarps.
  [[maybe_unused]] constexpr uint16_t kTlKernel = timeline_kernel(kTlMma, W * 100 + kKWarps);
  IS_TL_BLOCK(kTlKernel, y);
  allow_dependent_launch();  // the next kernel may be scheduled as SMs free up (common.cuh)
  constexpr int kChunk = 32 * W;
  // (3 with fused quantization: its prologue's registers leave no room for 4 without spills.)
  constexpr int kStages = kFusedQuant ? 3 : kStagesArg;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int r = lane >> 2, t = lane & 3;
  const int n_warp = kKWarps == 1 ? (blockIdx.x * kWarps + warp) * (kNT * 8) : blockIdx.x * (kNT * 8);
  if (kKWarps == 1 && n_warp >= N) return;  // only the N-split shape has idle warps, and no barrier
  const int m0 = blockIdx.y * 16;
  const int G = K / group_size;
  // This warp's groups: all of them, or its 1/kKWarps share.
  const int per_warp = (G + kKWarps - 1) / kKWarps;
  const int g_begin = kKWarps == 1 ? 0 : min(G, warp * per_warp);
  const int g_end = kKWarps == 1 ? G : min(G, g_begin + per_warp);

  // Rows past M and columns past N read the last valid row/column (never
  // out of bounds) and are not stored.
  const int8_t* a_row0 = xq + (size_t)min(m0 + r, M - 1) * K + 8 * W * t;  // (kFusedQuant: a_smem below)
  extern __shared__ __align__(16) int8_t fused_xq[];  // kFusedQuant: [M][fused_row_bytes(K)]
  const uint32_t a_smem = static_cast<uint32_t>(__cvta_generic_to_shared(fused_xq)) +
                          (uint32_t)(min(r, M - 1) * fused_row_bytes(K) + 8 * W * t);
  const int8_t* a_row1 = xq + (size_t)min(m0 + r + 8, M - 1) * K + 8 * W * t;
  const uint32_t* b_row[kNT];
#pragma unroll
  for (int j = 0; j < kNT; ++j) b_row[j] = wq + (size_t)min(n_warp + 8 * j + r, N - 1) * (K / 8) + W * t;
  // This thread's output columns in each n8 tile: 2t and 2t + 1.
  int col[kNT][2];
#pragma unroll
  for (int j = 0; j < kNT; ++j) {
    col[j][0] = min(n_warp + 8 * j + 2 * t, N - 1);
    col[j][1] = min(n_warp + 8 * j + 2 * t + 1, N - 1);
  }

  // Pipelining: the operands of kStages chunks are in flight at once. A
  // register ring frag[0..kStages) (indexed only by unrolled constants, so it
  // stays in registers) is filled ahead; each slot is refilled with the chunk
  // kStages further on right after it is consumed. At small M the kernel is
  // bound by weight bytes, and this is what keeps enough of them in flight.
  // The group's scales ride with the chunk, so that the per-group epilogue
  // never waits for a load it could have issued earlier.
  struct Frag {
    uint32_t a0[2 * W], a1[kRows16 ? 2 * W : 1], b[kNT][W];
    Acc<kIntScale> sc[kNT][2];
  };
  const int chunks_per_group = group_size / kChunk;
  // Weights and scales: independent of the activations.
  auto load_b = [&](int c, Frag& f) {
    const int kc = c * kChunk;
    const int g = c / chunks_per_group;
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if constexpr (kIntScale) f.sc[j][h] = __ldg(S + (size_t)col[j][h] * G + g);
        else f.sc[j][h] = __ldg(s_float + (size_t)col[j][h] * G + g);
      }
#pragma unroll
    for (int j = 0; j < kNT; ++j) load_words<W>(b_row[j] + kc / 8, f.b[j]);
  };
  // Activations: written by the quantization kernel just before this one
  // (global memory), or (kFusedQuant) by this block (shared memory).
  auto load_a = [&](int c, Frag& f) {
    const int kc = c * kChunk;
    if constexpr (kFusedQuant) {  // 8W bytes: 8W * t is 16-byte aligned for W >= 2, 8-byte for W = 1
      if constexpr (W == 1) {
        const uint2 q = lds64(a_smem + kc);
        f.a0[0] = q.x; f.a0[1] = q.y;
      } else {
#pragma unroll
        for (int v = 0; v < 2 * W; v += 4) {
          const uint4 q = lds128(a_smem + kc + 4 * v);
          f.a0[v] = q.x; f.a0[v + 1] = q.y; f.a0[v + 2] = q.z; f.a0[v + 3] = q.w;
        }
      }
      return;
    }
    // 8W bytes of A per row = 2W words; coherent loads after the wait
    // (ld_produced_*, common.cuh: __ldg let ptxas hoist them above it).
    auto load_row = [](const int8_t* p, uint32_t* out) {
      if constexpr (W == 1) {
        const uint2 v = ld_produced_v2(p);
        out[0] = v.x; out[1] = v.y;
      } else {
#pragma unroll
        for (int v4 = 0; v4 < 2 * W; v4 += 4) {
          const uint4 v = ld_produced_v4(p + 4 * v4);
          out[v4] = v.x; out[v4 + 1] = v.y; out[v4 + 2] = v.z; out[v4 + 3] = v.w;
        }
      }
    };
    load_row(a_row0 + kc, f.a0);
    if constexpr (kRows16) load_row(a_row1 + kc, f.a1);
  };
  // A registers of rows r + 8 for step s (zero when the tile has no rows 8..15).
  auto a1_lo = [](const Frag& f, int s) -> uint32_t { if constexpr (kRows16) return f.a1[2 * s]; else return 0u; };
  auto a1_hi = [](const Frag& f, int s) -> uint32_t { if constexpr (kRows16) return f.a1[2 * s + 1]; else return 0u; };

  const int c_begin = g_begin * chunks_per_group, c_end = g_end * chunks_per_group;
  // Every stage's weights are copied before the wait (PERF.md, ninth
  // session: copying only 1-3 of the 4 early measured 1.04-1.15x slower;
  // eleventh, after the race fix, in the 8-row kernel: 1.00-1.16x slower).
  Frag frag[kStages];
#pragma unroll
  for (int s = 0; s < kStages; ++s)
    if (c_begin + s < c_end) load_b(c_begin + s, frag[s]);
  // The epilogue's factors into shared memory while the K loop runs, so that
  // warp 0's epilogue after the K-split reduction does not start with a
  // round trip to DRAM (C) or L2 (sa): C's 16 columns by cp.async before the
  // wait (C is a weight, not written by the previous kernel), sa's rows right
  // after it. cp.async holds no registers, which the 128-register K-split
  // blocks have none left for. Measured (PERF.md, tenth and eleventh H200
  // sessions): the block-fused kernel (M = 1) 1.06x and the 16-row one
  // (M = 9-16) 1.02-1.05x faster at 4096x4096; the 8-row kernel (M = 2-8),
  // after the race fix and with the epilogue's gathered loads below,
  // 1.05-1.07x at 4096x11008 and even at 4096x4096 (it had measured 1.07x
  // slower at 4096x4096 M = 8 against the racy order, which overlapped xq's
  // first loads with the wait).
  // (Prefetching the same lines into L1 instead measured slower everywhere:
  // ninth session.)
  constexpr bool kEpiSmem = kKWarps > 1;
  __shared__ float epi_c[kEpiSmem ? kNT * 8 : 1], epi_sa[kEpiSmem ? 16 : 1];
  if constexpr (kEpiSmem && kIntScale) {  // (the float baseline has no C)
    if (warp == 0 && lane < kNT * 8)
      cp_async_4(&epi_c[lane], C + min(n_warp + lane, N - 1));
  }
  wait_for_prerequisite_grid();  // X (fused) or xq and sa are complete from here on (see common.cuh)
  IS_TL_WAIT_DONE(threadIdx.x == 0, kTlKernel, y);
  if constexpr (kEpiSmem && !kFusedQuant) {  // sa of the block's 16 rows (the last row again past M)
    if (warp == 0 && lane < 16)
      cp_async_4(&epi_sa[lane], sa + min(m0 + lane, M - 1));
  }
  if constexpr (kEpiSmem) asm volatile("cp.async.commit_group;" ::: "memory");
  __shared__ float fused_sa[kFusedRows];
  if constexpr (kFusedQuant) {
    // Row maxima over all of K: each thread a strided share of 16-byte
    // vectors, then warps (shuffles) and the block (shared memory).
    __shared__ float fused_inv[kFusedRows];
    __shared__ float warp_max[kKWarps][kFusedRows];
    constexpr int kN = Vec16<T>::kN;
    const int n_vec = K / kN;
    float amax[kFusedRows] = {};
#pragma unroll
    for (int m = 0; m < kFusedRows; ++m) {
      if (m >= M) break;
      const uint4* row = reinterpret_cast<const uint4*>(x + (size_t)m * K);
      for (int i = threadIdx.x; i < n_vec; i += kKWarps * 32) {
        Vec16<T> vec;
        vec.raw = ld_produced_v4(row + i);  // X: the previous kernel's output
#pragma unroll
        for (int e = 0; e < kN; ++e) amax[m] = fmaxf(amax[m], fabsf(vec.get(e)));
      }
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) amax[m] = fmaxf(amax[m], __shfl_xor_sync(0xffffffffu, amax[m], off));
      if (lane == 0) warp_max[warp][m] = amax[m];
    }
    __syncthreads();
    if (threadIdx.x < M) {
      float a = warp_max[0][threadIdx.x];
#pragma unroll
      for (int w = 1; w < kKWarps; ++w) a = fmaxf(a, warp_max[w][threadIdx.x]);
      fused_inv[threadIdx.x] = quant_inverse_scale(a);
      fused_sa[threadIdx.x] = quant_scale(a);
    }
    __syncthreads();
    // Quantize the rows into shared memory, natural k order (X again, now from L1/L2).
#pragma unroll
    for (int m = 0; m < kFusedRows; ++m) {
      if (m >= M) break;
      const float inv = fused_inv[m];
      const uint4* row = reinterpret_cast<const uint4*>(x + (size_t)m * K);
      int8_t* out = fused_xq + m * fused_row_bytes(K);
      for (int i = threadIdx.x; i < n_vec; i += kKWarps * 32) {
        Vec16<T> vec;
        vec.raw = ld_produced_v4(row + i);  // X: the previous kernel's output
        uint32_t word[kN / 4];
#pragma unroll
        for (int e = 0; e < kN; ++e) {
          const uint32_t q = (uint8_t)quantize_one(vec.get(e), inv);
          word[e / 4] = e % 4 == 0 ? q : word[e / 4] | (q << (8 * (e % 4)));
        }
        if constexpr (kN == 8) *reinterpret_cast<uint2*>(out + i * kN) = make_uint2(word[0], word[1]);
        else *reinterpret_cast<uint32_t*>(out + i * kN) = word[0];
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int s = 0; s < kStages; ++s)
    if (c_begin + s < c_end) load_a(c_begin + s, frag[s]);

  Acc<kIntScale> acc[kNT][4] = {};
  int p[kNT][4] = {};
  for (int c0 = c_begin; c0 < c_end; c0 += kStages) {
#pragma unroll
    for (int st = 0; st < kStages; ++st) {
      const int c = c0 + st;
      if (c >= c_end) break;
#pragma unroll
      for (int s = 0; s < W; ++s) {
#pragma unroll
        for (int j = 0; j < kNT; ++j) {
          uint32_t b0, b1;
          unpack_word(frag[st].b[j][s], b0, b1);
          mma_s8(p[j], frag[st].a0[2 * s], a1_lo(frag[st], s), frag[st].a0[2 * s + 1], a1_hi(frag[st], s), b0, b1);
        }
      }
      IS_TL_MARK(threadIdx.x == 0 && c == c_begin, kTlKernel, kTlMark + 2, y);  // timeline build: first chunk's mma issued
      if ((c + 1) % chunks_per_group == 0) {
        // The group is complete: the per-group scale, the integer epilogue of
        // the paper (or the float baseline), then a fresh partial sum.
#pragma unroll
        for (int j = 0; j < kNT; ++j) {
          const auto s0 = frag[st].sc[j][0], s1 = frag[st].sc[j][1];
          if constexpr (kIntScale) {
            acc[j][0] += p[j][0] * s0; acc[j][1] += p[j][1] * s1;
            acc[j][2] += p[j][2] * s0; acc[j][3] += p[j][3] * s1;
          } else {
            acc[j][0] = __fmaf_rn((float)p[j][0], s0, acc[j][0]); acc[j][1] = __fmaf_rn((float)p[j][1], s1, acc[j][1]);
            acc[j][2] = __fmaf_rn((float)p[j][2], s0, acc[j][2]); acc[j][3] = __fmaf_rn((float)p[j][3], s1, acc[j][3]);
          }
#pragma unroll
          for (int i = 0; i < 4; ++i) p[j][i] = 0;
        }
      }
      if (c + kStages < c_end) {
        load_b(c + kStages, frag[st]);
        load_a(c + kStages, frag[st]);
      }
    }
  }

  IS_TL_MARK(threadIdx.x == 0, kTlKernel, kTlMark, y);  // timeline build: warp 0's K loop done
  // The epilogue's factors of this thread's outputs, gathered before any is
  // used: rows r and r + 8 (sa_v), columns 2t and 2t + 1 of each n8 tile
  // (c_v, b_v), at clamped indices, so that every load is unconditional.
  // Loaded inside the guarded per-output loop below they compiled to one
  // branch per output, each waiting for its own round trip to L2 before the
  // next output's loads were issued (SASS of v23's 8-row kernel: 4 serial
  // trips at M <= 8, 8 at M = 9-16; the bias's too in every kernel). The
  // global loads (sa and C in the N-split blocks, the bias in all; the
  // K-split blocks have sa and C in shared memory, kEpiSmem) are issued by
  // the warp that finishes (warp 0 of a K-split block) before the
  // reduction's barrier, so that they are in flight while the others finish.
  float sa_v[2] = {}, c_v[kNT][2] = {}, b_v[kNT][2] = {};
  constexpr int kRowHalves = kRows16 ? 2 : 1;  // rows r + 8 hold tokens only in 16-row blocks
  auto load_global_factors = [&] {
    if constexpr (!kEpiSmem) {  // (the fused blocks are K-split: their sa is fused_sa)
#pragma unroll
      for (int h = 0; h < kRowHalves; ++h) sa_v[h] = ld_produced(sa + min(m0 + r + 8 * h, M - 1));
    }
    if constexpr (kIntScale && !kEpiSmem) {
#pragma unroll
      for (int j = 0; j < kNT; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h) c_v[j][h] = __ldg(C + col[j][h]);
    }
    if (bias != nullptr) {
#pragma unroll
      for (int j = 0; j < kNT; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h) b_v[j][h] = to_float(bias[col[j][h]]);
    }
  };
  // The factors in shared memory: fused_sa (written before the K loop) and,
  // with kEpiSmem, epi_sa / epi_c (after the cp.async wait below).
  auto load_smem_factors = [&] {
    if constexpr (kFusedQuant) {
#pragma unroll
      for (int h = 0; h < kRowHalves; ++h) sa_v[h] = fused_sa[min(r + 8 * h, M - 1)];
    } else if constexpr (kEpiSmem) {
#pragma unroll
      for (int h = 0; h < kRowHalves; ++h) sa_v[h] = epi_sa[r + 8 * h];
    }
    if constexpr (kEpiSmem && kIntScale) {
#pragma unroll
      for (int j = 0; j < kNT; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h) c_v[j][h] = epi_c[8 * j + 2 * t + h];
    }
  };
  if (kKWarps == 1 || warp == 0) load_global_factors();
  if constexpr (kKWarps > 1) {
    // Sum the warps' partials in a fixed order (deterministic for floats too); warp 0 finishes.
    __shared__ Acc<kIntScale> part[kKWarps][kNT * 4][32];
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) part[warp][j * 4 + i][lane] = acc[j][i];
    __syncthreads();
    IS_TL_MARK(threadIdx.x == 0, kTlKernel, kTlMark + 1, y);  // timeline build: every warp's partial sums in place
    if (warp != 0) return;
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        Acc<kIntScale> v = part[0][j * 4 + i][lane];
#pragma unroll
        for (int w = 1; w < kKWarps; ++w) v += part[w][j * 4 + i][lane];
        acc[j][i] = v;
      }
  }

  if constexpr (kEpiSmem) {  // warp 0's copies of C and sa have landed and are visible to all its lanes
    asm volatile("cp.async.wait_all;" ::: "memory");
    __syncwarp();
  }
  load_smem_factors();
  // Fragment: acc[j][0..1] is row r, acc[j][2..3] row r + 8; columns 2t, 2t+1.
#pragma unroll
  for (int j = 0; j < kNT; ++j) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int m = m0 + r + (i >= 2 ? 8 : 0);
      const int n = n_warp + 8 * j + 2 * t + (i & 1);
      if (m >= M || n >= N) continue;
      float v;
      const float sa_m = sa_v[i >> 1];
      if constexpr (kIntScale) v = __fmul_rn(__fmul_rn(__int2float_rn(acc[j][i]), sa_m), c_v[j][i & 1]);
      else v = __fmul_rn(acc[j][i], sa_m);
      if (bias != nullptr) v = __fadd_rn(v, b_v[j][i & 1]);
      y[(size_t)m * N + n] = from_float<T>(v);
    }
  }
}

// Small M: the N-split grid would hold too few warps to keep enough weight
// bytes in flight, so split K inside the block instead.
constexpr int kKSplitWarps = 8;
// Blocks along N of the K-split grid: kNT * 8 = 16 columns each.
static int64_t k_split_blocks_n(int64_t N) { return (N + kNT * 8 - 1) / (kNT * 8); }
static bool use_k_split(int64_t M, int64_t N) {
  const int64_t n_split_blocks = ((N + kBlockN - 1) / kBlockN) * ((M + 15) / 16);
  return n_split_blocks < 2LL * sm_count();
}

// Whether the GEMM quantizes the activations itself (kFusedQuant): one row
// of at most kFusedMaxK values (16-byte loads), on a K-split grid of at most
// one wave (2 blocks per SM: every block redoes the row's maximum, so more
// blocks read X more often).
// Measured on the H100 (PERF.md, v10): fusing gains at M = 1 (4096x4096 7.8
// -> 6.7 us) and M = 2 with K = 4096, and loses once every block's two
// passes over M * K values of X from L2 outweigh the saved hand-off
// (M = 2, K = 11008: 15.0 -> 16.6 us; M = 4: up to 1.4x slower); the H100
// rule was M <= 2 with M * K <= 16384. Re-measured on the H200 (PERF.md,
// "eighth session", two runs of `bench_gemm.py --ab --variant
// IS_FUSED_QUANT=0`): fused faster only at M = 1 with K <= 8192 on a
// one-wave grid (4096x4096 6.2-6.3 against 6.9 us, 4096x8192 10.0-10.2
// against 10.4-10.6); slower at M = 2, K = 8192 (11.3-11.6 against
// 10.6-10.7), at 11008x4096 M = 1 (688 blocks: 11.2-11.5 against 11.0-11.2)
// and 4096x11008 M = 1 (13.6-13.7 against 13.3-13.6), tied at 4096x4096
// M = 2 (7.0-7.1 against 6.9-7.0). Hence this rule. IS_FUSED_QUANT=0 (read
// on every call, a measurement knob like IS_GEMM_PATH) keeps the separate
// kernel.
constexpr int64_t kFusedMaxK = 8192;

static bool use_fused_quant(const void* x, int64_t M, int64_t N, int64_t K) {
  const char* env = std::getenv("IS_FUSED_QUANT");
  if (env != nullptr && env[0] == '0') return false;
  return M == 1 && K <= kFusedMaxK && use_k_split(M, N) && k_split_blocks_n(N) <= 2LL * sm_count() &&
         K % 8 == 0 && aligned16(x) && M * fused_row_bytes(K) <= kFusedMaxSmem;
}


// Stages of the 8-row K-split kernel (M <= 8, no fused quantization): 2 up
// to K = kRows8ShallowMaxK, else 3. Measured on the H100 against v26's 4
// (PERF.md, "H100, fifteenth session", bench_results/
// h100_2026-12-02_v27_rows8_stages_ab.txt, one process, 3 rounds): at
// 4096x4096 M = 2-8 2 stages 0.876-0.924x of v26's time, 3 0.887-0.915x;
// at 4096x11008 M = 1-8 3 stages 0.961-0.978x, 2 0.965-1.005x.
constexpr int64_t kRows8ShallowMaxK = 4096;

template <typename T, bool kIntScale, int W>
static int launch_gemm_typed(const T* x, const Workspace& ws, const uint32_t* wq, const int32_t* S,
                             const float* s_float, const float* C, const T* bias, T* y, int M, int N, int K,
                             int group_size, cudaStream_t stream) {
  if ((M + 15) / 16 > 65535) return IS_ERR_BAD_SHAPE;
  if (use_k_split(M, N)) {
    dim3 grid((unsigned)k_split_blocks_n(N), (M + 15) / 16);
    const bool fused = use_fused_quant(x, M, N, K);
    auto kernel = fused    ? w4a8_gemm_kernel<T, kIntScale, W, kKSplitWarps, false, true>
                  : M <= 8 ? (K <= kRows8ShallowMaxK ? w4a8_gemm_kernel<T, kIntScale, W, kKSplitWarps, false, false, 2>
                                                     : w4a8_gemm_kernel<T, kIntScale, W, kKSplitWarps, false, false, 3>)
                           : w4a8_gemm_kernel<T, kIntScale, W, kKSplitWarps, true>;
    const size_t smem = fused ? (size_t)(M * fused_row_bytes(K)) : 0;
    IS_CUDA_TRY(launch_dependent(kernel, grid, dim3(kKSplitWarps * 32), smem, 0, stream, x, (const int8_t*)ws.xq,
                                 (const float*)ws.sa, wq, S, s_float, C, bias, y, M, N, K, group_size));
  } else {
    dim3 grid((N + kBlockN - 1) / kBlockN, (M + 15) / 16);
    IS_CUDA_TRY(launch_dependent(w4a8_gemm_kernel<T, kIntScale, W, 1, true>, grid, dim3(kWarps * 32), 0, 0, stream,
                                 x, (const int8_t*)ws.xq, (const float*)ws.sa, wq, S, s_float, C, bias, y, M, N,
                                 K, group_size));
  }
  IS_LAUNCH_CHECK();
  return 0;
}

static int check_args(const void* x, int64_t M, int64_t N, int64_t K, int group_size, const void* wq,
                      const void* workspace, size_t workspace_bytes_given) {
  if (M <= 0 || N <= 0 || K <= 0 || M > 0x7fffffff || N > 0x7fffffff || K > 0x7fffffff) return IS_ERR_BAD_SHAPE;
  if (group_size < 32 || (group_size & (group_size - 1)) || K % group_size) return IS_ERR_BAD_GROUP;
  if (workspace == nullptr || workspace_bytes_given < workspace_bytes(M, N, K)) return IS_ERR_WORKSPACE;
  if (!aligned16(wq) || !aligned16(workspace) || x == nullptr) return IS_ERR_ALIGNMENT;
  return 0;
}

// The wgmma path (sm_90a) where it applies and is the faster one. The
// environment variable IS_GEMM_PATH=mma or =wgmma (read on every call, so
// that one process can test and time both) forces a path where it can run.
static bool use_wgmma_path(int64_t M, int64_t N, int64_t K, int group_size) {
  const char* forced = std::getenv("IS_GEMM_PATH");
  if (forced != nullptr && std::strcmp(forced, "mma") == 0) return false;
  if (!wgmma_available()) return false;
  if (forced != nullptr && std::strcmp(forced, "wgmma") == 0) return wgmma_supported(M, N, K, group_size);
  return wgmma_preferred(M, N, K, group_size);
}

template <bool kIntScale>
static int run_gemm(const void* x, is_dtype_t dtype, const int32_t* wq, const int32_t* S, const float* s_float,
                    const float* C, const void* bias, void* y, int64_t M, int64_t N, int64_t K, int group_size,
                    void* workspace, size_t workspace_bytes_given, cudaStream_t stream) {
  if (int e = check_args(x, M, N, K, group_size, wq, workspace, workspace_bytes_given)) return e;
  Workspace ws = carve_workspace(workspace, M, N, K);
  if (use_wgmma_path(M, N, K, group_size)) {
    return launch_wgmma_gemm(x, ws, dtype, kIntScale, reinterpret_cast<const uint32_t*>(wq), S, s_float, C, bias, y,
                             (int)M, (int)N, (int)K, group_size, stream);
  }
  // At M = 1 with K <= 8192 on a one-wave grid the K-split GEMM quantizes X itself (use_fused_quant; no workspace traffic).
  if (!use_fused_quant(x, M, N, K))
    if (int e = launch_quantize(x, dtype, M, K, ws.xq, ws.sa, XqOrder::kNatural, stream)) return e;
  const auto* w = reinterpret_cast<const uint32_t*>(wq);
  // Chunk of 32*W k values, never larger than a group.
  const int W = group_size >= 128 ? 4 : group_size / 32;
  IS_DISPATCH_DTYPE(dtype, T, {
    const T* xt = static_cast<const T*>(x);
    const T* b = static_cast<const T*>(bias);
    T* out = static_cast<T*>(y);
    int e = W == 4 ? launch_gemm_typed<T, kIntScale, 4>(xt, ws, w, S, s_float, C, b, out, (int)M, (int)N, (int)K, group_size, stream)
          : W == 2 ? launch_gemm_typed<T, kIntScale, 2>(xt, ws, w, S, s_float, C, b, out, (int)M, (int)N, (int)K, group_size, stream)
                   : launch_gemm_typed<T, kIntScale, 1>(xt, ws, w, S, s_float, C, b, out, (int)M, (int)N, (int)K, group_size, stream);
    if (e) return e;
  });
  return 0;
}

#ifdef IS_TIMELINE
int timeline_attach_mma(void* buf, uint32_t cap) { return timeline_attach_here(buf, cap); }
#endif

}  // namespace is

extern "C" size_t is_gemm_workspace_size(int64_t M, int64_t N, int64_t K) { return is::workspace_bytes(M, N, K); }

extern "C" int is_int_scale_gemm(const void* x, is_dtype_t dtype, const int32_t* wq, const int32_t* S, const float* C,
                                 const void* bias, void* y, int64_t M, int64_t N, int64_t K, int group_size,
                                 void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  return is::run_gemm<true>(x, dtype, wq, S, nullptr, C, bias, y, M, N, K, group_size, workspace, workspace_bytes, stream);
}

extern "C" int is_float_scale_gemm(const void* x, is_dtype_t dtype, const int32_t* wq, const float* s, const void* bias,
                                   void* y, int64_t M, int64_t N, int64_t K, int group_size, void* workspace,
                                   size_t workspace_bytes, cudaStream_t stream) {
  return is::run_gemm<false>(x, dtype, wq, nullptr, s, nullptr, bias, y, M, N, K, group_size, workspace, workspace_bytes, stream);
}

extern "C" const char* is_error_string(int code) {
  switch (code) {
    case 0: return "success";
    case IS_ERR_BAD_SHAPE: return "is-export kernels: M, N and K must be positive (and fit the grid)";
    case IS_ERR_BAD_GROUP: return "is-export kernels: group_size must be a power of two >= 32 dividing K";
    case IS_ERR_BAD_DTYPE: return "is-export kernels: dtype must be float32, float16 or bfloat16";
    case IS_ERR_WORKSPACE: return "is-export kernels: workspace missing or smaller than is_gemm_workspace_size()";
    case IS_ERR_ALIGNMENT: return "is-export kernels: Wq and workspace must be 16-byte aligned";
    default: return code > 0 ? cudaGetErrorString((cudaError_t)code) : "is-export kernels: unknown error";
  }
}

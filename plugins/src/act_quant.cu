// Kernel family 1: per-token dynamic INT8 activation quantization.
//
// Contract steps 1-2 for each row m of X [M, K] (numerics: act_quant.cuh).
// xq is written in natural order, or for the wgmma GEMM permuted within
// every 128 k (see permuted_k below). One block per row; rows that fit in
// registers take one pass with 16-byte loads (quantize_rows_vec_kernel, 256
// or 512 threads: choose_quant_threads), others two passes. Each thread
// reduces its slice, warps reduce with shuffles, then every thread writes
// its slice. The same grid also makes the wgmma path's copy of the group
// scales (transpose_scales_grid), where the GEMM asks for it.
#include "act_quant.cuh"
#include "block_timeline.cuh"
#include "common.cuh"
#include "gemm_paths.h"

#include <cstdlib>

namespace is {

constexpr int kQuantThreads = 256;  // the two-pass kernel's block (the vector kernel's: choose_quant_threads)

// Position of k within its row for the wgmma GEMM (w4a8_wgmma.cu). That
// kernel hands each thread 16 consecutive weight bytes (32 k) of a row and
// feeds word s of them to k32-step s of the tile's 4 wgmma instructions:
// its even nibbles to slots 4t..4t+3 and its odd nibbles to slots
// 16+4t..16+4t+3 (t = 0..3). So step s's slot 4t + j holds actual
// k = 32t + 8s + 2j and slot 16 + 4t + j holds k = 32t + 8s + 2j + 1, and
// the activations must sit in shared memory in that slot order: within every
// 128 k, k = 32t + 8s + i goes to 32s + 16(i & 1) + 4t + i / 2.
__device__ __forceinline__ int64_t permuted_k(int64_t k) {
  const int b = (int)(k & 127);
  const int t = b >> 5, s = (b >> 3) & 3, i = b & 7;
  return (k & ~int64_t(127)) + 32 * s + 16 * (i & 1) + 4 * t + (i >> 1);
}

// max over the block of kThreads threads (exact in any order); every thread gets the result.
template <int kThreads>
__device__ __forceinline__ float block_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  __shared__ float warp_max[kThreads / 32];
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = v;
  __syncthreads();
  v = warp_max[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) v = fmaxf(v, warp_max[w]);
  return v;
}

// Sets n ints to 0, spread over the grid's threads (the wgmma path's stream-K
// counters: the GEMM that follows waits for this kernel before it uses them).
__device__ __forceinline__ void zero_ints_grid(int* p, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] = 0;
}

// The scale copy of ScaleTranspose (gemm_paths.h), spread over the grid's
// threads. Work item w = q * n + i (i fastest) copies channel i's groups
// 4q..4q+3: one 16-byte load of its row (where rows and base allow it), four
// 4-byte stores into rows 4q..4q+3 of dst, so that a warp's 32 items store
// 4 runs of 128 contiguous bytes (the loads: 32 rows of 16 bytes; the other
// half of each 32-byte sector is the item q + 1's, n items later, usually
// from L2). Otherwise one word per item (w = j * n + i).
// A thread issues the loads of kScaleBatch items before their stores: at
// M = 128 the grid has 32K threads for 28672 x 32 scales (7 items each), and
// one item at a time made 7 DRAM round trips in a row that the GEMM waited
// for (28672x4096 M = 128: 1.25x base's time on the H100; PERF.md,
// seventeenth session).
constexpr int kScaleBatch = 8;
// (32-bit indices: the host refuses a copy of 2^31 words or more,
// launch_quantize; 64-bit ones took 20 more registers.)
__device__ __forceinline__ void transpose_scales_grid(const ScaleTranspose& st) {
  const uint32_t n = st.n, g = st.g, pitch = st.pitch;
  const uint32_t first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
  const uint32_t* __restrict__ src = st.src;
  uint32_t* __restrict__ dst = st.dst;
  if (g % 4 == 0 && aligned16(src)) {
    const uint32_t items = n * (g / 4);
    for (uint32_t w0 = first; w0 < items; w0 += kScaleBatch * stride) {
      uint4 v[kScaleBatch];
#pragma unroll
      for (int b = 0; b < kScaleBatch; ++b) {
        const uint32_t w = w0 + b * stride;
        if (w < items) v[b] = __ldg(reinterpret_cast<const uint4*>(src + (size_t)(w % n) * g) + w / n);
      }
#pragma unroll
      for (int b = 0; b < kScaleBatch; ++b) {
        const uint32_t w = w0 + b * stride;
        if (w >= items) break;
        uint32_t* d = dst + (size_t)(4 * (w / n)) * pitch + w % n;
        d[0] = v[b].x;
        d[pitch] = v[b].y;
        d[2 * pitch] = v[b].z;
        d[3 * pitch] = v[b].w;
      }
    }
  } else {
    const uint32_t items = n * g;
    for (uint32_t w0 = first; w0 < items; w0 += kScaleBatch * stride) {
      uint32_t v[kScaleBatch];
#pragma unroll
      for (int b = 0; b < kScaleBatch; ++b) {
        const uint32_t w = w0 + b * stride;
        if (w < items) v[b] = __ldg(src + (size_t)(w % n) * g + w / n);
      }
#pragma unroll
      for (int b = 0; b < kScaleBatch; ++b) {
        const uint32_t w = w0 + b * stride;
        if (w >= items) break;
        dst[(size_t)(w / n) * pitch + w % n] = v[b];
      }
    }
  }
}

// General rows (any K, any alignment): two passes over the row, one element
// per thread and step.
// kCopy: the kernel also makes the scale copy (st); a template flag so that
// the kernels without it keep their registers (the copy's batch of loads took
// the 512-thread kernel from 40 to 74, which decides what shares an SM with
// a GEMM block: see choose_quant_threads).
template <typename T, bool kPermute, bool kCopy = false>
__global__ void __launch_bounds__(kQuantThreads)
quantize_rows_kernel(const T* __restrict__ x, int64_t K, int8_t* __restrict__ xq, float* __restrict__ sa,
                     int* __restrict__ zero_ints, int n_zero, const ScaleTranspose st) {
  [[maybe_unused]] constexpr uint16_t kTlKernel = timeline_kernel(kTlQuantRows, kQuantThreads);
  IS_TL_BLOCK(kTlKernel, x);  // timeline build only (block_timeline.cuh)
  allow_dependent_launch();  // the GEMM may start streaming weights now
  wait_for_prerequisite_grid();  // X is written, and the workspace read, by the kernels before this one
  IS_TL_WAIT_DONE(threadIdx.x == 0, kTlKernel, x);
  zero_ints_grid(zero_ints, n_zero);
  const int64_t m = blockIdx.x;
  const T* row = x + m * K;
  float amax = 0.f;
  // X is the previous kernel's output: coherent loads (ld_produced, common.cuh).
  for (int64_t k = threadIdx.x; k < K; k += kQuantThreads) amax = fmaxf(amax, fabsf(to_float(ld_produced(row + k))));
  amax = block_max<kQuantThreads>(amax);
  const float inv = quant_inverse_scale(amax);
  int8_t* out = xq + m * K;
  for (int64_t k = threadIdx.x; k < K; k += kQuantThreads)
    out[kPermute ? permuted_k(k) : k] = quantize_one(to_float(ld_produced(row + k)), inv);
  if (threadIdx.x == 0) sa[m] = quant_scale(amax);
  if constexpr (kCopy) transpose_scales_grid(st);
}

// Rows that fit in registers (K <= kThreads * vecs_per_thread(kThreads) * 16 / sizeof(T),
// 16-byte aligned, K a multiple of 8): one pass over global memory with
// 16-byte loads; the row stays in registers between the max and the
// quantization. Same float operations as the general kernel, so the same bits.
// kThreads: 256 or 512 (choose_quant_threads; 1024 by the knob). Rows
// spread over clusters of 2-8 blocks (maxima through DSMEM) were faster
// alone at M = 128-256 but not in the op (PERF.md, "sixth session").
constexpr int kMaxVecs = 8;
// Vectors a thread holds: 8 up to 256 threads a block, fewer in larger blocks
// (the same 2048 vectors a block: 1024 threads get 64 registers each).
constexpr int vecs_per_thread(int threads) { return threads <= 256 ? kMaxVecs : kMaxVecs * 256 / threads; }

template <typename T, bool kPermute, int kThreads, bool kCopy = false>
__global__ void __launch_bounds__(kThreads)
quantize_rows_vec_kernel(const T* __restrict__ x, int64_t K, int8_t* __restrict__ xq, float* __restrict__ sa,
                         int* __restrict__ zero_ints, int n_zero, const ScaleTranspose st) {
  [[maybe_unused]] constexpr uint16_t kTlKernel = timeline_kernel(kTlQuantVec, kThreads);
  IS_TL_BLOCK(kTlKernel, x);  // timeline build only (block_timeline.cuh)
  allow_dependent_launch();  // the GEMM may start streaming weights now
  wait_for_prerequisite_grid();  // X is written, and the workspace read, by the kernels before this one
  IS_TL_WAIT_DONE(threadIdx.x == 0, kTlKernel, x);
  zero_ints_grid(zero_ints, n_zero);
  constexpr int kN = Vec16<T>::kN;  // elements per vector: 8 (fp16/bf16) or 4 (fp32)
  const int64_t m = blockIdx.x;
  const int n_vec = (int)(K / kN);
  const uint4* row = reinterpret_cast<const uint4*>(x + m * K);
  constexpr int kVecs = vecs_per_thread(kThreads);
  Vec16<T> v[kVecs];
  float amax = 0.f;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int i = threadIdx.x + j * kThreads;
    if (i < n_vec) {
      v[j].raw = ld_produced_v4(row + i);  // X: the previous kernel's output (common.cuh)
#pragma unroll
      for (int e = 0; e < kN; ++e) amax = fmaxf(amax, fabsf(v[j].get(e)));
    }
  }
  amax = block_max<kThreads>(amax);
  const float inv = quant_inverse_scale(amax);
  int8_t* out = xq + m * K;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int i = threadIdx.x + j * kThreads;
    if (i >= n_vec) continue;
    const int64_t k0 = (int64_t)i * kN;
    if constexpr (kN == 8) {
      // 8 consecutive k = 8u..8u+7: natural order is one 8-byte store; in the
      // wgmma order the even k land on 4 consecutive bytes and the odd k on
      // the 4 bytes 16 further (permuted_k), two 4-byte stores.
      uint32_t even = 0, odd = 0;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        even |= (uint32_t)(uint8_t)quantize_one(v[j].get(2 * e), inv) << (8 * e);
        odd |= (uint32_t)(uint8_t)quantize_one(v[j].get(2 * e + 1), inv) << (8 * e);
      }
      if constexpr (kPermute) {
        const int64_t p = permuted_k(k0);  // even k0: the first even byte; the odd ones sit 16 bytes on
        *reinterpret_cast<uint32_t*>(out + p) = even;
        *reinterpret_cast<uint32_t*>(out + p + 16) = odd;
      } else {
        const uint32_t lo = __byte_perm(even, odd, 0x5140), hi = __byte_perm(even, odd, 0x7362);
        *reinterpret_cast<uint2*>(out + k0) = make_uint2(lo, hi);
      }
    } else {
#pragma unroll
      for (int e = 0; e < kN; ++e) out[kPermute ? permuted_k(k0 + e) : k0 + e] = quantize_one(v[j].get(e), inv);
    }
  }
  if (threadIdx.x == 0) sa[m] = quant_scale(amax);
  if constexpr (kCopy) transpose_scales_grid(st);  // after the row: its loads of X went out first
}

// Threads per block of the vector kernel: 512 where M <= 64, or K >= 8192
// and M <= 512; else 256. Measured on the H200, the whole op in the same
// process (PERF.md, "sixth session"; `bench_gemm.py --ab --variant
// IS_QUANT=256 --variant IS_QUANT=512`, three calls): 4096x11008 and
// 4096x14336 1.02-1.06x at M = 16-256 (but 0.97-0.98x at 4096x11008
// M = 96-128), +-1.5% at M = 384-1024 (0.99x at 1024); the K = 4096 shapes
// +0-4.5% at M <= 64 (one point -2.6%), -3..-5% at M = 96-128. Why it is
// faster is not the shorter chain of a thread (4 of a 14336-long row's
// 16-byte vectors instead of 7): the same 512 threads held to 32 registers
// measured as 256 threads. What differs is residency: a block of 512 x 40
// registers does not fit an SM beside a 64-token GEMM block (384 x 128 of
// the 64K registers), 256 x 48 and 512 x 32 do, and with programmatic
// dependent launch that decides which kernel's blocks take the SMs first
// between the previous GEMM, this kernel and the next GEMM.
// IS_QUANT=256|512|1024 (read on every call, a measurement knob like
// IS_GEMM_PATH) forces a block size.
constexpr int kQuantLongRowK = 8192;
constexpr int64_t kQuantWideMaxM = 64, kQuantWideMaxMLongRow = 512;
static int choose_quant_threads(int64_t M, int64_t K) {
  if (const char* env = std::getenv("IS_QUANT")) return std::atoi(env);
  return M <= kQuantWideMaxM || (K >= kQuantLongRowK && M <= kQuantWideMaxMLongRow) ? 512 : 256;
}

// The instantiated vector kernel for a block size, or nullptr.
template <typename T, bool kPermute, bool kCopy = false>
static auto quant_kernel(int threads) -> decltype(&quantize_rows_vec_kernel<T, kPermute, 256>) {
  switch (threads) {
    case 256: return quantize_rows_vec_kernel<T, kPermute, 256, kCopy>;
    case 512: return quantize_rows_vec_kernel<T, kPermute, 512, kCopy>;
    case 1024: return quantize_rows_vec_kernel<T, kPermute, 1024, kCopy>;
    default: return nullptr;
  }
}

// Host launcher shared with the GEMM entry points (no argument checks here).
int launch_quantize(const void* x, is_dtype_t dtype, int64_t M, int64_t K, int8_t* xq, float* sa, XqOrder order,
                    cudaStream_t stream, int* zero_ints, int n_zero, const ScaleTranspose& st) {
  if (order == XqOrder::kWgmmaPermuted && K % 128) return IS_ERR_BAD_SHAPE;
  IS_DISPATCH_DTYPE(dtype, T, {
    const T* xt = static_cast<const T*>(x);
    const bool perm = order == XqOrder::kWgmmaPermuted;
    int threads = choose_quant_threads(M, K);
    // The scale copy rides only on the wgmma order's kernels (ScaleTranspose).
    const bool copy = st.n > 0;
    if (copy && (!perm || (int64_t)st.pitch * st.g >= (int64_t(1) << 31))) return IS_ERR_BAD_SHAPE;
    auto kernel = copy ? quant_kernel<T, true, true>(threads) : perm ? quant_kernel<T, true>(threads) : quant_kernel<T, false>(threads);
    if (kernel == nullptr) return IS_ERR_BAD_SHAPE;  // IS_QUANT named a block size that is not built
    // Rows that do not fit the registers (or are not 16-byte vectors): the two-pass kernel.
    if (!(aligned16(x) && K % 8 == 0 && K <= (int64_t)threads * vecs_per_thread(threads) * Vec16<T>::kN)) {
      kernel = copy ? quantize_rows_kernel<T, true, true> : perm ? quantize_rows_kernel<T, true> : quantize_rows_kernel<T, false>;
      threads = kQuantThreads;
    }
    IS_CUDA_TRY(launch_dependent(kernel, dim3((unsigned)M), dim3((unsigned)threads), 0, 0, stream, xt, K, xq, sa,
                                 zero_ints, n_zero, st));
  });
  IS_LAUNCH_CHECK();
  return 0;
}

}  // namespace is

extern "C" int is_quantize_activations(const void* x, is_dtype_t dtype, int64_t M, int64_t K, int8_t* xq,
                                       float* sa, cudaStream_t stream) {
  if (M <= 0 || K <= 0) return IS_ERR_BAD_SHAPE;
  if (M > 0x7fffffff) return IS_ERR_BAD_SHAPE;  // one block per row
  return is::launch_quantize(x, dtype, M, K, xq, sa, is::XqOrder::kNatural, stream);
}

#ifdef IS_TIMELINE
int is::timeline_attach_act_quant(void* buf, uint32_t cap) { return timeline_attach_here(buf, cap); }

// The timeline library's one extra entry point: point every kernel file's
// events at buf ([uint32 count, 3 pad, TimelineEvent[cap]]; nullptr stops).
extern "C" int is_timeline_attach(void* buf, uint32_t cap) {
  for (auto attach : {is::timeline_attach_act_quant, is::timeline_attach_mma, is::timeline_attach_wgmma})
    if (int e = attach(buf, cap)) return e;
  return 0;
}
#endif

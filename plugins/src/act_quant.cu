// Kernel family 1: per-token dynamic INT8 activation quantization.
//
// Contract steps 1-2, for one row m of X [M, K]:
//   amax = max_k |float(X[m,k])|
//   amax == 0: xq = 0, sa = 0
//   else inv = 127 / amax (one float32 division), xq = clamp(rint(X * inv), -127, 127),
//        sa = amax / 127
// xq is written in natural order, or for the wgmma GEMM permuted within
// every 128 k (see permuted_k below). One block per row: each thread reduces a strided slice, warps reduce with
// shuffles, then every thread writes its slice. All float operations use the
// explicitly rounded intrinsics (__fdiv_rn, __fmul_rn, __float2int_rn = round
// half to even) so that the result matches the NumPy reference bit for bit.
#include "common.cuh"
#include "gemm_paths.h"

namespace is {

constexpr int kQuantThreads = 256;

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

template <typename T, bool kPermute>
__global__ void __launch_bounds__(kQuantThreads)
quantize_rows_kernel(const T* __restrict__ x, int64_t K, int8_t* __restrict__ xq, float* __restrict__ sa) {
  allow_dependent_launch();  // the GEMM may start streaming weights now
  const int64_t m = blockIdx.x;
  const T* row = x + m * K;
  float amax = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += kQuantThreads) amax = fmaxf(amax, fabsf(to_float(row[k])));
  // max is exact in any order, so the reduction order does not matter.
  for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
  __shared__ float warp_max[kQuantThreads / 32];
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = amax;
  __syncthreads();
  amax = warp_max[0];
#pragma unroll
  for (int w = 1; w < kQuantThreads / 32; ++w) amax = fmaxf(amax, warp_max[w]);

  const float inv = amax > 0.f ? __fdiv_rn(127.f, amax) : 0.f;
  int8_t* out = xq + m * K;
  for (int64_t k = threadIdx.x; k < K; k += kQuantThreads) {
    int q = __float2int_rn(__fmul_rn(to_float(row[k]), inv));
    out[kPermute ? permuted_k(k) : k] = (int8_t)max(-127, min(127, q));
  }
  if (threadIdx.x == 0) sa[m] = __fdiv_rn(amax, 127.f);
}

// Host launcher shared with the GEMM entry points (no argument checks here).
int launch_quantize(const void* x, is_dtype_t dtype, int64_t M, int64_t K, int8_t* xq, float* sa, XqOrder order,
                    cudaStream_t stream) {
  if (order == XqOrder::kWgmmaPermuted && K % 128) return IS_ERR_BAD_SHAPE;
  IS_DISPATCH_DTYPE(dtype, T, {
    if (order == XqOrder::kWgmmaPermuted)
      quantize_rows_kernel<T, true><<<(unsigned)M, kQuantThreads, 0, stream>>>(static_cast<const T*>(x), K, xq, sa);
    else
      quantize_rows_kernel<T, false><<<(unsigned)M, kQuantThreads, 0, stream>>>(static_cast<const T*>(x), K, xq, sa);
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

// Kernel family 1: per-token dynamic INT8 activation quantization.
//
// Contract steps 1-2, for one row m of X [M, K]:
//   amax = max_k |float(X[m,k])|
//   amax == 0: xq = 0, sa = 0
//   else inv = 127 / amax (one float32 division), xq = clamp(rint(X * inv), -127, 127),
//        sa = amax / 127
// One block per row: each thread reduces a strided slice, warps reduce with
// shuffles, then every thread writes its slice. All float operations use the
// explicitly rounded intrinsics (__fdiv_rn, __fmul_rn, __float2int_rn = round
// half to even) so that the result matches the NumPy reference bit for bit.
#include "common.cuh"

namespace is {

constexpr int kQuantThreads = 256;

template <typename T>
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
    out[k] = (int8_t)max(-127, min(127, q));
  }
  if (threadIdx.x == 0) sa[m] = __fdiv_rn(amax, 127.f);
}

// Host launcher shared with the GEMM entry points (no argument checks here).
int launch_quantize(const void* x, is_dtype_t dtype, int64_t M, int64_t K, int8_t* xq, float* sa,
                    cudaStream_t stream) {
  IS_DISPATCH_DTYPE(dtype, T,
    quantize_rows_kernel<T><<<(unsigned)M, kQuantThreads, 0, stream>>>(static_cast<const T*>(x), K, xq, sa));
  IS_LAUNCH_CHECK();
  return 0;
}

}  // namespace is

extern "C" int is_quantize_activations(const void* x, is_dtype_t dtype, int64_t M, int64_t K, int8_t* xq,
                                       float* sa, cudaStream_t stream) {
  if (M <= 0 || K <= 0) return IS_ERR_BAD_SHAPE;
  if (M > 0x7fffffff) return IS_ERR_BAD_SHAPE;  // one block per row
  return is::launch_quantize(x, dtype, M, K, xq, sa, stream);
}

// The per-token activation quantization's numerics (contract steps 1-2), one
// home for the quantization kernel (act_quant.cu) and the GEMM that
// quantizes its own activations (w4a8_gemm.cu: room for M <= 4 rows, used at M = 1):
//   amax = max_k |float(X[m,k])|
//   amax == 0: xq = 0, sa = 0
//   else inv = 127 / amax (one float32 division), xq = clamp(rint(X * inv), -127, 127),
//        sa = amax / 127
// All float operations use the explicitly rounded intrinsics (__fdiv_rn,
// __fmul_rn, __float2int_rn = round half to even) so that the result matches
// the NumPy reference bit for bit; max is exact in any order.
#pragma once

#include "common.cuh"

namespace is {

// 127 / amax, or 0 for an all-zero row.
__device__ __forceinline__ float quant_inverse_scale(float amax) { return amax > 0.f ? __fdiv_rn(127.f, amax) : 0.f; }

// sa = amax / 127, the row's dequantization scale.
__device__ __forceinline__ float quant_scale(float amax) { return __fdiv_rn(amax, 127.f); }

__device__ __forceinline__ int8_t quantize_one(float v, float inv) {
  const int q = __float2int_rn(__fmul_rn(v, inv));
  return (int8_t)max(-127, min(127, q));
}

template <typename T>
struct Vec16 {  // 16 bytes of T
  static constexpr int kN = 16 / sizeof(T);
  uint4 raw;
  __device__ __forceinline__ float get(int i) const { return to_float(reinterpret_cast<const T*>(&raw)[i]); }
};

}  // namespace is

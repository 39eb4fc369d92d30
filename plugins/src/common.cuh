// Shared helpers of the kernel files: dtype conversion, CUDA error checks,
// workspace layout. Every conversion and float operation names its rounding
// (_rn) so that --use_fast_math or FMA contraction cannot change the numbers
// the contract fixes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "is_kernels.h"

// Return the CUDA error of `call` (as int) from the enclosing function.
#define IS_CUDA_TRY(call)                              \
  do {                                                 \
    cudaError_t is_err_ = (call);                      \
    if (is_err_ != cudaSuccess) return (int)is_err_;   \
  } while (0)

// After a launch: the launch error, if any.
#define IS_LAUNCH_CHECK() IS_CUDA_TRY(cudaGetLastError())

namespace is {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

constexpr size_t kAlign = 256;
__host__ __device__ inline size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Workspace layout: [xq int8 M*K][sa float M], each part 256-byte aligned.
struct Workspace {
  int8_t* xq;
  float* sa;
};

inline size_t workspace_bytes(int64_t M, int64_t /*N*/, int64_t K) {
  return align_up((size_t)M * K) + align_up((size_t)M * sizeof(float));
}

inline Workspace carve_workspace(void* base, int64_t M, int64_t K) {
  char* p = static_cast<char*>(base);
  Workspace w;
  w.xq = reinterpret_cast<int8_t*>(p);
  w.sa = reinterpret_cast<float*>(p + align_up((size_t)M * K));
  return w;
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Programmatic dependent launch (sm_90+): the activation-quantization kernel
// lets the GEMM start at once; the GEMM streams its weights (which do not
// depend on the activations) and waits for the quantized activations only
// before it first reads them. Both are no-ops when the launch carries no
// programmatic dependency (older GPUs, or a plain <<<>>> launch).
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_prerequisite_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Whether the current device runs programmatic dependent launch (sm_90+).
inline bool has_pdl() {
  static int major = -1;
  if (major < 0) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
      major = 0;
  }
  return major >= 9;
}

// Streaming multiprocessors of the current device.
inline int sm_count() {
  static int count = 0;
  if (count == 0) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      count = 1;
  }
  return count;
}

}  // namespace is

// Launch one of three instantiations of `kernel_tmpl<T>` by runtime dtype.
#define IS_DISPATCH_DTYPE(dtype, T, ...)                          \
  switch (dtype) {                                                \
    case IS_DTYPE_F32: { using T = float; __VA_ARGS__; break; }  \
    case IS_DTYPE_F16: { using T = __half; __VA_ARGS__; break; } \
    case IS_DTYPE_BF16: { using T = __nv_bfloat16; __VA_ARGS__; break; } \
    default: return IS_ERR_BAD_DTYPE;                             \
  }
